r"""Multi-marginal interpolation: exact-OT maps chained through every training snapshot, one spline
per chained cell path (training-free, as in multi-marginal flow matching; Rohbeck et al., ICLR 2025).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.interpolate import CubicSpline, PchipInterpolator

from .baselines import OT_CAP, exact_plan
from .metrics import subsample

#: the spline through each chained path: natural cubic or monotone piecewise-cubic Hermite (PCHIP)
SPLINES: tuple[str, ...] = ("cubic", "pchip")


def chained_paths(snapshots: list[np.ndarray], n: int, rng: np.random.Generator, *, cap: int | None = OT_CAP) -> np.ndarray:
    r"""``n`` cell paths through the snapshots, each step drawn from the exact OT plan: (K + 1, n, d).

    With :math:`P^{(k)}` the exact plan between uniform weights on snapshots :math:`k` and
    :math:`k + 1` (each first subsampled to at most ``cap`` cells; :func:`~wf_sc.benchmark.baselines.exact_plan`),
    a path starts at a uniformly drawn cell :math:`i_0` of the first snapshot and continues

    .. math:: P(i_{k+1} = j \mid i_k) = P^{(k)}_{i_k j} \big/ \textstyle\sum_{j'} P^{(k)}_{i_k j'},

    so the points at time :math:`k` are distributed as snapshot :math:`k` (a Markov chain of the
    pairwise plans).
    """
    if len(snapshots) < 2:
        raise ValueError(f"need at least two snapshots, got {len(snapshots)}")
    xs = [np.asarray(subsample(x, cap, rng), dtype=np.float64) for x in snapshots]
    idx = rng.choice(len(xs[0]), size=n, replace=n > len(xs[0]))
    path = [xs[0][idx]]
    for a, b in zip(xs[:-1], xs[1:]):
        cum = np.cumsum(exact_plan(a, b)[idx], axis=1)
        u = rng.random(n) * cum[:, -1]
        idx = np.minimum((cum <= u[:, None]).sum(1), len(b) - 1)  # first j with cum_j > u (skips zero mass)
        path.append(b[idx])
    return np.stack(path)


def multimarginal(
    snapshots: list[np.ndarray],
    times: np.ndarray,
    t: float,
    n: int,
    rng: np.random.Generator,
    *,
    spline: Literal["cubic", "pchip"] = "cubic",
) -> np.ndarray:
    r"""Cells at time ``t``: each chained path (:func:`chained_paths`) evaluated by its spline: (n, d).

    ``spline="cubic"``: the natural cubic spline through :math:`(t_k, x_{i_k})`; ``"pchip"``: the
    monotone PCHIP interpolant, which never overshoots the path's points coordinate by coordinate.
    With two snapshots both are exact-OT displacement interpolation.
    """
    if spline not in SPLINES:
        raise ValueError(f"unknown spline {spline!r}, known are {list(SPLINES)}")
    times = np.asarray(times, dtype=np.float64)
    paths = chained_paths(snapshots, n, rng)
    if spline == "cubic":
        f = CubicSpline(times, paths, axis=0, bc_type="natural")
    else:
        f = PchipInterpolator(times, paths, axis=0)
    return np.asarray(f(float(t)))

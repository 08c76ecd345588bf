r"""The pace clock's time fraction: where a population is inside an interval if it moves as fast as
the neighbouring intervals say (a data-only piece; :mod:`wf_sc._core.pace` gives it to the model).
"""

from __future__ import annotations

import numpy as np
import ot
import torch

from .._core.pace import PaceClock
from .metrics import subsample

#: most cells per snapshot in each interval's speed (the model's ``pace_cells``)
PACE_CELLS = 512


def interval_speeds(snapshots: list[np.ndarray], tau: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r"""Mean speed over each interval, :math:`v_k = W_2(X_k, X_{k+1}) / (\tau_{k+1} - \tau_k)`: (K,).

    :math:`W_2` is exact (squared Euclidean cost, :func:`ot.emd2`) between random subsets of at most
    :data:`PACE_CELLS` cells of the two snapshots.
    """
    out = []
    for k in range(len(snapshots) - 1):
        a = np.asarray(subsample(snapshots[k], PACE_CELLS, rng), dtype=np.float64)
        b = np.asarray(subsample(snapshots[k + 1], PACE_CELLS, rng), dtype=np.float64)
        w2 = ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), ot.dist(a, b), numItermax=10_000_000)
        out.append(np.sqrt(max(w2, 0.0)) / (tau[k + 1] - tau[k]))
    return np.asarray(out)


def pace_fraction(snapshots: list[np.ndarray], times: np.ndarray, t: float, rng: np.random.Generator) -> float:
    r"""Fraction of its interval a population has travelled at ``t`` under the pace clock.

    The snapshots are standardized together (per-dimension mean and standard deviation of all
    cells), times normalized to :math:`\tau \in [0, 1]`, and with :math:`\varphi` the
    :class:`~wf_sc._core.pace.PaceClock` of the interval speeds (:func:`interval_speeds`),

    .. math:: s' = \frac{\varphi(\tau) - \tau_j}{\tau_{j+1} - \tau_j}, \qquad \tau_j \le \tau < \tau_{j+1}.

    With equal speeds, or two snapshots, :math:`s'` is the plain time fraction.
    """
    times = np.asarray(times, dtype=np.float64)
    allx = np.concatenate(snapshots)
    mean, scale = allx.mean(0), np.maximum(allx.std(0, ddof=1), 1e-8)
    std = [(x - mean) / scale for x in snapshots]
    tau = (times - times[0]) / (times[-1] - times[0])
    j = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2))
    u = (float(t) - times[0]) / (times[-1] - times[0])
    clock = PaceClock(torch.as_tensor(tau), torch.as_tensor(interval_speeds(std, tau, rng)))
    phi = float(clock(torch.tensor([u], dtype=torch.float64))[0])
    return (phi - tau[j]) / (tau[j + 1] - tau[j])

r"""Baseline predictors of the population at an unseen time, for the leave-one-timepoint-out benchmark.

Setting: snapshots :math:`X_{\mathrm{prev}}` at :math:`t_{\mathrm{prev}}` and
:math:`X_{\mathrm{next}}` at :math:`t_{\mathrm{next}}` bracket the held-out time :math:`t`, at the
time fraction :math:`s = (t - t_{\mathrm{prev}}) / (t_{\mathrm{next}} - t_{\mathrm{prev}})`
(:func:`time_fraction`). The pairwise predictors share one signature,
``predictor(x_prev, x_next, s, n, rng) -> (n', d)`` (numpy arrays, ``n' <= n`` only for
:func:`previous` / :func:`next_snapshot` when the snapshot is smaller than ``n``):

- :func:`previous`, :func:`next_snapshot`: the neighbouring snapshot unchanged;
- :func:`mixture`: a time-weighted mixture of the two snapshots;
- :func:`ot_interpolation`: exact-OT displacement (McCann) interpolation;
- :func:`ot_growth`: the same, with growth and death from unbalanced transport.

:data:`PREDICTORS` maps the benchmark's method names (``previous``, ``next``, ``mixture``,
``ot``, ``ot_growth``) to them.

The learned baseline, OT-CFM, is in :mod:`wf_sc.benchmark.otcfm`. Pure numpy/POT.
"""

from __future__ import annotations

import numpy as np
import ot

from .metrics import subsample

#: most cells per side of the exact plan in :func:`ot_interpolation` (memory and time ~ cap^2)
OT_CAP = 2000


def time_fraction(t_prev: float, t_next: float, t: float) -> float:
    r"""Where ``t`` lies between the neighbours.

    .. math::
        s = \frac{t - t_{\mathrm{prev}}}{t_{\mathrm{next}} - t_{\mathrm{prev}}}.

    Parameters
    ----------
    t_prev
        Time of the earlier snapshot.
    t_next
        Time of the later snapshot (``> t_prev``).
    t
        The time to predict.

    Returns
    -------
    :math:`s` (in ``[0, 1]`` for ``t_prev <= t <= t_next``).
    """
    if not t_next > t_prev:
        raise ValueError(f"need t_next > t_prev, got {t_prev} and {t_next}")
    return (float(t) - float(t_prev)) / (float(t_next) - float(t_prev))


def exact_plan(a: np.ndarray, b: np.ndarray, *, num_itermax: int = 10_000_000) -> np.ndarray:
    r"""The exact OT plan between uniform weights on the rows of ``a`` and of ``b``.

    .. math::
        P^\star = \arg\min_{P \in \Pi(\mathbf 1/n_a,\, \mathbf 1/n_b)} \sum_{ij} P_{ij}\,\lVert a_i - b_j\rVert^2

    (:func:`ot.emd` on the squared Euclidean cost :func:`ot.dist`), shape ``(n_a, n_b)``.
    """
    return ot.emd(np.full(len(a), 1.0 / len(a)), np.full(len(b), 1.0 / len(b)), ot.dist(a, b), numItermax=num_itermax)


def ot_partners(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, *, cap: int | None = OT_CAP) -> np.ndarray:
    r"""One partner in ``b`` for every row of ``a``, drawn from the exact OT plan between them.

    With :math:`P^\star` the optimal plan between uniform weights on the rows of ``a`` and of ``b``
    (first subsampled to at most ``cap`` cells) for the squared Euclidean cost (:func:`exact_plan`),
    row :math:`i` gets :math:`b_j` with probability :math:`P^\star_{ij} / \sum_{j'} P^\star_{ij'}`.
    When ``b`` is ``a`` translated (and not subsampled), each row gets its own translate.

    Returns
    -------
    Array of the shape of ``a``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(subsample(b, cap, rng), dtype=np.float64)
    if len(a) == 0:
        return np.empty((0, b.shape[1]))
    plan = exact_plan(a, b)
    rows, cols = np.nonzero(plan > 0)  # row-major: each row's entries are contiguous
    cum = np.cumsum(plan[rows, cols])  # increasing; row i owns the entries start[i]:end[i]
    start = np.searchsorted(rows, np.arange(len(a)))
    end = np.searchsorted(rows, np.arange(len(a)), side="right")
    low = np.where(start > 0, cum[start - 1], 0.0)
    target = low + rng.random(len(a)) * (cum[end - 1] - low)
    pick = np.clip(np.searchsorted(cum, target, side="right"), start, end - 1)
    return b[cols[pick]]


def draw(x: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """``m`` rows of ``x``: without replacement when ``x`` has enough, else with replacement."""
    if m <= 0:
        return x[:0]
    return x[rng.choice(len(x), size=m, replace=m > len(x))]


def previous(x_prev: np.ndarray, x_next: np.ndarray, s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    r"""The earlier snapshot unchanged: :math:`\hat X_t = X_{\mathrm{prev}}` (up to ``n`` of its cells).

    Shared signature (module docstring); returns ``min(n, n_prev)`` distinct cells of ``x_prev``.
    """
    return subsample(x_prev, n, rng)


def next_snapshot(x_prev: np.ndarray, x_next: np.ndarray, s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    r"""The later snapshot unchanged: :math:`\hat X_t = X_{\mathrm{next}}` (up to ``n`` of its cells).

    Shared signature (module docstring); returns ``min(n, n_next)`` distinct cells of ``x_next``.
    """
    return subsample(x_next, n, rng)


def mixture(x_prev: np.ndarray, x_next: np.ndarray, s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    r"""Time-weighted mixture of the two snapshots.

    .. math::
        \hat p_t = (1 - s)\,p_{\mathrm{prev}} + s\,p_{\mathrm{next}}.

    ``round(s n)`` cells are drawn from ``x_next`` and the other ``n - round(s n)`` from ``x_prev``
    (without replacement when a snapshot has enough cells, else with replacement).

    Parameters
    ----------
    x_prev
        Cells at :math:`t_{\mathrm{prev}}`, shape ``(n_prev, d)``.
    x_next
        Cells at :math:`t_{\mathrm{next}}`, shape ``(n_next, d)``.
    s
        Time fraction in ``[0, 1]``.
    n
        Number of cells.
    rng
        Source of randomness.

    Returns
    -------
    Array of shape ``(n, d)``: the ``x_prev`` part first, then the ``x_next`` part.
    """
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"the time fraction must lie in [0, 1], got {s}")
    n_next = int(round(s * n))
    return np.concatenate([draw(x_prev, n - n_next, rng), draw(x_next, n_next, rng)])


def ot_interpolation(
    x_prev: np.ndarray,
    x_next: np.ndarray,
    s: float,
    n: int,
    rng: np.random.Generator,
    *,
    cap: int | None = OT_CAP,
) -> np.ndarray:
    r"""Exact-OT displacement (McCann) interpolation between the two snapshots.

    With :math:`P^\star` the optimal plan between uniform weights on :math:`x_i \in X_{\mathrm{prev}}`
    and :math:`y_j \in X_{\mathrm{next}}` for the squared Euclidean cost (:func:`ot.emd`), cells are

    .. math::
        \hat x = (1 - s)\,x_i + s\,y_j, \qquad (i, j) \sim P^\star,

    i.e. samples of the :math:`W_2` geodesic :math:`((1 - s)\,\pi_0 + s\,\pi_1)_\# P^\star` at
    constant speed. Pairs are drawn without replacement from the plan's support when it has at
    least ``n`` entries (so with equal, uncapped sizes and ``n`` cells every pair is used once),
    else with replacement.

    Parameters
    ----------
    x_prev
        Cells at :math:`t_{\mathrm{prev}}`, shape ``(n_prev, d)``.
    x_next
        Cells at :math:`t_{\mathrm{next}}`, shape ``(n_next, d)``.
    s
        Time fraction in ``[0, 1]``.
    n
        Number of cells.
    rng
        Subsampling and pair draws.
    cap
        Each snapshot is first subsampled to at most this many cells (the plan costs
        ``O(cap^2)`` memory); ``None``: no cap.

    Returns
    -------
    Array of shape ``(n, d)``.
    """
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"the time fraction must lie in [0, 1], got {s}")
    a = np.asarray(subsample(x_prev, cap, rng), dtype=np.float64)
    b = np.asarray(subsample(x_next, cap, rng), dtype=np.float64)
    return displaced_pairs(a, b, exact_plan(a, b), s, n, rng)


def displaced_pairs(
    a: np.ndarray, b: np.ndarray, plan: np.ndarray, s: float, n: int, rng: np.random.Generator
) -> np.ndarray:
    r"""``n`` cells :math:`(1 - s)\,a_i + s\,b_j` with pairs :math:`(i, j)` drawn in proportion to
    ``plan`` (without replacement when its support has at least ``n`` entries)."""
    rows, cols = np.nonzero(plan > 0)
    mass = plan[rows, cols] / plan[rows, cols].sum()
    pick = rng.choice(len(rows), size=n, replace=n > len(rows), p=mass)
    return (1.0 - s) * a[rows[pick]] + s * b[cols[pick]]


def ot_growth(
    x_prev: np.ndarray,
    x_next: np.ndarray,
    s: float,
    n: int,
    rng: np.random.Generator,
    *,
    cap: int | None = OT_CAP,
) -> np.ndarray:
    r"""Exact-OT interpolation in which cells divide and die instead of crossing between states.

    Each earlier cell :math:`x_i` first gets its number of descendants over the interval,
    :math:`e^{g_i} = n\,(\pi 1)_i` from unbalanced transport to the later snapshot
    (:func:`wf_sc._core.growth.growth_rates`, with the interval as time unit). The exact plan
    :math:`P^\star` then couples the grown population (weights :math:`\propto e^{g_i}`) to the later
    one, and a pair carries, at fraction :math:`s`, the share of the descendants born by then:

    .. math:: \hat x = (1 - s)\,x_i + s\,y_j, \qquad (i, j) \sim P^\star_{ij}\, e^{-(1 - s) g_i},

    so :math:`s = 0` gives the earlier snapshot and :math:`s = 1` the later one. Same signature and
    ``cap`` as :func:`ot_interpolation`.
    """
    import torch

    from .._core.growth import growth_rates

    if not 0.0 <= s <= 1.0:
        raise ValueError(f"the time fraction must lie in [0, 1], got {s}")
    a = np.asarray(subsample(x_prev, cap, rng), dtype=np.float64)
    b = np.asarray(subsample(x_next, cap, rng), dtype=np.float64)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    g = growth_rates(torch.as_tensor(a), torch.as_tensor(b), 1.0, max_cells=len(a) + len(b), generator=gen).numpy()
    grown = np.exp(g - g.max())
    plan = ot.emd(grown / grown.sum(), np.full(len(b), 1.0 / len(b)), ot.dist(a, b), numItermax=10_000_000)
    return displaced_pairs(a, b, plan * np.exp(-(1.0 - s) * g)[:, None], s, n, rng)


PREDICTORS = {"previous": previous, "next": next_snapshot, "mixture": mixture, "ot": ot_interpolation,
              "ot_growth": ot_growth}


def ot_bend(
    x_prev: np.ndarray,
    x_next: np.ndarray,
    s: float,
    n: int,
    rng: np.random.Generator,
    *,
    bend: np.ndarray,
) -> np.ndarray:
    r"""Exact-OT interpolation shifted by the bend of the snapshot means' spline.

    .. math:: \hat x = (1 - s)\,x_i + s\,y_j + b, \qquad (i, j) \sim P^\star,

    with :math:`b` the part of the natural spline through all training snapshots' means that lies
    across the chord of this interval (:func:`wf_sc.benchmark.mean_path.mean_path_bend`). It gives
    OT interpolation the same data-only piece a spline-bent prediction would use.
    """
    return ot_interpolation(x_prev, x_next, s, n, rng) + np.asarray(bend, dtype=np.float64)

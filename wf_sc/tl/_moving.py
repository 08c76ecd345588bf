"""Moving cells along a fitted WeightFlow, on arrays: observed cells to one time (what
``wf.tl.interpolate`` predicts) or to a grid of times (the paths of ``wf.tl.trajectories``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .._core.growth import growth_rates
from .._core.objectives import optimal_assignment, squared_distances
from .._core.score import sde_step
from ._model import WeightFlow

#: Euler-Maruyama sub-steps per grid interval of a stochastic path (``sigma > 0``)
SDE_SUBSTEPS = 10


def growth_weights(
    model: WeightFlow, x: np.ndarray, t_from: float, t: float, x_prev: np.ndarray, x_next: np.ndarray,
    t_prev: float, t_next: float, rng: np.random.Generator,
) -> np.ndarray:
    r"""Weights (summing to 1) of cells ``x`` observed at ``t_from`` (``t_prev`` or ``t_next``), moved to
    ``t`` between the snapshots ``x_prev`` and ``x_next``, so that cells divide and die on the way.

    With :math:`g(a)` the growth rate of an earlier cell :math:`a` towards ``x_next`` by unbalanced
    transport (:func:`wf_sc._core.growth.growth_rates`, solved on the two snapshots), a lineage has
    mass :math:`e^{g (t - t_{\mathrm{prev}})}` at :math:`t` for each cell it had at
    :math:`t_{\mathrm{prev}}` and :math:`e^{g (t_{\mathrm{next}} - t_{\mathrm{prev}})}` at
    :math:`t_{\mathrm{next}}`, so

    .. math:: w_i \propto e^{g(x_i)(t - t_{\mathrm{prev}})} \text{ (earlier cells)}, \qquad
              w_j \propto e^{-g(a_j)(t_{\mathrm{next}} - t)} \text{ (later cells)},

    with :math:`a_j` the later cell moved back to :math:`t_{\mathrm{prev}}` by the model's transport map.
    """
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    later = t_from == t_next
    ancestors = model.transport(x, t_next, t_prev) if later else x
    g = growth_rates(torch.as_tensor(x_prev, dtype=torch.float64), torch.as_tensor(x_next, dtype=torch.float64),
                     float(t_next - t_prev), generator=gen, at=torch.as_tensor(ancestors, dtype=torch.float64)).numpy()
    log_w = -g * (t_next - t) if later else g * (t - t_prev)
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def every_cell_draw(n_pool: int, n: int, rng: np.random.Generator) -> np.ndarray:
    r"""``n`` indices into a pool of ``n_pool`` cells, each used as evenly as ``n`` allows.

    Without replacement when ``n <= n_pool``; otherwise every index :math:`\lfloor n / n_{\mathrm{pool}} \rfloor`
    times and a random :math:`n \bmod n_{\mathrm{pool}}` of them (without replacement) once more,
    in random order: the same expected counts as ``n`` draws with replacement, with no cell left out.
    """
    if n <= n_pool:
        return rng.choice(n_pool, size=n, replace=False)
    rest = rng.choice(n_pool, size=n % n_pool, replace=False)
    return rng.permutation(np.concatenate([np.tile(np.arange(n_pool), n // n_pool), rest]))


def source_cells(
    t_cells: np.ndarray,
    times: np.ndarray,
    t: float,
    n: int,
    rng: np.random.Generator,
    weigh: Callable[[np.ndarray, float, float, float], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Which observed cells to move to time ``t``, and from which time: ``(rows, from_times)``.

    Between observed times :math:`t_{\mathrm{prev}} \le t < t_{\mathrm{next}}`, with
    :math:`s = (t - t_{\mathrm{prev}}) / (t_{\mathrm{next}} - t_{\mathrm{prev}})`,
    :math:`n - \mathrm{round}(s n)` cells of :math:`t_{\mathrm{prev}}` and :math:`\mathrm{round}(s n)`
    of :math:`t_{\mathrm{next}}`, each drawn by :func:`every_cell_draw` (without replacement when
    the snapshot has enough cells; with ``weigh``, drawn with those probabilities, with replacement
    only when it has too few); outside the observed range, all from the nearest end.
    ``weigh(rows, u, t_prev, t_next)``, if given, returns the probabilities of drawing each of
    ``rows`` (the cells observed at ``u``) between two snapshots.
    """
    times = np.sort(np.asarray(times, dtype=float))
    if t <= times[0] or t >= times[-1]:
        parts = [(times[0] if t <= times[0] else times[-1], n)]
        bounds = None
    else:
        j = int(np.searchsorted(times, t, side="right")) - 1
        s = (t - times[j]) / (times[j + 1] - times[j])
        n_next = int(round(s * n))
        parts = [(times[j], n - n_next), (times[j + 1], n_next)]
        bounds = (times[j], times[j + 1])
    rows, from_times = [], []
    for u, m in parts:
        pool = np.flatnonzero(t_cells == u)
        if m > 0 and len(pool) == 0:
            raise ValueError(f"no observed cells at time {u:g} to move to {t:g}")
        if m > 0:
            p = None if weigh is None or bounds is None else weigh(pool, u, *bounds)
            pick = every_cell_draw(len(pool), m, rng) if p is None else rng.choice(len(pool), m, m > len(pool), p)
            rows.append(pool[pick])
            from_times.append(np.full(m, u))
    return np.concatenate(rows), np.concatenate(from_times)


def move_observed(
    model: WeightFlow,
    X: np.ndarray,
    t_cells: np.ndarray,
    times: np.ndarray,
    t: float,
    n: int,
    rng: np.random.Generator,
    growth: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` observed cells (rows of ``X``, observed at ``t_cells``) moved to ``t``: ``(cells, rows, from_times)``.

    The cells are chosen by :func:`source_cells` (with ``growth``, weighted by their growth on the
    way) and moved with :meth:`WeightFlow.transport`, the earlier snapshot's first.
    """
    weigh = None
    if growth:
        def weigh(rows, u, t_prev, t_next):
            return growth_weights(model, X[rows], u, t, X[t_cells == t_prev], X[t_cells == t_next], t_prev, t_next, rng)
    rows, from_times = source_cells(t_cells, times, t, n, rng, weigh)
    moved = [model.transport(X[rows[from_times == u]], float(u), t) for u in np.unique(from_times)]
    return np.concatenate(moved), rows, from_times


def spread(x: np.ndarray) -> float:
    r"""Mean squared distance of the cells ``x`` (n, d) to their centroid:

    .. math:: S(x) = \frac1n \sum_i \lVert x_i - \bar x \rVert^2
    """
    return float(((x - x.mean(0)) ** 2).sum(1).mean())


#: most cells per side of one exact assignment of :func:`optimal_pairing` (larger sets are paired in
#: random blocks of at most this many: memory and time stay bounded)
PAIRING_BLOCK = 2048


def optimal_pairing(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, block: int = PAIRING_BLOCK) -> np.ndarray:
    r"""The permutation :math:`\sigma` pairing cells ``a`` (n, d) with cells ``b`` (n, d) at least total cost:

    .. math:: \sigma = \arg\min_{\sigma} \sum_i \lVert a_i - b_{\sigma(i)} \rVert^2

    (exact, :func:`wf_sc._core.objectives.optimal_assignment` on the double-precision costs of
    :func:`wf_sc._core.objectives.squared_distances`). Above
    ``block`` cells both sides are split into the same number of random blocks of at most ``block``
    cells, and each block of ``a`` is paired exactly with its block of ``b``.
    """
    n = len(a)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("cells to pair are not all finite (the fitted flow produced NaN or inf)")
    if n > block:
        sigma = np.empty(n, dtype=int)
        parts = int(np.ceil(n / block))
        for ia, ib in zip(np.array_split(rng.permutation(n), parts), np.array_split(rng.permutation(n), parts)):
            sigma[ia] = ib[optimal_pairing(a[ia], b[ib], rng, block)]
        return sigma
    return optimal_assignment(squared_distances(torch.as_tensor(a), torch.as_tensor(b)))


def meet_observed(
    model: WeightFlow,
    X: np.ndarray,
    t_cells: np.ndarray,
    times: np.ndarray,
    t: float,
    n: int,
    rng: np.random.Generator,
    growth: bool = False,
    weight: float | None = None,
    at: float | None = None,
    keep_spread: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""``n`` cells at ``t`` where observed cells carried from both neighbouring snapshots meet:
    ``(cells, rows, from_times, partners)``: ``rows`` and ``from_times`` name the earlier cell of
    each pair, ``partners`` the row of the later one (-1 where a cell has no partner).

    Between observed times :math:`t_{\mathrm{prev}} < t < t_{\mathrm{next}}`, with
    :math:`s = (t - t_{\mathrm{prev}}) / (t_{\mathrm{next}} - t_{\mathrm{prev}})`, ``n`` cells of
    each snapshot (:func:`every_cell_draw`) are moved to ``t`` along the flow (:meth:`WeightFlow.transport`),
    :math:`a_i = T_{t_{\mathrm{prev}} \to t}(x_i)` and :math:`b_j = T_{t_{\mathrm{next}} \to t}(y_j)`,
    paired by the optimal assignment :math:`\sigma` between the two clouds (:func:`optimal_pairing`),
    and averaged:

    .. math:: \hat x_i = (1 - s)\, a_i + s\, b_{\sigma(i)} .

    Each side's error grows with how far it was carried, so each is weighted by its nearness in
    time. Where the flow does not move cells (:math:`T = \mathrm{id}`) this is exact-OT
    displacement interpolation between the two snapshots. At an observed time or outside the
    observed range it is :func:`move_observed` (no partners). With ``growth``, each side's cells
    are drawn, with replacement, with their :func:`growth_weights` at ``t``, so that cells divide
    and die on the way. ``weight`` replaces :math:`s` as the later side's share of each average,
    and ``at`` replaces ``t`` as the time both sides are carried to (``t`` still picks the two
    snapshots). With ``keep_spread``, the cells are rescaled about their centroid :math:`m` to the
    carried clouds' spread, :math:`\hat x \leftarrow m + c(\hat x - m)` with
    :math:`c^2 = ((1 - s) S(a) + s S(b)) / S(\hat x)`, :math:`S` the mean squared distance to the centroid.
    """
    times = np.sort(np.asarray(times, dtype=float))
    if not np.isfinite(t):
        raise ValueError(f"the time to predict must be finite, got {t!r}")
    if t <= times[0] or t >= times[-1] or np.any(np.abs(times - t) <= 1e-9 * (times[-1] - times[0])):
        cells, rows, from_times = move_observed(model, X, t_cells, times, t, n, rng, growth)
        return cells, rows, from_times, np.full(len(rows), -1)
    j = int(np.searchsorted(times, t, side="right")) - 1
    t_prev, t_next = float(times[j]), float(times[j + 1])
    s = (t - t_prev) / (t_next - t_prev) if weight is None else float(weight)
    if not 0 <= s <= 1 or (at is not None and not t_prev <= at <= t_next):
        raise ValueError(f"weight must lie in [0, 1] and at in [{t_prev:g}, {t_next:g}], got {weight!r} and {at!r}")
    sides = []
    for u in (t_prev, t_next):
        pool = np.flatnonzero(t_cells == u)
        if len(pool) == 0:
            raise ValueError(f"no observed cells at time {u:g} to move to {t:g}")
        p = None
        if growth:
            p = growth_weights(model, X[pool], u, t, X[t_cells == t_prev], X[t_cells == t_next], t_prev, t_next, rng)
        rows = pool[rng.choice(len(pool), size=n, p=p) if growth else every_cell_draw(len(pool), n, rng)]
        moved = model.transport(X[rows], u, t if at is None else float(at))
        sides.append((rows, np.asarray(moved, dtype=np.float64)))
    (rows, a), (later, b) = sides
    sigma = optimal_pairing(a, b, rng)
    cells = (1 - s) * a + s * b[sigma]
    if keep_spread:
        centre, target = cells.mean(0), (1 - s) * spread(a) + s * spread(b)
        cells = centre + np.sqrt(target / max(spread(cells), 1e-300)) * (cells - centre)
    return cells, rows, np.full(n, t_prev), later[sigma]


def time_grid(times: np.ndarray, n_steps: int) -> np.ndarray:
    """The fitted ``times`` with ``n_steps`` equal steps inside each interval between consecutive ones."""
    times = np.sort(np.asarray(times, dtype=float))
    inner = [np.linspace(a, b, int(n_steps) + 1)[:-1] for a, b in zip(times[:-1], times[1:])]
    return np.concatenate([*inner, times[-1:]])


def move_along(
    model: WeightFlow, x0: np.ndarray, t0: float, grid: np.ndarray, *, sigma: float = 0.0, rng=None
) -> np.ndarray:
    r"""Cells ``x0`` (n, d) at time ``t0`` moved to each time of ``grid`` at or after ``t0``: (len(grid), n, d),
    NaN at grid times before ``t0``.

    With ``sigma == 0`` each position is the model's exact transport map,
    :math:`x(t) = F_{\theta(t)}^{-1}(F_{\theta(t_0)}(x_0))` (:meth:`WeightFlow.transport`): the cell's
    path under the drift, with no solver error. With ``sigma > 0`` the paths follow the SDE
    :math:`dX = (v + \tfrac{\sigma^2}{2}\nabla\log p_t)\,dt + \sigma\,dW`, whose marginals stay on the
    fitted densities (:mod:`wf_sc._core.score`), by :data:`SDE_SUBSTEPS` Euler-Maruyama steps per grid
    interval.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    out = np.full((len(grid), len(x0), x0.shape[1]), np.nan)
    ahead = np.flatnonzero(grid >= t0 - 1e-12)
    if sigma == 0:
        for g in ahead:
            out[g] = x0 if np.isclose(grid[g], t0) else model.transport(x0, t0, float(grid[g]))
        return out
    rng = np.random.default_rng(0) if rng is None else rng
    x, t = x0.copy(), float(t0)
    for g in ahead:
        for s in np.linspace(t, grid[g], SDE_SUBSTEPS + 1)[1:] if grid[g] > t else ():
            dt = s - t
            x = sde_step(x, model.drift(x, t), model.score(x, t), sigma, dt, rng.standard_normal(x.shape))
            t = s
        out[g] = x
    return out

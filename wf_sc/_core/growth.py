"""Growth between two snapshots by unbalanced entropic optimal transport.

Snapshots fix the *proportions* of cell states, not the number of cells, so a balanced transport
explains every change in proportions by motion: a branch that proliferates draws cells from its
neighbours. Unbalanced transport lets a source cell send more or less than its own mass:

.. math:: \\pi^\\star = \\arg\\min_{\\pi \\ge 0}\\; \\langle C, \\pi\\rangle
          + \\varepsilon\\, \\mathrm{KL}(\\pi \\,\\|\\, a \\otimes b)
          + \\tau_a\\, \\mathrm{KL}(\\pi 1 \\,\\|\\, a) + \\tau_b\\, \\mathrm{KL}(\\pi^\\top 1 \\,\\|\\, b),

with ``C`` the squared distances divided by their median, source masses ``a_i = e^{g^0_i dt} / n``
(``g^0``: a prior growth rate, 0 without one) and target masses ``b_j = (sum_i a_i) / m``. The
number of descendants of source cell ``i`` is ``n (pi 1)_i`` and its growth rate
``g_i = log(n (pi 1)_i) / dt`` (Schiebinger et al., Cell 2019, whose ``epsilon = 0.05``,
``tau_a = 1``, ``tau_b = 50`` on the median-normalized cost are the defaults here).
"""

from __future__ import annotations

import math

import ot
import torch
from torch import Tensor

#: cost ceiling (in units of the median cost) keeping exp(-C / epsilon) above float64 underflow
_MAX_COST_OVER_EPS = 700.0


def _cost(squared: Tensor, scale: float, epsilon: float) -> Tensor:
    """Squared distances over ``scale``, capped so that no ``exp(-cost / epsilon)`` underflows."""
    return (squared / scale).clamp_max(_MAX_COST_OVER_EPS * epsilon)


def _median_cost(xs: Tensor, ys: Tensor, epsilon: float) -> tuple[Tensor, float]:
    """The cost between ``xs`` and ``ys`` (:func:`_cost`) in units of the median squared distance,
    and that median."""
    squared = torch.cdist(xs, ys).pow(2)
    scale = float(squared.median().clamp_min(1e-12))
    return _cost(squared, scale, epsilon), scale


def growth_rates(
    x: Tensor,
    y: Tensor,
    dt: float,
    prior: Tensor | None = None,
    *,
    epsilon: float = 0.05,
    tau: tuple[float, float] = (1.0, 50.0),
    max_cells: int = 3000,
    chunk: int = 4096,
    generator: torch.Generator | None = None,
    at: Tensor | None = None,
) -> Tensor:
    """Growth rate of every source cell ``x`` (n, d) towards the snapshot ``y`` (m, d) ``dt`` later: (n,).

    The transport is solved on at most ``max_cells`` cells of each snapshot (drawn with
    ``generator``). Every source cell, drawn or not, then gets the row mass of the Sinkhorn fixed
    point at the solved target scaling ``v``,

    .. math:: (\\pi 1)(x) = a(x)^{f}\\,\\Big(\\sum_j e^{-C(x, y_j)/\\varepsilon} a(x)\\, b_j\\, v_j\\Big)^{1-f},
              \\qquad f = \\frac{\\tau_a}{\\tau_a + \\varepsilon},

    which equals the solved plan's row sum on the drawn cells; rows are computed ``chunk`` at a
    time, so no ``n x m`` matrix is formed. ``prior`` (n,): prior growth rates ``g^0``. With ``at``
    (k, d), the rates of those points instead, as if each were one more source cell without a prior
    (the plan is still solved on ``x`` and ``y``).
    """
    if dt <= 0:
        raise ValueError(f"dt must be positive, got {dt}")
    if at is not None and prior is not None:
        raise ValueError("rates at new points (at=) take no prior")
    x, y = x.double(), y.double()
    n = len(x)
    g0 = torch.zeros(n, dtype=x.dtype) if prior is None else prior.double()
    pick_x = torch.randperm(n, generator=generator)[:max_cells]
    pick_y = torch.randperm(len(y), generator=generator)[:max_cells]
    xs, ys = x[pick_x], y[pick_y]
    n_s, m_s = len(xs), len(ys)
    log_a_all = g0 * dt - math.log(n_s)  # every source cell weighs as one drawn cell
    log_a = log_a_all[pick_x]
    log_b = torch.full((m_s,), float(torch.logsumexp(log_a, 0)) - math.log(m_s), dtype=x.dtype)
    cost, scale = _median_cost(xs, ys, epsilon)
    _, log = ot.unbalanced.sinkhorn_unbalanced(
        log_a.exp(), log_b.exp(), cost, epsilon, tau, method="sinkhorn", numItermax=5000, stopThr=1e-9, log=True
    )
    log_v = torch.as_tensor(log["logv"], dtype=x.dtype)
    f = tau[0] / (tau[0] + epsilon)
    if at is not None:  # new points weigh as one drawn cell each, without a prior
        x = at.double()
        log_a_all = torch.full((len(x),), -math.log(n_s), dtype=x.dtype)
    log_row = torch.empty(len(x), dtype=x.dtype)
    for start in range(0, len(x), chunk):
        rows = slice(start, start + chunk)
        c = _cost(torch.cdist(x[rows], ys).pow(2), scale, epsilon)
        log_kv = torch.logsumexp(-c / epsilon + log_b + log_v, dim=1) + log_a_all[rows]
        log_row[rows] = f * log_a_all[rows] + (1 - f) * log_kv
    return (log_row + math.log(n_s)) / dt


def lineage_weights(
    snapshots: list[Tensor],
    *,
    epsilon: float = 0.05,
    tau: tuple[float, float] = (1.0, 50.0),
    max_cells: int = 3000,
    generator: torch.Generator | None = None,
) -> list[tuple[Tensor, Tensor]]:
    r"""For each snapshot, at most ``max_cells`` of its cells and the share of the first snapshot's
    mass that each of them descends from: a list of ``(indices, weights)``, the weights summing to 1.

    Snapshot :math:`k + 1` inherits from snapshot :math:`k` through the unbalanced plan
    :math:`\pi` between them (module notes; uniform masses, no prior): a source cell's lineage is
    split among its descendants in proportion to the mass it sends them,

    .. math:: w^{(0)}_i = \frac{1}{n_0}, \qquad
              w^{(k+1)}_j = \sum_i \frac{\pi_{ij}}{(\pi 1)_i}\, w^{(k)}_i .

    Weighting each snapshot by :math:`w^{(k)}` removes division and death: a lineage keeps its mass,
    so the weighted snapshots differ by motion alone.
    """
    picks = [torch.randperm(len(x), generator=generator)[:max_cells] for x in snapshots]
    w = torch.full((len(picks[0]),), 1.0 / len(picks[0]), dtype=torch.float64)
    out = [(picks[0], w)]
    for k in range(len(snapshots) - 1):
        xs, ys = snapshots[k][picks[k]].double(), snapshots[k + 1][picks[k + 1]].double()
        cost, _ = _median_cost(xs, ys, epsilon)
        a = torch.full((len(xs),), 1.0 / len(xs), dtype=torch.float64)
        b = torch.full((len(ys),), 1.0 / len(ys), dtype=torch.float64)
        plan = ot.unbalanced.sinkhorn_unbalanced(a, b, cost, epsilon, tau, method="sinkhorn", numItermax=5000,
                                                 stopThr=1e-9)
        share = plan / plan.sum(1, keepdim=True).clamp_min(1e-300)
        w = share.T @ w
        w = w / w.sum()
        out.append((picks[k + 1], w))
    return out

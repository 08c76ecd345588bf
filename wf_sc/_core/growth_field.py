"""Growth learned with the density path: a growth field, split off the path by least action.

The density path ``p_tau`` is normalized: it gives the *proportions* of cell states at every time,
and its transport drift explains every change of proportions by motion. With a relative growth
rate ``g(x, tau)`` (per unit of normalized time; the population's mean rate is free), proportions
also change because cells divide and die:

.. math:: \\partial_\\tau p + \\nabla\\cdot(p\\,u) = (g - \\bar g_\\tau)\\, p .

The same path has many such splits into motion ``u`` and growth ``g``. The growth field is the
one of least Wasserstein-Fisher-Rao action (Chizat et al. 2018; Kondratyev et al. 2016),
``int E_p[|u|^2 + delta^2 (g - gbar)^2] dtau`` with ``delta`` the population's spread at one time
(:func:`within_time_spread`: one e-fold of relative growth costs as much as moving a cell that
far), discretized between consecutive populations of the path by :func:`unbalanced_step` and
summed by :func:`growth_split`. It is trained in Stage 2 on the populations the transport action
draws, with those cells detached: the path is fitted exactly as without growth, and growth is read
off it.
"""

from __future__ import annotations

import ot
import torch
from torch import Tensor, nn


class GrowthField(nn.Module):
    """``g_psi(x, tau)``: relative growth rate at standardized cells ``x`` and normalized time ``tau``.

    A two-hidden-layer SiLU network on ``[x, tau]``. Its last layer starts near zero (weights of
    standard deviation ``1e-3``; no bias, since a rate added to every cell changes no share), so training starts from almost no growth, but not from
    exactly equal masses: there the optimal plan between two equal-size clouds is a permutation,
    whose dual potentials (the action's gradient in the masses) are not unique. Buffer
    ``spread2``: ``delta^2`` of the action (:func:`within_time_spread`, set from the data before
    Stage 2).
    """

    def __init__(self, dim: int, width: int = 64):
        super().__init__()
        self.register_buffer("spread2", torch.tensor(float(dim)))
        self.net = nn.Sequential(
            nn.Linear(dim + 1, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 1, bias=False)
        )
        nn.init.normal_(self.net[-1].weight, std=1e-3)

    def forward(self, x: Tensor, tau: Tensor) -> Tensor:
        """Rates (n,) of cells ``x`` (n, d) at one time ``tau`` (a scalar tensor) or one per cell (n,)."""
        t = torch.as_tensor(tau, dtype=x.dtype, device=x.device).reshape(-1, 1).expand(len(x), 1)
        return self.net(torch.cat([x, t], dim=1)).squeeze(1)


def within_time_spread(snapshots: list[Tensor]) -> float:
    """``delta^2``: the mean over snapshots of ``E|x - E x|^2`` within each (standardized cells)."""
    return float(torch.stack([((x - x.mean(0)) ** 2).sum(1).mean() for x in snapshots]).mean())


def lineage_masses(g: Tensor, dtau: Tensor) -> Tensor:
    """Share of the population descending from each of ``n`` equally weighted cells ``dtau`` later.

    .. math:: a_i = \\frac{e^{g_i\\,\\Delta\\tau}}{\\sum_j e^{g_j\\,\\Delta\\tau}}
    """
    return torch.softmax(g.double() * dtau.double(), dim=0)


def unbalanced_step(x: Tensor, y: Tensor, g: Tensor, dtau: Tensor, dtau_motion: Tensor, spread2: Tensor) -> Tensor:
    """Wasserstein-Fisher-Rao action of one step of the path.

    .. math:: A = \\frac{W_2^2\\big(\\textstyle\\sum_i a_i \\delta_{x_i},\\;
              \\frac1n \\sum_j \\delta_{y_j}\\big)}{\\Delta\\tau_{\\mathrm{motion}}}
              + \\delta^2\\, \\Delta\\tau\\, \\mathrm{Var}_i(g_i),

    with ``a`` the lineage masses (:func:`lineage_masses`) of the cells ``x`` (n, d) of population
    ``m`` and ``y`` (n, d) those of population ``m + 1``: motion carries the grown population to the
    next; ``spread2`` is ``delta^2`` (:func:`within_time_spread`). ``dtau_motion`` is the step in the clock the motion is
    measured in (the pace clock, or ``dtau``). Exact OT (POT ``emd2``); the gradient reaches ``x``,
    ``y`` and ``g`` (through the plan's cost and its dual potentials).
    """
    a = lineage_masses(g, dtau)
    b = torch.full((len(y),), 1.0 / len(y), dtype=torch.float64, device=y.device)
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).double()
    w2 = ot.emd2(a, b, cost, numItermax=1_000_000).to(x.dtype)
    return w2 / dtau_motion + spread2 * dtau * g.var(unbiased=False)


def growth_split(growth: GrowthField, populations) -> Tensor:
    """The growth field's action on a path's populations, per coordinate; gradients reach ``growth`` only.

    .. math:: G = \\frac1d \\sum_m A_m(x^m, x^{m+1}, g_\\psi(x^m, \\tau_m)),

    with :math:`A_m` the :func:`unbalanced_step` between the detached cells of consecutive
    populations (:class:`wf_sc._core.objectives.Populations`; growth in normalized time, motion in
    the populations' clock).
    """
    cells, tau, clock = populations.cells.detach(), populations.tau, populations.clock
    total = 0.0
    for m in range(len(tau) - 1):
        step, step_motion = (tau[m + 1] - tau[m]).abs(), (clock[m + 1] - clock[m]).abs().clamp_min(1e-12)
        rates = growth(cells[m], tau[m])
        total = total + unbalanced_step(cells[m], cells[m + 1], rates, step, step_motion, growth.spread2)
    return total / cells.shape[-1]

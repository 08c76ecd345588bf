"""Growth learned with the density path: a growth field and the unbalanced step of Stage 2's action.

The density path ``p_tau`` is normalized: it gives the *proportions* of cell states at every time.
A balanced path explains every change of proportions by motion. With a relative growth rate
``g(x, tau)`` (per unit of normalized time, mean over the population free), proportions also
change because cells divide and die:

.. math:: \\partial_\\tau p + \\nabla\\cdot(p\\,u) = (g - \\bar g_\\tau)\\, p .

Among the splits of the same path into motion ``u`` and growth ``g``, Stage 2 prefers the one of
least Wasserstein-Fisher-Rao action (Chizat et al. 2018; Kondratyev et al. 2016),
``int E_p[|u|^2 + delta^2 (g - gbar)^2] dtau`` with ``delta`` the population's spread at one time
(:func:`within_time_spread`: one e-fold of relative growth costs as much as moving a cell that far), and
discretizes it between consecutive populations ``p_m`` and ``p_{m+1}`` of the path by
:func:`unbalanced_step`. The growth field is trained jointly with the vector field, so the
path itself is shaped by the unbalanced action (:func:`wf_sc._core.objectives.population_ot_action`).
"""

from __future__ import annotations

import ot
import torch
from torch import Tensor, nn


class GrowthField(nn.Module):
    """``g_psi(x, tau)``: relative growth rate at standardized cells ``x`` and normalized time ``tau``.

    A two-hidden-layer SiLU network on ``[x, tau]``. Its last layer starts near zero (weights of
    standard deviation ``1e-3``, no bias), so training starts from almost no growth, but not from
    exactly equal masses: there the optimal plan between two equal-size clouds is a permutation,
    whose dual potentials (the action's gradient in the masses) are not unique. Buffer
    ``spread2``: ``delta^2`` of the action (:func:`within_time_spread`, set from the data before
    Stage 2).
    """

    def __init__(self, dim: int, width: int = 64):
        super().__init__()
        self.register_buffer("spread2", torch.tensor(float(dim)))
        self.net = nn.Sequential(
            nn.Linear(dim + 1, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 1)
        )
        nn.init.normal_(self.net[-1].weight, std=1e-3)
        nn.init.zeros_(self.net[-1].bias)

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

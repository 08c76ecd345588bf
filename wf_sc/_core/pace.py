"""The pace of a population inside an anchor interval, read from the neighbouring intervals.

The ``ot_action`` term (:func:`wf_sc._core.objectives.population_ot_action`) is smallest on a path
that moves at constant speed in the time it is measured in. Two snapshots say where a population
starts and ends an interval, not how fast it leaves the first one; with ``pace="neighbours"`` the
action is measured in a warped time :math:`\\varphi` whose rate follows the speeds of the
neighbouring intervals, so a population that slows down from interval to interval is also expected
to slow down inside each interval.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .objectives import minibatch_w2

PACES = ("constant", "neighbours")


def interval_speeds(snapshots: list[Tensor], tau: Tensor, n_cells: int, generator: torch.Generator) -> Tensor:
    """Mean speed of the population over each anchor interval: (K,).

    .. math:: v_k = W_2(X_k, X_{k+1}) / (\\tau_{k+1} - \\tau_k)

    with :math:`W_2` the exact OT distance (:func:`~wf_sc._core.objectives.minibatch_w2`) between
    random subsets of at most ``n_cells`` cells of the two (standardized) snapshots.
    """

    def pick(x: Tensor) -> Tensor:
        if len(x) <= n_cells:
            return x
        return x[torch.randperm(len(x), generator=generator)[:n_cells].to(x.device)]

    out = []
    for k in range(len(snapshots) - 1):
        w2 = minibatch_w2(pick(snapshots[k]), pick(snapshots[k + 1])).clamp_min(0).sqrt()
        out.append(w2 / (tau[k + 1] - tau[k]))
    return torch.stack(out).to(tau)


class PaceClock:
    """Warped time :math:`\\varphi(\\tau)` that agrees with :math:`\\tau` at every anchor.

    The speed profile :math:`v(\\tau)` interpolates :math:`\\log v_k` (:func:`interval_speeds`)
    linearly between the interval midpoints :math:`c_k = (\\tau_k + \\tau_{k+1})/2`, constant before
    :math:`c_0` and after :math:`c_{K-1}`; inside interval :math:`k`

    .. math:: \\varphi(\\tau) = \\tau_k + (\\tau_{k+1} - \\tau_k)
              \\frac{\\int_{\\tau_k}^{\\tau} v}{\\int_{\\tau_k}^{\\tau_{k+1}} v}

    (trapezoid rule on ``per_interval`` sub-steps, linear in between). A path at constant speed in
    :math:`\\varphi` moves at a speed proportional to :math:`v(\\tau)` in :math:`\\tau`; with equal
    speeds, or a single interval, :math:`\\varphi = \\tau`.
    """

    def __init__(self, tau: Tensor, speeds: Tensor, per_interval: int = 64):
        if len(speeds) != len(tau) - 1:
            raise ValueError(f"need one speed per interval: {len(tau) - 1}, got {len(speeds)}")
        tau = tau.detach().double().cpu()
        log_v = speeds.detach().double().cpu().clamp_min(1e-12).log()
        #: equal speeds (or one interval): phi = tau, returned as given (bit for bit)
        self.identity = bool((log_v == log_v[0]).all())
        mid = (tau[:-1] + tau[1:]) / 2
        grids, phis = [], []
        for k in range(len(tau) - 1):
            g = torch.linspace(float(tau[k]), float(tau[k + 1]), per_interval + 1, dtype=torch.float64)
            v = _interp(g, mid, log_v).exp()
            cum = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum((v[1:] + v[:-1]) / 2 * g.diff(), 0)])
            grids.append(g if k == 0 else g[1:])
            phi = tau[k] + (tau[k + 1] - tau[k]) * cum / cum[-1]
            phis.append(phi if k == 0 else phi[1:])
        self.grid, self.phi = torch.cat(grids), torch.cat(phis)

    def __call__(self, t: Tensor) -> Tensor:
        """:math:`\\varphi(t)` for times inside ``[tau_0, tau_K]`` (identity outside)."""
        if self.identity:
            return t
        x = t.detach().double().cpu()
        inside = (x >= self.grid[0]) & (x <= self.grid[-1])
        return torch.where(inside, _interp(x, self.grid, self.phi), x).to(t)

    def rate(self, t: Tensor) -> Tensor:
        """:math:`d\\varphi / d\\tau` at ``t``: the slope of the piecewise-linear :math:`\\varphi` on the
        sub-step holding ``t`` (the one that starts there at a knot), 1 outside ``[tau_0, tau_K)``."""
        if self.identity:
            return torch.ones_like(t)
        x = t.detach().double().cpu()
        i = (torch.searchsorted(self.grid, x.contiguous(), right=True) - 1).clamp(0, len(self.grid) - 2)
        slope = (self.phi[i + 1] - self.phi[i]) / (self.grid[i + 1] - self.grid[i])
        inside = (x >= self.grid[0]) & (x < self.grid[-1])
        return torch.where(inside, slope, torch.ones_like(slope)).to(t)


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation of ``(xp, fp)`` at ``x``, constant beyond the ends."""
    if len(xp) == 1:
        return fp.expand(len(x)).clone()
    i = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    w = ((x - x0) / (x1 - x0)).clamp(0, 1)
    return f0 + w * (f1 - f0)

"""Integrating the weight CDE ``d theta = g_phi(theta) dZ`` on absolute (normalized) times.

Each segment is integrated on its own times: a trajectory that starts at anchor ``k`` starts at
``tau_k``, never at 0 (the reference code's bug (a), DESIGN §2.6), so ``dZ/dt`` is always read on
the right piece of the control path. The solver is torchcde's ``cdeint`` with a fixed-step method whose
steps are exactly the grid points (several per interval between anchors).
"""

from __future__ import annotations

import torch
import torchcde
from torch import Tensor

METHODS = ("rk4", "midpoint", "euler")


def interval_grid(knots: Tensor, steps: int) -> Tensor:
    """Grid with ``steps`` equal sub-steps in every interval of the ``knots`` (ascending or descending).

    .. math:: g = \\{\\kappa_j + (\\kappa_{j+1} - \\kappa_j)\\, i / n : i = 0, \\dots, n-1\\} \\cup \\{\\kappa_{last}\\}

    with :math:`n` = ``steps``; each knot is a grid point exactly, and points that round to the same
    value are kept once.
    """
    if steps < 1:
        raise ValueError("steps must be >= 1")
    pieces = [knots[:1]]
    for a, b in zip(knots[:-1], knots[1:]):
        # interior sub-steps, then the knot itself: a + (b - a) * steps / steps can miss b by one ulp,
        # which would leave a near-duplicate grid point (a step of ~1e-8)
        pieces.append(a + (b - a) * torch.arange(1, steps, dtype=knots.dtype, device=knots.device) / steps)
        pieces.append(b[None])
    # sub-steps that round to the same value (float32, a very short interval) would stop the solver
    return torch.unique_consecutive(torch.cat(pieces))


def anchor_grid(tau: Tensor, k: int, end: Tensor, steps: int) -> Tensor:
    """The integration grid from anchor ``k`` toward time ``end``, whatever else is queried on it.

    ``steps`` equal sub-steps in every anchor interval (:func:`interval_grid` on the anchors
    :math:`\\tau_k, \\tau_{k\\pm1}, \\dots`), continued past the first or last anchor with the
    sub-step of the interval there, :math:`h = |\\tau_{K} - \\tau_{K-1}| / n` (or
    :math:`|\\tau_1 - \\tau_0| / n`), and cut at the last point not beyond ``end``. A time between
    two points is reached by one partial step from the point before it
    (:meth:`~wf_sc._core.flow.WeightFlowCore.free_weights`).
    """
    forward = bool(end >= tau[k])
    if forward:
        j = min(int(torch.searchsorted(tau, end.reshape(1)).item()), len(tau) - 1)  # first anchor at or after end
        knots = tau[k : j + 1]
    else:
        j = max(int(torch.searchsorted(tau, end.reshape(1), right=True).item()) - 1, 0)  # last anchor at or before end
        knots = tau[j : k + 1].flip(0)
    grid = interval_grid(knots, steps)
    past = (end - grid[-1]) if forward else (grid[-1] - end)
    if past > 0:  # beyond the last (first) anchor
        h = (tau[-1] - tau[-2] if forward else tau[1] - tau[0]) / steps
        n = int(torch.ceil(past / h).item())
        ext = torch.arange(1, n + 1, dtype=tau.dtype, device=tau.device) * h
        grid = torch.cat([grid, grid[-1] + ext if forward else grid[-1] - ext])
    return grid[grid <= end] if forward else grid[grid >= end]


def integrate(field, path, theta0: Tensor, grid: Tensor, method: str = "midpoint") -> Tensor:
    """Solve ``d theta = g(theta) dZ`` from ``theta(grid[0]) = theta0``: states at every grid point (G, P).

    ``grid`` may decrease (backward integration to times before the start anchor). Gradients are
    exact backpropagation through the solver steps (``adjoint=False``): the adjoint's backward
    solve reads ``dZ/dtau`` on the far side of every anchor of a linear path, and its gradients
    are approximate on a fixed grid anyway; the weight state is small enough to keep every step.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}, known are {list(METHODS)}")
    if grid.numel() == 1:
        return theta0[None]
    return torchcde.cdeint(X=path, func=field, z0=theta0, t=grid, method=method, adjoint=False)


def weight_velocity(field, path, theta: Tensor, tau: Tensor) -> Tensor:
    """``d theta / d tau = g(theta) dZ/dtau`` at one state and time: (P,)."""
    return field(tau, theta) @ path.derivative(tau)


def kinetic_energy(states: Tensor, grid: Tensor, scale: Tensor) -> Tensor:
    """Discrete weight-space action ``sum_i 1/2 ||(theta_{i+1} - theta_i) / s||^2 / |dtau_i|`` / P.

    The Riemann sum of ``int 1/2 ||d theta/d tau||^2 d tau`` on the grid, per weight (normalized by
    ``s`` and averaged over the P weights).
    """
    d_theta = (states[1:] - states[:-1]) / scale
    d_tau = (grid[1:] - grid[:-1]).abs().clamp_min(1e-12)
    return 0.5 * ((d_theta**2).mean(-1) / d_tau).sum()

"""The transport (Knothe-Rosenblatt) drift of the density path.

WeightFlow gives densities ``p_theta(t)``, not velocities. The autoregressive backbone defines a
triangular map ``F_theta: x -> u``, ``u_j = F_j(x_j | x_<j; theta)``, pushing ``p_theta`` to the
uniform distribution. Holding ``u`` fixed while ``theta`` moves along ``theta(t)`` moves each cell
along ``x(t) = F_{theta(t)}^{-1}(u)``; differentiating ``F_{theta(t)}(x(t)) = u`` in ``t``:

.. math:: J_x F\\, v + J_\\theta F\\, \\dot\\theta = 0
          \\quad\\Longrightarrow\\quad
          v(x, t) = -\\,(J_x F)^{-1}\\, J_\\theta F\\, \\dot\\theta .

``J_x F`` is lower triangular with the conditional densities ``p(x_j | x_<j)`` on its diagonal, so
the solve is a forward substitution. ``v`` is exact for the model's density path (it satisfies the
continuity equation ``d_t p + div(p v) = 0``), deterministic, differentiable in ``theta`` and
``theta_dot`` (used by the population-action objective), and depends on the coordinate order.
Both Jacobian products are forward-mode (``torch.func.jvp``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backbone import GRUMDN


def transport_drift(
    backbone: GRUMDN, theta: Tensor, theta_dot: Tensor, x: Tensor, min_density: float = 1e-6
) -> Tensor:
    """``v = -(J_x F)^{-1} J_theta F theta_dot`` at cells ``x`` (n, d): (n, d).

    ``min_density`` floors the diagonal of ``J_x F`` (conditional densities) so cells far in the
    model's tails get a finite drift.
    """
    n, d = x.shape
    _, b = torch.func.jvp(lambda th: backbone.cdf(th, x), (theta,), (theta_dot,))
    # column i of every cell's J_x F at once: replicate the batch d times, tangent e_i in block i
    tangent = torch.eye(d, dtype=x.dtype, device=x.device).repeat_interleave(n, dim=0)
    _, cols = torch.func.jvp(lambda xx: backbone.cdf(theta, xx), (x.repeat(d, 1),), (tangent,))
    jac = cols.reshape(d, n, d).permute(1, 2, 0)  # jac[c, j, i] = dF_j / dx_i
    diag = torch.diagonal(jac, dim1=-2, dim2=-1)
    jac = torch.tril(jac, diagonal=-1) + torch.diag_embed(diag.clamp_min(min_density))
    return -torch.linalg.solve_triangular(jac, b[..., None], upper=False)[..., 0]

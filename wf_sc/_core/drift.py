"""The transport (Knothe-Rosenblatt) drift of the density path.

WeightFlow gives densities ``p_theta(t)``, not velocities. The autoregressive backbone defines a
triangular map ``F_theta: x -> u``, ``u_j = F_j(x_j | x_<j; theta)``, pushing ``p_theta`` to the
uniform distribution. Holding ``u`` fixed while ``theta`` moves along ``theta(t)`` moves each cell
along ``x(t) = F_{theta(t)}^{-1}(u)``; differentiating ``F_{theta(t)}(x(t)) = u`` in ``t``:

.. math:: J_x F\\, v + J_\\theta F\\, \\dot\\theta = 0
          \\quad\\Longrightarrow\\quad
          v(x, t) = -\\,(J_x F)^{-1}\\, J_\\theta F\\, \\dot\\theta .

``J_x F`` is lower triangular with the conditional densities ``p(x_j | x_<j)`` on its diagonal, so
the solve is a forward substitution, and it can ride along one forward-mode pass of the GRU:
give ``theta`` the tangent ``theta_dot`` and each consumed coordinate ``x_i`` (i < j) the tangent
``v_i`` already found; then the tangent of ``F_j`` at ``x_j`` is
``(J_theta F theta_dot)_j + sum_{i<j} (J_x F)_{ji} v_i``, and

.. math:: v_j = -\\frac{\\dot F_j}{p(x_j \\mid x_{<j})} .

Forward mode carries the tangents through the GRU and the head's linear map; the tangents of the
mixture parameters (:meth:`~wf_sc._core.backbone.GRUMDN._mixture_tangent`) and of ``F_j``
(:func:`mixture_cdf_tangent`) are written out.

One pass costs a few forward evaluations whatever ``d`` (instead of ``d + 1`` Jacobian columns).
``v`` is exact for the model's density path (it satisfies the continuity equation
``d_t p + div(p v) = 0``), deterministic, differentiable in ``theta`` and ``theta_dot`` (used by the
population-action objective), and depends on the coordinate order.
"""

from __future__ import annotations

import math

import torch
import torch.autograd.forward_ad as fwAD
from torch import Tensor

from .backbone import _LOG_SQRT_2PI, GRUMDN, _affine, mixture_log_pdf


def transport_drift(
    backbone: GRUMDN, theta: Tensor, theta_dot: Tensor, x: Tensor, min_density: float = 1e-6,
    with_log_prob: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """``v = -(J_x F)^{-1} J_theta F theta_dot`` at cells ``x`` (n, d) by forward substitution: (n, d).

    ``min_density`` floors the conditional densities (the diagonal of ``J_x F``) so cells far in
    the model's tails get a finite drift. With ``with_log_prob``, also returns the cells'
    log-density ``log p_theta(x) = sum_j log p(x_j | x_<j)`` (n,), read off the same pass (the
    conditionals' values, without their tangents), as ``(v, log_p)``.
    """
    n, d = x.shape
    # forward mode carries no tangents in inference mode: leave it for this pass (the result is a
    # plain tensor either way)
    with torch.inference_mode(False), fwAD.dual_level():
        theta, theta_dot, x = (t.clone() if t.is_inference() else t for t in (theta, theta_dot, x))
        maps = backbone.maps(fwAD.make_dual(theta, theta_dot))
        zeros = x.new_zeros(n, backbone.hidden)
        h = fwAD.make_dual(zeros, zeros)  # h_0 = 0 with tangent 0, so the first step's arithmetic is dual too
        x_prev = None
        out, log_p = [], x.new_zeros(n)
        for j in range(d):
            h = backbone._gru(maps, backbone._step_inputs(maps, x_prev, j), h)
            head, head_dot = fwAD.unpack_dual(_affine(*maps.head, h))
            params = backbone._mixture(head)
            cdf_dot, pdf = mixture_cdf_tangent(*params, *backbone._mixture_tangent(head, head_dot, params[0]), x[:, j])
            v_j = -cdf_dot / pdf.clamp_min(min_density)
            out.append(v_j)
            if with_log_prob:
                log_p = log_p + mixture_log_pdf(*params, x[:, j])
            x_prev = fwAD.make_dual(x[:, j], v_j)
    v = torch.stack(out, dim=1)
    return (v, log_p) if with_log_prob else v


def mixture_cdf_tangent(
    log_pi: Tensor, mu: Tensor, log_sigma: Tensor, log_pi_dot: Tensor, mu_dot: Tensor, log_sigma_dot: Tensor, x: Tensor
) -> tuple[Tensor, Tensor]:
    """Tangent of a 1-D Gaussian mixture's CDF at a fixed ``x`` along tangents of its parameters
    (mixture axis last), and the density there.

    .. math:: \\dot F(x) = \\sum_k \\pi_k \\Big[c_k\\,(\\log\\pi_k)' - \\varphi(z_k)
              \\Big(\\frac{\\mu_k'}{\\sigma_k} + z_k (\\log\\sigma_k)'\\Big)\\Big], \\qquad
              p(x) = \\sum_k \\pi_k \\frac{\\varphi(z_k)}{\\sigma_k},

    ``z_k = (x - mu_k) / sigma_k``, ``phi`` the standard normal density and ``c_k = Phi(z_k)``, its
    CDF, or ``c_k = Phi(z_k) - 1`` where ``F(x) > 1/2``: the same value, as
    ``sum_k pi_k (log pi_k)' = 0``, without the rounding of ``Phi = 1`` in the upper tail.
    """
    pi, inv_sigma = torch.exp(log_pi), torch.exp(-log_sigma)
    zscore = (x[..., None] - mu) * inv_sigma
    scaled = zscore / math.sqrt(2.0)
    cdf_k = 0.5 * (1 + torch.erf(scaled))
    upper = (pi * cdf_k).sum(-1, keepdim=True) > 0.5
    weight_k = torch.where(upper, -0.5 * torch.erfc(scaled), cdf_k)
    pdf_k = torch.exp(-0.5 * zscore**2 - _LOG_SQRT_2PI)
    cdf_dot = (pi * (weight_k * log_pi_dot - pdf_k * (mu_dot * inv_sigma + zscore * log_sigma_dot))).sum(-1)
    return cdf_dot, (pi * pdf_k * inv_sigma).sum(-1)

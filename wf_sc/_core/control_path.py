"""The control path ``Z(t)`` that drives the weight CDE.

The anchors ``theta_0..theta_K`` (one per observed time) are compressed to low-dimensional codes
``z_k`` by PCA of the normalized anchors; the path's channels are ``[tau, z(tau)]`` where

.. math:: \\tau = \\frac{t - t_0}{t_K - t_0} \\in [0, 1]

is the one time normalization used everywhere (spline knots *and* solver times; WeightFlow's
reference code mixes two, DESIGN §2.6 (b)). ``Z`` interpolates ``(tau_k, [tau_k, z_k])`` over the
*real* time values, fixed once built: the natural cubic spline of the paper (default), or the
piecewise-linear interpolation (both torchcde). With the linear path, the constant field ``g = B`` that Stage 2
starts from gives exactly the straight weight lines between anchors; with the cubic path it gives
a cubic spline through the anchors, which can overshoot between them.
"""

from __future__ import annotations

import torch
import torchcde
from torch import Tensor


def normalize_time(t: Tensor, t_first: float, t_last: float) -> Tensor:
    """``tau = (t - t_first) / (t_last - t_first)``."""
    return (t - t_first) / (t_last - t_first)


def anchor_scale(anchors: Tensor, floor: float = 0.1) -> tuple[Tensor, Tensor]:
    """Per-weight centre and scale of the anchors (K+1, P).

    ``c = mean_k theta_k`` and ``s = sqrt(var_k theta_k + floor^2 * mean_w var_k theta_k)``: weights
    that barely move between anchors are not blown up by a near-zero spread.
    """
    center = anchors.mean(0)
    var = anchors.var(0, unbiased=False) if anchors.shape[0] > 1 else torch.zeros_like(center)
    mean_var = var.mean().clamp_min(1e-12)
    return center, torch.sqrt(var + floor**2 * mean_var)


def anchor_codes(anchors: Tensor, center: Tensor, scale: Tensor, n_codes: int) -> Tensor:
    """PCA codes of the normalized anchors, each scaled to unit range over the anchors: (K+1, n_codes).

    ``z_k = U_k,: S`` from the SVD of ``(theta_k - c) / s``; components beyond the rank are zero.
    The sign of each component is fixed so that ``z`` increases from the first to the last anchor.
    """
    u = (anchors - center) / scale
    U, S, _ = torch.linalg.svd(u, full_matrices=False)
    codes = U[:, :n_codes] * S[:n_codes]
    if codes.shape[1] < n_codes:
        codes = torch.nn.functional.pad(codes, (0, n_codes - codes.shape[1]))
    span = codes.max(0).values - codes.min(0).values
    codes = codes / torch.where(span > 1e-8, span, torch.ones_like(span))
    sign = torch.sign(codes[-1] - codes[0])
    return codes * torch.where(sign == 0, torch.ones_like(sign), sign)


class ForwardLinearInterpolation(torchcde.LinearInterpolation):
    """torchcde's linear interpolation whose derivative at a knot is the slope of the interval
    *starting* there (right-continuous; torchcde takes the interval ending there).

    Every integration in :class:`~wf_sc._core.flow.WeightFlowCore` runs forward from an anchor,
    or backward from the first anchor, where the extrapolation uses the first interval's slope
    anyway; so a solver stage evaluated exactly at an anchor reads the slope of the interval it
    is about to cross.
    """

    def derivative(self, t):
        t = torch.as_tensor(t, dtype=self._derivs.dtype, device=self._derivs.device)
        index = (torch.bucketize(t.detach(), self._t.detach(), right=True) - 1).clamp(0, self._derivs.size(-2) - 1)
        return self._derivs[..., index, :]


#: interpolation schemes of the control path
PATHS = ("linear", "cubic")


def build_path(tau: Tensor, codes: Tensor, kind: str = "cubic"):
    """Interpolation of ``(tau_k, [tau_k, z_k])``, channels C = 1 + n_codes.

    ``kind="cubic"``: natural cubic spline (``torchcde.CubicSpline``); ``kind="linear"``:
    ``Z(tau) = Z_k + (tau - tau_k) / (tau_{k+1} - tau_k) (Z_{k+1} - Z_k)`` on each interval
    (:class:`ForwardLinearInterpolation`; ``dZ/dtau`` is constant inside each interval).
    """
    values = torch.cat([tau[:, None], codes], dim=1)
    if kind == "cubic":
        return torchcde.CubicSpline(torchcde.natural_cubic_coeffs(values, t=tau), t=tau)
    if kind == "linear":
        return ForwardLinearInterpolation(torchcde.linear_interpolation_coeffs(values, t=tau), t=tau)
    raise ValueError(f"unknown control path {kind!r}, known are {list(PATHS)}")

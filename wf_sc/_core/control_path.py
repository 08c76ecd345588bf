"""The control path ``Z(t)`` that drives the weight CDE.

The anchors ``theta_0..theta_K`` (one per observed time) are compressed to low-dimensional codes
``z_k`` by PCA of the normalized anchors; the path's channels are ``[tau, z(tau)]`` where

.. math:: \\tau = \\frac{t - t_0}{t_K - t_0} \\in [0, 1]

is the one time normalization used everywhere (spline knots *and* solver times; WeightFlow's
reference code mixes two, DESIGN §2.6 (b)). ``Z`` is the natural cubic spline (torchcde) through
``(tau_k, [tau_k, z_k])`` over the *real* time values, fixed once built.
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


def build_path(tau: Tensor, codes: Tensor) -> torchcde.CubicSpline:
    """Natural cubic spline through ``(tau_k, [tau_k, z_k])``: channels C = 1 + n_codes."""
    values = torch.cat([tau[:, None], codes], dim=1)
    coeffs = torchcde.natural_cubic_coeffs(values, t=tau)
    return torchcde.CubicSpline(coeffs, t=tau)

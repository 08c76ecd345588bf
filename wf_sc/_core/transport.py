"""Moving observed cells along the model's density path: the Knothe-Rosenblatt transport.

The drift (:mod:`wf_sc._core.drift`) moves each cell with its conditional quantiles fixed,
``x(t) = F_{theta(t)}^{-1}(u)``. Integrated from ``t_0`` to ``t_1`` this needs no ODE solver:

.. math:: x(t_1) = F_{\\theta(t_1)}^{-1}\\big(F_{\\theta(t_0)}(x(t_0))\\big),

the triangular map that pushes ``p_{theta(t_0)}`` forward to ``p_{theta(t_1)}``. Applied to the
cells observed at ``t_0`` (rather than to fresh uniform ``u``), it carries whatever the real
population has and the model's density at ``t_0`` missed, a residual in ``u``, along to ``t_1``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backbone import GRUMDN


@torch.no_grad()
def kr_transport(backbone: GRUMDN, theta_from: Tensor, theta_to: Tensor, x: Tensor) -> Tensor:
    """``F_{theta_to}^{-1}(F_{theta_from}(x))`` for cells ``x`` (n, d) in standardized units: (n, d).

    ``theta_from == theta_to`` returns ``x`` up to the root-finding tolerance of
    :meth:`~wf_sc._core.backbone.GRUMDN.quantile`.
    """
    return backbone.quantile(theta_to, backbone.cdf(theta_from, x))

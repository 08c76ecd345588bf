"""Moving observed cells along the model's density path: the Knothe-Rosenblatt transport.

The drift (:mod:`wf_sc._core.drift`) moves each cell with its conditional quantiles fixed,
``x(t) = F_{theta(t)}^{-1}(u)``. Integrated from ``t_0`` to ``t_1`` this needs no ODE solver:

.. math:: x(t_1) = F_{\\theta(t_1)}^{-1}\\big(F_{\\theta(t_0)}(x(t_0))\\big),

the triangular map that pushes ``p_{theta(t_0)}`` forward to ``p_{theta(t_1)}``. Applied to the
cells observed at ``t_0`` (rather than to fresh uniform ``u``), it carries whatever the real
population has and the model's density at ``t_0`` missed, a residual in ``u``, along to ``t_1``.

Between two observed snapshots, :func:`pin_to_observed` removes what transport alone leaves: the
cells moved all the way to the other snapshot do not land exactly on its observed cells.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .backbone import GRUMDN


@torch.no_grad()
def kr_transport(backbone: GRUMDN, theta_from: Tensor, theta_to: Tensor, x: Tensor) -> Tensor:
    """``F_{theta_to}^{-1}(F_{theta_from}(x))`` for cells ``x`` (n, d) in standardized units: (n, d).

    ``theta_from == theta_to`` returns ``x`` up to the bisection tolerance of
    :meth:`~wf_sc._core.backbone.GRUMDN.quantile`.
    """
    return backbone.quantile(theta_to, backbone.cdf(theta_from, x))


def pin_to_observed(moved: np.ndarray, moved_to_end: np.ndarray, partners: np.ndarray, u: float) -> np.ndarray:
    r"""Transported cells pinned to the observed cells at the far end of the interval.

    A cell :math:`x` observed at :math:`t_0` is moved along the model's flow to :math:`t`,
    :math:`y = T_{t_0 \to t}(x)`, and to the other observed time :math:`t_1`,
    :math:`e = T_{t_0 \to t_1}(x)`, where it is paired with an observed cell :math:`z` (by exact OT
    between all such :math:`e` and the snapshot at :math:`t_1`). The miss :math:`z - e` is removed in
    proportion to the time travelled,

    .. math::
        \hat x = y + u\,(z - e), \qquad u = \frac{t - t_0}{t_1 - t_0},

    so the path starts at the observed :math:`x` (:math:`u = 0`, :math:`y = x`), ends at the
    observed :math:`z` (:math:`u = 1`, :math:`y = e`), and keeps the model's curved motion in
    between: :math:`\hat x = (1 - u)\,x + u\,z + \big(y - (1 - u)\,x - u\,e\big)`, the
    straight line between the pair plus the model's departure from its own straight line.
    ``t_1`` may lie before ``t_0`` (cells moved backward); ``u`` is then still in ``[0, 1]``.

    Parameters
    ----------
    moved
        :math:`y`, shape ``(n, d)``.
    moved_to_end
        :math:`e`, shape ``(n, d)``.
    partners
        :math:`z`, shape ``(n, d)``.
    u
        Fraction of the interval travelled, in ``[0, 1]``.
    """
    if not 0.0 <= u <= 1.0:
        raise ValueError(f"the fraction travelled must lie in [0, 1], got {u}")
    return moved + u * (partners - moved_to_end)

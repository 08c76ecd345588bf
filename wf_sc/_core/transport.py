"""Moving observed cells along the model's density path: the Knothe-Rosenblatt transport.

The drift (:mod:`wf_sc._core.drift`) moves each cell with its conditional quantiles fixed,
``x(t) = F_{theta(t)}^{-1}(u)``. Integrated from ``t_0`` to ``t_1`` this needs no ODE solver:

.. math:: x(t_1) = F_{\\theta(t_1)}^{-1}\\big(F_{\\theta(t_0)}(x(t_0))\\big),

the triangular map that pushes ``p_{theta(t_0)}`` forward to ``p_{theta(t_1)}``. Applied to the
cells observed at ``t_0`` (rather than to fresh uniform ``u``), it carries whatever the real
population has and the model's density at ``t_0`` missed, a residual in ``u``, along to ``t_1``.

Between two observed snapshots, :func:`pin_to_observed` removes what transport alone leaves: the
cells moved all the way to the other snapshot do not land exactly on its observed cells. It keeps
the model's curved motion as each cell's departure from its straight line (:func:`departure`),
averaged over nearby cells (:func:`neighbour_mean`): in more than one dimension the triangular
map's cell-by-cell bends depend on the order of the coordinates (``docs/pinning.md``); the average
keeps the bend that neighbouring cells share.
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


#: nearest moved cells over which each cell's departure from its straight line is averaged
#: (:func:`neighbour_mean`) in the pinned prediction; 1 keeps each cell's own
CURVATURE_NEIGHBOURS = 16


def departure(start: np.ndarray, moved: np.ndarray, moved_to_end: np.ndarray, u: float) -> np.ndarray:
    r"""The model's departure from its own straight line: where each cell is, minus where a straight path would put it.

    A cell :math:`x` observed at :math:`t_0` is moved along the model's flow to :math:`t`,
    :math:`y = T_{t_0 \to t}(x)`, and to the other observed time :math:`t_1`,
    :math:`e = T_{t_0 \to t_1}(x)`. With :math:`u = (t - t_0) / (t_1 - t_0)`,

    .. math:: c = y - (1 - u)\,x - u\,e,

    zero for a model that moves every cell at constant speed along a straight line.

    Parameters
    ----------
    start
        :math:`x`, shape ``(n, d)``.
    moved
        :math:`y`, shape ``(n, d)``.
    moved_to_end
        :math:`e`, shape ``(n, d)``.
    u
        Fraction of the interval travelled, in ``[0, 1]``.
    """
    _check_fraction(u)
    return moved - (1.0 - u) * start - u * moved_to_end


def neighbour_mean(points: np.ndarray, values: np.ndarray, k: int, *, chunk: int | None = None) -> np.ndarray:
    r"""Each row's ``values`` averaged over the ``k`` nearest rows of ``points`` (itself included).

    .. math:: \bar c_i = \frac{1}{k} \sum_{j \in N_k(x_i)} c_j,

    :math:`N_k(x_i)` the indices of the :math:`k` points nearest to :math:`x_i` in Euclidean distance
    (the point itself always; ties among the others broken arbitrarily). ``k = 1`` returns
    ``values``; ``k >= n`` returns their mean in every row. Exact, by brute force: time grows as
    ``n^2``; distances are computed ``chunk`` rows at a time (memory ``chunk * n`` numbers; by
    default about 16 million).

    Parameters
    ----------
    points
        :math:`x`, shape ``(n, d)``.
    values
        :math:`c`, shape ``(n, p)``.
    k
        Number of neighbours, ``>= 1``.
    """
    if k < 1:
        raise ValueError(f"the number of neighbours must be at least 1, got {k}")
    values = np.asarray(values)
    n = len(points)
    if len(values) != n:
        raise ValueError(f"{n} points but {len(values)} values")
    if k == 1 or n == 0:
        return values.copy()
    if k >= n:
        return np.broadcast_to(values.mean(0), values.shape).copy()
    x = torch.as_tensor(np.asarray(points, dtype=np.float64))
    c = torch.as_tensor(values.astype(np.float64))
    out = torch.empty_like(c)
    chunk = chunk or max(1, 2**24 // n)
    for i in range(0, n, chunk):
        d = torch.cdist(x[i : i + chunk], x)
        # the point itself first, whatever rounding says, then the k - 1 nearest others
        d[torch.arange(len(d)), torch.arange(i, i + len(d))] = -1.0
        idx = torch.topk(d, k, largest=False, sorted=False).indices
        out[i : i + chunk] = c[idx].mean(1)
    return out.numpy().astype(values.dtype, copy=False)


def pin_to_observed(start: np.ndarray, partners: np.ndarray, curvature: np.ndarray, u: float) -> np.ndarray:
    r"""Moved cells pinned to the observed cells at both ends of the interval.

    A cell :math:`x` observed at :math:`t_0` is paired with an observed cell :math:`z` at the other
    observed time :math:`t_1` (by exact OT between the cells the model moves there and that
    snapshot) and placed on the straight line between them plus the model's curvature :math:`c`
    (:func:`departure`, or its :func:`neighbour_mean`),

    .. math::
        \hat x = (1 - u)\,x + u\,z + c, \qquad u = \frac{t - t_0}{t_1 - t_0}.

    With the cell's own :math:`c = y - (1 - u)x - ue` this is :math:`\hat x = y + u(z - e)`: the cell
    moved by the model, with the miss :math:`z - e` at :math:`t_1` removed in proportion to the time
    travelled. The path starts at the observed :math:`x` (:math:`u = 0`, :math:`c = 0`) and ends at the
    observed :math:`z` (:math:`u = 1`, :math:`c = 0`). ``t_1`` may lie before ``t_0`` (cells moved
    backward); ``u`` is then still in ``[0, 1]``.

    Parameters
    ----------
    start
        :math:`x`, shape ``(n, d)``.
    partners
        :math:`z`, shape ``(n, d)``.
    curvature
        :math:`c`, shape ``(n, d)``.
    u
        Fraction of the interval travelled, in ``[0, 1]``.
    """
    _check_fraction(u)
    return (1.0 - u) * start + u * partners + curvature


def _check_fraction(u: float) -> None:
    if not 0.0 <= u <= 1.0:
        raise ValueError(f"the fraction travelled must lie in [0, 1], got {u}")

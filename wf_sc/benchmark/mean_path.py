"""The bend of the population's mean path, read from the means of all observed snapshots.

Inside one interval, two snapshots say where the population's mean starts and ends, not which way
it bends on the way: displacement interpolation, and a path of least action, put the mean on the
chord between them. Across several intervals the snapshot means trace a curve, and its bend is
shared: on EMT 10-D the whole gap between OT interpolation and the sampling floor is the held-out
population's mean lying off that chord (``docs/mean_path.md``).

:func:`mean_path_bend` reads the bend off a natural cubic spline through the snapshot means, and
:func:`replace_mean_bend` gives it to the pinned prediction (:func:`wf_sc._core.transport.pin_to_observed`)
in place of the model's own: only the component perpendicular to the chord, so how far along the
interval the population has come (its pace) stays the model's.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

#: how the pinned prediction bends its mean off the chord: from the spline through the snapshot
#: means (``"snapshots"``, default) or as the model moves its cells (``"model"``)
MEAN_BENDS: tuple[str, ...] = ("snapshots", "model")


def chord_knots(means: np.ndarray) -> np.ndarray:
    r"""Chord-length parameters of the snapshot means :math:`\mu_0, \dots, \mu_K`: (K + 1,).

    .. math:: \ell_0 = 0, \qquad \ell_{i+1} = \ell_i + \lVert \mu_{i+1} - \mu_i \rVert

    Raises if two consecutive means coincide (no direction to bend away from).
    """
    steps = np.linalg.norm(np.diff(np.asarray(means, dtype=np.float64), axis=0), axis=1)
    if (steps <= 0).any():
        raise ValueError("two consecutive snapshot means coincide: the mean path has no chord there")
    return np.concatenate([[0.0], np.cumsum(steps)])


def mean_path_departure(means: np.ndarray, j: int, f: float) -> np.ndarray:
    r"""Departure of the snapshots' mean path from the chord of interval ``j``, at fraction ``f``: (d,).

    With :math:`m(\ell)` the natural cubic spline through the snapshot means :math:`\mu_i` at their
    chord-length parameters :math:`\ell_i` (:func:`chord_knots`),

    .. math::
        p - q, \qquad p = m\big(\ell_j + f\,(\ell_{j+1} - \ell_j)\big), \qquad
        q = (1 - f)\,\mu_j + f\,\mu_{j+1}.

    Zero at :math:`f = 0` and :math:`f = 1`, and everywhere with two snapshots (the spline through
    two points is the chord) or with means on a straight line traversed at constant chord length.

    Parameters
    ----------
    means
        Snapshot means in time order, shape ``(K + 1, d)``.
    j
        Interval, ``0 <= j < K``.
    f
        Fraction of the interval, in ``[0, 1]``.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"need the means of at least two snapshots, shape (K + 1, d); got {means.shape}")
    if not 0 <= j < len(means) - 1:
        raise ValueError(f"interval {j} out of range for {len(means)} snapshots")
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"the fraction of the interval must lie in [0, 1], got {f}")
    knots = chord_knots(means)
    if len(means) == 2:
        return np.zeros(means.shape[1])
    p = CubicSpline(knots, means, bc_type="natural")(knots[j] + f * (knots[j + 1] - knots[j]))
    return p - ((1.0 - f) * means[j] + f * means[j + 1])


def mean_path_bend(means: np.ndarray, j: int, f: float) -> np.ndarray:
    r"""Perpendicular departure of the snapshots' mean path from the chord of interval ``j``: (d,).

    The part of :func:`mean_path_departure` perpendicular to the chord direction
    :math:`a = (\mu_{j+1} - \mu_j) / \lVert \mu_{j+1} - \mu_j \rVert`,

    .. math:: b = (I - a a^\top)(p - q).

    It is zero at :math:`f = 0` and :math:`f = 1`, and zero everywhere with two snapshots or with
    means on a straight line. Parameters as for :func:`mean_path_departure`.
    """
    dev = mean_path_departure(means, j, f)
    chord = np.asarray(means, dtype=np.float64)[j + 1] - np.asarray(means, dtype=np.float64)[j]
    a = chord / np.linalg.norm(chord)
    return dev - (dev @ a) * a


def replace_mean_bend(curvature: np.ndarray, bend: np.ndarray, chord: np.ndarray) -> np.ndarray:
    r"""Cells' departures :math:`c_i` whose mean bends as ``bend`` perpendicular to ``chord``: (n, d).

    With :math:`\bar c` the mean departure and :math:`a` the unit chord direction,

    .. math:: c_i' = c_i - (I - a a^\top)\,\bar c + b,

    so the mean's component along the chord (how far the population has come) and every cell's
    difference from the mean stay as they were, and the mean's perpendicular component becomes
    :math:`b` (:func:`mean_path_bend`, itself perpendicular to :math:`a`).
    """
    curvature = np.asarray(curvature)
    a = np.asarray(chord, dtype=np.float64)
    norm = np.linalg.norm(a)
    if norm <= 0:
        raise ValueError("the chord has length zero")
    a = a / norm
    mean = curvature.mean(0).astype(np.float64)
    perp = mean - (mean @ a) * a
    return (curvature - perp + np.asarray(bend, dtype=np.float64)).astype(curvature.dtype, copy=False)

"""The bend of the population's mean path, read from the means of all training snapshots.

Inside one interval, two snapshots say where the population's mean starts and ends, not which way
it bends on the way: displacement interpolation puts the mean on the chord between them. Across
several intervals the snapshot means trace a curve; :func:`mean_path_bend` reads its bend off a
natural cubic spline through them. The benchmark's ``ot_bend`` baseline adds it to OT interpolation.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

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

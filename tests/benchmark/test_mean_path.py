"""The mean path's bend from the snapshot means (natural cubic spline, chord-length knots)."""

import numpy as np
import pytest

from wf_sc.benchmark.mean_path import chord_knots, mean_path_bend, mean_path_departure


def test_bend_of_three_means_by_hand():
    """Means (0, 0), (1, 1), (2, 0): equal chords h = sqrt(2); the natural spline's second derivative
    at the middle knot is M = 3 (y0 - 2 y1 + y2) / (2 h^2) = (0, -3/2), and half-way through the first
    interval it departs from the chord by (h^2 / 6)(xi^3 - xi) M = (0, 3/16) (xi = 1/2); removing the
    part along the chord (1, 1)/sqrt(2) leaves (-3/32, 3/32)."""
    means = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(chord_knots(means), [0.0, np.sqrt(2), 2 * np.sqrt(2)])
    np.testing.assert_allclose(mean_path_departure(means, 0, 0.5), [0.0, 3 / 16], atol=1e-12)
    np.testing.assert_allclose(mean_path_bend(means, 0, 0.5), [-3 / 32, 3 / 32], atol=1e-12)
    # the mirror image bends the mirror way
    np.testing.assert_allclose(mean_path_bend(means, 1, 0.5), [3 / 32, 3 / 32], atol=1e-12)


def test_no_bend_at_the_snapshots_on_a_line_or_with_two_means():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(5, 4))
    for j in range(4):
        for f in (0.0, 1.0):
            np.testing.assert_allclose(mean_path_bend(means, j, f), 0.0, atol=1e-12)
        b = mean_path_bend(means, j, 0.3)
        assert abs(b @ (means[j + 1] - means[j])) < 1e-12  # perpendicular to the chord
    line = np.outer([0.0, 1.0, 3.0, 3.5], [1.0, -2.0, 0.5])
    np.testing.assert_allclose(mean_path_bend(line, 1, 0.4), 0.0, atol=1e-12)
    np.testing.assert_allclose(mean_path_bend(means[:2], 0, 0.4), 0.0)


def test_bend_follows_a_circle():
    """Means on the unit circle at angles 0, 45, 90, 135 degrees, the 45 degree one left out: the
    chord's midpoint lies at radius cos(pi/4) = 0.71; the bent point lies on the same ray, more than
    half-way out to the circle (at the first interval the natural end condition, no curvature at
    the first mean, keeps it short of it)."""
    ang = np.deg2rad([0.0, 90.0, 135.0])
    means = np.stack([np.cos(ang), np.sin(ang)], 1)
    point = (means[0] + means[1]) / 2 + mean_path_bend(means, 0, 0.5)
    np.testing.assert_allclose(np.linalg.norm((means[0] + means[1]) / 2), np.cos(np.pi / 4))
    np.testing.assert_allclose(point[0], point[1], atol=1e-12)
    assert 0.85 < np.linalg.norm(point) < 1.0


def test_bad_input_is_refused():
    means = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="interval"):
        mean_path_bend(means, 2, 0.5)
    with pytest.raises(ValueError, match="fraction"):
        mean_path_bend(means, 0, 1.5)
    with pytest.raises(ValueError, match="coincide"):
        mean_path_bend(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]), 0, 0.5)
    with pytest.raises(ValueError, match="at least two"):
        mean_path_bend(means[:1], 0, 0.5)

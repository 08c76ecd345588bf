"""wf_sc.benchmark.metrics: W1, W2 and RBF-MMD on hand-computable cases."""

import numpy as np
import pytest

from wf_sc.benchmark.metrics import RELATIVE_BANDWIDTHS, median_distance, mmd_rbf, subsample, w1, w2


@pytest.fixture
def cloud():
    return np.random.default_rng(0).normal(size=(60, 3))


@pytest.mark.parametrize("dist", [w1, w2])
def test_translate_is_at_distance_of_the_shift(cloud, dist):
    """W_p(mu, mu + c) = |c|: the identity coupling attains the lower bound |E[x - y]| = |c|."""
    c = np.array([0.7, -1.2, 2.0])
    assert dist(cloud, cloud + c) == pytest.approx(np.linalg.norm(c), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("dist", [w1, w2, mmd_rbf])
def test_identical_clouds_are_at_distance_zero(cloud, dist):
    assert dist(cloud, cloud.copy()) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("dist", [w1, w2, mmd_rbf])
def test_symmetric(cloud, dist):
    other = np.random.default_rng(1).normal(loc=0.5, size=(45, 3))
    assert dist(cloud, other) == pytest.approx(dist(other, cloud), rel=1e-9)


def test_one_dimensional_sorted_matching():
    """In 1-D with equal sizes the monotone matching is optimal: W_p^p = mean |a_(i) - b_(i)|^p."""
    rng = np.random.default_rng(2)
    a, b = rng.uniform(size=40), rng.uniform(0.3, 2.0, size=40)
    gaps = np.sort(a) - np.sort(b)
    assert w2(a[:, None], b[:, None]) == pytest.approx(np.sqrt(np.mean(gaps**2)), rel=1e-9)
    assert w1(a[:, None], b[:, None]) == pytest.approx(np.mean(np.abs(gaps)), rel=1e-9)


def test_unequal_sizes_by_hand():
    """One point against two: all mass of the point is split evenly, W1 = (1 + 3)/2, W2 = sqrt((1 + 9)/2)."""
    a, b = np.array([[0.0]]), np.array([[1.0], [3.0]])
    assert w1(a, b) == pytest.approx(2.0)
    assert w2(a, b) == pytest.approx(np.sqrt(5.0))


def test_mmd_of_two_points_by_hand():
    """Single points at distance r, one bandwidth s: MMD^2 = 1 + 1 - 2 exp(-r^2 / (2 s^2))."""
    a, b = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    assert mmd_rbf(a, b, bandwidths=[2.0]) == pytest.approx(2 - 2 * np.exp(-25 / 8))
    # several bandwidths: the kernel is their mean
    expected = 2 - 2 * np.mean([np.exp(-25 / (2 * s**2)) for s in (1.0, 5.0)])
    assert mmd_rbf(a, b, bandwidths=[1.0, 5.0]) == pytest.approx(expected)


@pytest.mark.parametrize("bandwidths", [None, [0.5, 1.0, 2.0]])
def test_mmd_grows_with_the_shift(cloud, bandwidths):
    shifts = [0.1, 0.3, 0.6, 1.2, 2.5]
    values = [mmd_rbf(cloud, cloud + np.array([s, 0.0, 0.0]), bandwidths) for s in shifts]
    assert values[0] > 0
    assert all(lo < hi for lo, hi in zip(values, values[1:])), values


def test_default_bandwidths_are_relative_to_the_pooled_median(cloud):
    other = cloud + 1.0
    sigma = median_distance(np.concatenate([cloud, other])) * np.array(RELATIVE_BANDWIDTHS)
    assert mmd_rbf(cloud, other) == pytest.approx(mmd_rbf(cloud, other, sigma))
    # scale invariance of the default: scaling both clouds scales the widths too
    assert mmd_rbf(3 * cloud, 3 * other) == pytest.approx(mmd_rbf(cloud, other))


def test_median_distance_by_hand():
    # pairwise distances 1, 2, 3 -> median 2
    assert median_distance(np.array([[0.0], [1.0], [3.0]])) == pytest.approx(2.0)


def test_subsample():
    x = np.arange(20.0)[:, None]
    rng = np.random.default_rng(0)
    assert subsample(x, 50, rng) is x and subsample(x, None, rng) is x
    sub = subsample(x, 7, rng)
    assert sub.shape == (7, 1) and len(np.unique(sub)) == 7 and set(sub[:, 0]) <= set(x[:, 0])


def test_bad_input_is_refused(cloud):
    with pytest.raises(ValueError, match="different dimensions"):
        w1(cloud, cloud[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        w2(cloud, np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="bandwidths"):
        mmd_rbf(cloud, cloud, [0.0])

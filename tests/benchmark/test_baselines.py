"""wf_sc.benchmark: the pairwise predictors, OT-CFM, the pace fraction and multi-marginal splines."""

import numpy as np
import pytest

from wf_sc.benchmark.baselines import PREDICTORS, mixture, next_snapshot, ot_growth, ot_interpolation, previous, time_fraction
from wf_sc.benchmark.metrics import w1
from wf_sc.benchmark.multimarginal import chained_paths, multimarginal
from wf_sc.benchmark.otcfm import OTCFM, minibatch_ot_pairs
from wf_sc.benchmark.pace import pace_fraction




@pytest.fixture
def cloud():
    return np.random.default_rng(0).normal(size=(80, 2))


def _sorted_rows(x):
    return x[np.lexsort(x.T[::-1])]


def test_time_fraction():
    assert time_fraction(1.0, 3.0, 1.5) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        time_fraction(2.0, 2.0, 2.0)


def test_ot_interpolation_of_a_translate_is_the_half_translate(cloud):
    """The W2-optimal plan between a cloud and its translate is the identity, so s = 0.5 gives x + c/2."""
    c = np.array([3.0, -1.5])
    mid = ot_interpolation(cloud, cloud + c, 0.5, len(cloud), np.random.default_rng(0))
    np.testing.assert_allclose(_sorted_rows(mid), _sorted_rows(cloud + c / 2), atol=1e-12)
    # the end points are the snapshots themselves
    rng = np.random.default_rng(1)
    np.testing.assert_allclose(_sorted_rows(ot_interpolation(cloud, cloud + c, 0.0, 80, rng)), _sorted_rows(cloud))
    np.testing.assert_allclose(_sorted_rows(ot_interpolation(cloud, cloud + c, 1.0, 80, rng)), _sorted_rows(cloud + c))


def test_ot_meet_is_the_met_cells_of_a_flow_that_moves_nothing(cloud):
    """``ot_meet`` on a translate: all cells of each side drawn, each paired with its own translate, so
    the cells are the translate at the time's fraction; with fewer cells, the default call's
    prediction (the same seed) when its fitted flow moves nothing."""
    from wf_sc.benchmark.methods import build
    from wf_sc.benchmark.protocol import TimeCourse
    from wf_sc.benchmark.weightflow_methods import WeightFlowMethod, default_prediction

    c = np.array([3.0, -1.5])
    train = TimeCourse(np.concatenate([cloud, cloud + c]), np.repeat([0.0, 4.0], 80))
    method = build(["ot_meet"])["ot_meet"]
    mid = method.predict(train, 1.0, 80, 5, np.random.default_rng(0), {})
    np.testing.assert_allclose(_sorted_rows(mid), _sorted_rows(cloud + 0.25 * c), atol=1e-12)

    class Still:
        def transport(self, x, t_from, t_to):
            return x

    class StillFits:  # the benchmark's fit cache, handing out a fit whose flow moves nothing
        def get(self, train, seed, settings):
            return Still(), 0.0

    default = WeightFlowMethod({}, StillFits(), (default_prediction(),))
    few = method.predict(train, 3.0, 30, 7, np.random.default_rng(0), {})
    np.testing.assert_array_equal(few, default.predict(train, 3.0, 30, 7, np.random.default_rng(1), default_prediction()))
    assert few.shape == (30, 2)
    # at the pace clock's fraction: a course whose first interval moves 3 times as far per unit time
    # as the second is, at the first interval's midpoint, further along than half
    course = TimeCourse(np.concatenate([cloud, cloud + 3 * c, cloud + 4 * c]), np.repeat([0.0, 1.0, 2.0], 80))
    paced = build(["ot_meet_pace"])["ot_meet_pace"].predict(course, 0.5, 80, 5, np.random.default_rng(0), {})
    s = pace_fraction(course.snapshots(), course.times, 0.5, np.random.default_rng(0))
    assert s > 0.5
    np.testing.assert_allclose(_sorted_rows(paced), _sorted_rows(cloud + 3 * s * c), atol=1e-12)
    # with the means' bend: the same cells, all shifted by the spline's offset from the chord
    from wf_sc.benchmark.mean_path import mean_path_bend

    turned = TimeCourse(np.concatenate([cloud, cloud + c, cloud + c + [1.0, 2.0]]), np.repeat([0.0, 1.0, 2.0], 80))
    plain = build(["ot_meet"])["ot_meet"].predict(turned, 0.5, 40, 3, np.random.default_rng(0), {})
    bent = build(["ot_meet_bend"])["ot_meet_bend"].predict(turned, 0.5, 40, 3, np.random.default_rng(0), {})
    bend = mean_path_bend(np.stack([x.mean(0) for x in turned.snapshots()]), 0, 0.5)
    assert np.linalg.norm(bend) > 0.05
    np.testing.assert_allclose(bent - plain, np.broadcast_to(bend, plain.shape), atol=1e-12)


def test_ot_interpolation_sizes_and_cap(cloud):
    other = np.random.default_rng(3).normal(size=(50, 2)) + 4
    out = ot_interpolation(cloud, other, 0.3, 200, np.random.default_rng(0), cap=30)
    assert out.shape == (200, 2) and np.isfinite(out).all()
    # mean moves linearly in s under any coupling with the right marginals (no cap)
    out = ot_interpolation(cloud, other, 0.3, 2000, np.random.default_rng(0), cap=None)
    np.testing.assert_allclose(out.mean(0), 0.7 * cloud.mean(0) + 0.3 * other.mean(0), atol=0.1)


@pytest.mark.parametrize("s", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_mixture_fractions(s):
    x_prev, x_next = np.zeros((100, 1)), np.ones((60, 1))
    out = mixture(x_prev, x_next, s, 40, np.random.default_rng(0))
    assert out.shape == (40, 1)
    assert out.sum() == round(s * 40)  # number of cells drawn from x_next


def test_mixture_draws_distinct_cells_when_enough():
    x_prev, x_next = np.arange(10.0)[:, None], 100 + np.arange(10.0)[:, None]
    out = mixture(x_prev, x_next, 0.5, 10, np.random.default_rng(0))
    assert len(np.unique(out)) == 10


def test_previous_and_next_are_the_snapshots(cloud):
    other = cloud + 10
    rng = np.random.default_rng(0)
    prev = previous(cloud, other, 0.5, 30, rng)
    nxt = next_snapshot(cloud, other, 0.5, 1000, rng)
    assert prev.shape == (30, 2) and np.isin(prev, cloud).all()
    assert nxt.shape == (80, 2) and (nxt == other).all()
    assert set(PREDICTORS) == {"previous", "next", "mixture", "ot", "ot_growth"}


def test_minibatch_ot_pairs_match_a_translate(cloud):
    i, j = minibatch_ot_pairs(cloud, cloud + 5.0, np.random.default_rng(0))
    assert np.array_equal(i, j)


def test_otcfm_moves_cells_toward_the_target():
    """Translation: snapshots x at t=0 and x + c at t=2; the t=1 prediction from x is near x + c/2."""
    rng = np.random.default_rng(0)
    c = np.array([3.0, -2.0])
    x0 = rng.normal(size=(300, 2))
    x2 = rng.normal(size=(300, 2)) + c
    model = OTCFM(steps=300, batch_size=128, ode_steps=20, random_state=0).fit([x0, x2], [0.0, 2.0])
    truth = rng.normal(size=(300, 2)) + c / 2
    pred = model.predict(x0, 0.0, 1.0)
    unmoved = w1(x0, truth)
    assert unmoved > 1.5
    assert w1(pred, truth) < 0.25 * unmoved, (w1(pred, truth), unmoved)
    # same seed, same result
    again = OTCFM(steps=300, batch_size=128, ode_steps=20, random_state=0).fit([x0, x2], [0.0, 2.0])
    np.testing.assert_allclose(again.predict(x0, 0.0, 1.0), pred, rtol=1e-5, atol=1e-5)


def test_otcfm_uses_every_interval():
    """Three snapshots moving right then up: the field learns both legs (integrate 0 -> 2)."""
    rng = np.random.default_rng(1)
    base = 0.3 * rng.normal(size=(200, 2))
    snaps = [base, base + [2.0, 0.0], base + [2.0, 2.0]]
    model = OTCFM(steps=400, batch_size=64, ode_steps=30, random_state=0).fit(snaps, [0.0, 1.0, 2.0])
    end = model.predict(base, 0.0, 2.0)
    np.testing.assert_allclose(end.mean(0), [2.0, 2.0], atol=0.3)


def test_otcfm_refuses_bad_input():
    with pytest.raises(ValueError):
        OTCFM(steps=1).fit([np.zeros((5, 2))], [0.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        OTCFM().predict(np.zeros((3, 2)), 0.0, 1.0)


def test_chained_paths_follow_the_plans_of_translates(cloud):
    """Translates: every exact plan is the identity, so each path is one cell translated."""
    shifts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [3.0, 2.0]])
    paths = chained_paths([cloud + c for c in shifts], 50, np.random.default_rng(0))
    assert paths.shape == (4, 50, 2)
    np.testing.assert_allclose(paths - paths[0], np.broadcast_to(shifts[:, None, :], paths.shape), atol=1e-12)


def test_multimarginal_splines_by_hand(cloud):
    """A cloud moving along x = t^2 at times 0, 1, 2, 3: the natural cubic spline through
    (0, 0), (1, 1), (2, 4), (3, 9) at t = 1.5 is 2.2 (hand-computed: second derivatives 0, 1.2, 1.2, 0);
    PCHIP gives 2.21875 (slopes 0.4, 1.6 at the knots, 2.0 inside Fritsch-Carlson's limits)."""
    times = np.arange(4.0)
    snaps = [cloud + [t**2, 0.0] for t in times]
    rng = np.random.default_rng(0)
    cubic = multimarginal(snaps, times, 1.5, 40, rng, spline="cubic")
    pchip = multimarginal(snaps, times, 1.5, 40, rng, spline="pchip")
    from scipy.interpolate import CubicSpline, PchipInterpolator

    x_cubic = float(CubicSpline(times, times**2, bc_type="natural")(1.5))
    x_pchip = float(PchipInterpolator(times, times**2)(1.5))
    assert x_cubic == pytest.approx(2.2)
    for out, shift in ((cubic, x_cubic), (pchip, x_pchip)):
        start = out - [shift, 0.0]
        # every predicted cell is a cell of the cloud moved by the spline's shift
        d = np.abs(start[:, None, :] - cloud[None]).sum(-1).min(1)
        np.testing.assert_allclose(d, 0, atol=1e-9)
    with pytest.raises(ValueError, match="unknown spline"):
        multimarginal(snaps, times, 1.5, 4, rng, spline="akima")


def test_multimarginal_with_two_snapshots_is_displacement_interpolation(cloud):
    c = np.array([2.0, -1.0])
    for spline in ("cubic", "pchip"):
        out = multimarginal([cloud, cloud + c], np.array([0.0, 2.0]), 0.5, 80, np.random.default_rng(1), spline=spline)
        d = np.abs((out - c / 4)[:, None, :] - cloud[None]).sum(-1).min(1)
        np.testing.assert_allclose(d, 0, atol=1e-9)


def test_pace_fraction_follows_the_neighbouring_speeds(cloud):
    """Equal steps: the plain fraction. A slow first and a fast last interval: in the middle
    interval the population has moved less than its time fraction says at first."""
    rng = np.random.default_rng(0)
    times = np.array([0.0, 1.0, 2.0, 3.0])
    even = [cloud + [k, 0.0] for k in range(4)]
    assert pace_fraction(even, times, 1.5, rng) == pytest.approx(0.5, abs=1e-9)
    speeding = [cloud + [x, 0.0] for x in (0.0, 0.2, 1.2, 5.2)]
    s = pace_fraction(speeding, times, 1.5, rng)
    assert 0.2 < s < 0.5
    assert pace_fraction(even[:2], times[:2], 0.25, rng) == pytest.approx(0.25)


def _two_static_clusters(rng, share_prev, share_next, n=400):
    """Two fixed, well separated clusters whose shares change by growth alone."""
    def draw(share):
        k = int(round(share * n))
        return np.concatenate([rng.normal(size=(k, 2)) * 0.3, rng.normal(size=(n - k, 2)) * 0.3 + [6.0, 0.0]])
    return draw(share_prev), draw(share_next)


def test_ot_growth_keeps_cells_in_their_state_where_ot_moves_them_across():
    """Cluster A goes from half to a quarter of the cells by death: OT carries a quarter of the cells
    across the gap, ot_growth lets them die and puts no cell in between."""
    rng = np.random.default_rng(0)
    prev, nxt = _two_static_clusters(rng, 0.5, 0.25)
    between = lambda x: ((x[:, 0] > 1.5) & (x[:, 0] < 4.5)).mean()  # noqa: E731
    ot_mid = ot_interpolation(prev, nxt, 0.5, 2000, rng)
    growth_mid = ot_growth(prev, nxt, 0.5, 2000, rng)
    assert between(ot_mid) > 0.15
    assert between(growth_mid) < 0.02
    # the share of A moves from 1/2 towards 1/4 without crossing
    share_a = (growth_mid[:, 0] < 3).mean()
    assert 0.27 < share_a < 0.48


@pytest.mark.parametrize("s", [0.0, 1.0])
def test_ot_growth_ends_on_the_snapshots(s):
    rng = np.random.default_rng(1)
    prev, nxt = _two_static_clusters(rng, 0.5, 0.25)
    pred = ot_growth(prev, nxt, s, 3000, rng)
    target = prev if s == 0 else nxt
    assert (pred[:, 0] < 3).mean() == pytest.approx((target[:, 0] < 3).mean(), abs=0.03)

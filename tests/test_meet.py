"""The ``meet`` prediction: cells carried from both neighbouring snapshots, coupled by the exact OT
plan and averaged. Checked with stand-in flows whose transport is known exactly."""

import numpy as np
import pytest

from wf_sc.tl._moving import meet_observed


class Shift:
    """A stand-in flow: cells move by ``velocity * (t_to - t_from)`` (the identity with 0)."""

    def __init__(self, velocity):
        self.velocity = np.asarray(velocity, dtype=float)
        self.calls = []

    def transport(self, x, t_from, t_to):
        self.calls.append((len(x), t_from, t_to))
        return np.asarray(x, dtype=float) + self.velocity * (t_to - t_from)


def _snapshots(n_prev=30, n_next=30, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(size=(n_prev, d)), rng.normal(2.0, 0.5, size=(n_next, d))])
    t = np.concatenate([np.zeros(n_prev), np.full(n_next, 2.0)])
    return X, t


@pytest.mark.parametrize("n_prev, n_next, n, cap", [(30, 30, 30, 2000), (25, 40, 50, 2000), (60, 45, 20, 32)])
def test_a_flow_that_does_not_move_gives_the_cells_of_exact_ot_interpolation(n_prev, n_next, n, cap):
    """With the identity flow the met cells are the benchmark's exact-OT interpolation, draw for draw:
    every cell (up to the cap) of both snapshots, the exact plan, ``n`` pairs from its support."""
    from wf_sc.benchmark.baselines import ot_interpolation

    X, t = _snapshots(n_prev, n_next)
    s = 0.25
    flow = Shift(0.0)
    cells, rows, from_times, partners, _ = meet_observed(
        flow, X, t, np.array([0.0, 2.0]), 0.5, n, np.random.default_rng(1), cap=cap
    )
    expected = ot_interpolation(X[t == 0], X[t == 2], s, n, np.random.default_rng(1), cap=cap)
    np.testing.assert_allclose(cells, expected, atol=1e-12)
    assert flow.calls == [(min(n_prev, cap), 0.0, 0.5), (min(n_next, cap), 2.0, 0.5)]
    np.testing.assert_array_equal(from_times, 0.0)
    # each cell names its earlier cell and its later partner: the rows it was averaged from
    assert set(rows) <= set(np.flatnonzero(t == 0)) and set(partners) <= set(np.flatnonzero(t == 2))
    np.testing.assert_allclose(cells, (1 - s) * X[rows] + s * X[partners], atol=1e-12)
    if n_prev == n_next == n:  # equal sizes: the plan is a permutation and every cell is used once
        np.testing.assert_array_equal(np.sort(rows), np.flatnonzero(t == 0))
        np.testing.assert_array_equal(np.sort(partners), np.flatnonzero(t == 2))


def test_a_flow_that_carries_both_sides_onto_the_same_cells_returns_them():
    """When the forward and backward transports land on one set of points, the meeting is that set."""
    rng = np.random.default_rng(2)
    target = rng.normal(size=(20, 2))
    velocity = np.array([1.0, -0.5])
    # cells observed at 0 and at 1 that the constant drift carries exactly onto target at t = 0.4
    X = np.concatenate([target - 0.4 * velocity, target[::-1] + 0.6 * velocity])
    t = np.concatenate([np.zeros(20), np.ones(20)])
    cells, _, _, _, _ = meet_observed(Shift(velocity), X, t, np.array([0.0, 1.0]), 0.4, 20, np.random.default_rng(3))
    order = np.lexsort(cells.T)
    np.testing.assert_allclose(cells[order], target[np.lexsort(target.T)], atol=1e-10)


def test_more_cells_than_the_plan_has_pairs_repeat_pairs_and_outside_times_use_one_side():
    X, t = _snapshots(n_prev=5, n_next=7)
    flow = Shift(0.1)
    cells, rows, _, partners, distinct = meet_observed(flow, X, t, np.array([0.0, 2.0]), 1.0, 12, np.random.default_rng(0))
    assert cells.shape == (12, 3) and np.isfinite(cells).all()
    assert set(rows) <= set(np.flatnonzero(t == 0)) and set(partners) <= set(np.flatnonzero(t == 2))
    assert flow.calls == [(5, 0.0, 1.0), (7, 2.0, 1.0)]
    # the plan between 5 and 7 cells has at most 11 pairs: 12 cells repeat one
    pairs = set(zip(rows.tolist(), partners.tolist()))
    assert 7 <= distinct <= 11 and len(pairs) <= distinct
    # beyond the last time only the last snapshot is moved, as by the transport prediction
    flow.calls.clear()
    cells, rows, from_times, partners, distinct = meet_observed(flow, X, t, np.array([0.0, 2.0]), 3.0, 4,
                                                                np.random.default_rng(0))
    assert distinct == 7
    np.testing.assert_array_equal(from_times, 2.0)
    np.testing.assert_array_equal(partners, -1)
    np.testing.assert_allclose(cells, X[rows] + 0.1)
    with pytest.raises(ValueError, match="no observed cells at time 2"):
        meet_observed(flow, X[t == 0], t[t == 0], np.array([0.0, 2.0]), 1.0, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="not all finite"):
        meet_observed(Shift(np.nan), X, t, np.array([0.0, 2.0]), 1.0, 4, np.random.default_rng(0))


def test_weight_and_time_of_the_meeting_can_be_given():
    """``weight`` sets the later side's share; ``at`` the time both sides are carried to."""
    X, t = _snapshots(n_prev=10, n_next=10, d=2)
    flow = Shift([1.0, 0.0])
    cells, rows, _, partners, _ = meet_observed(flow, X, t, np.array([0.0, 2.0]), 0.5, 10, np.random.default_rng(4),
                                             weight=0.8, at=1.5)
    assert flow.calls == [(10, 0.0, 1.5), (10, 2.0, 1.5)]
    a, b = X[rows] + [1.5, 0.0], X[partners] + [-0.5, 0.0]
    np.testing.assert_allclose(cells, 0.2 * a + 0.8 * b, atol=1e-12)


def test_pairs_are_drawn_from_the_plan_in_proportion_to_its_mass():
    from wf_sc.tl._moving import plan_pairs

    plan = np.array([[0.5, 0.0, 0.0], [0.0, 0.3, 0.2]])
    i, j = plan_pairs(plan, 3, np.random.default_rng(0))  # support of 3: each pair once
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 0), (1, 1), (1, 2)]
    i, j = plan_pairs(plan, 20_000, np.random.default_rng(1))  # more than the support: by mass
    assert plan[i, j].min() > 0
    np.testing.assert_allclose([np.mean((i == 0) & (j == 0)), np.mean(j == 2)], [0.5, 0.2], atol=0.015)


def test_growth_weights_the_plan_so_dividing_cells_are_met_more_often():
    """With growth, cells of a cluster that doubles by the next time carry more of the plan's mass
    than those of one that shrinks."""
    rng = np.random.default_rng(8)
    grow, shrink = np.array([0.0, 0.0]), np.array([6.0, 0.0])
    x0 = np.concatenate([grow + 0.3 * rng.normal(size=(40, 2)), shrink + 0.3 * rng.normal(size=(40, 2))])
    x1 = np.concatenate([grow + 0.3 * rng.normal(size=(60, 2)), shrink + 0.3 * rng.normal(size=(20, 2))])
    X, t = np.concatenate([x0, x1]), np.concatenate([np.zeros(80), np.ones(80)])
    flow, times = Shift(0.0), np.array([0.0, 1.0])
    cells, rows, _, partners, _ = meet_observed(flow, X, t, times, 0.5, 200, np.random.default_rng(9))
    np.testing.assert_allclose(cells, 0.5 * X[rows] + 0.5 * X[partners], atol=1e-12)
    plain = (X[rows, 0] < 3).mean()
    _, rows_g, _, _, _ = meet_observed(flow, X, t, times, 0.5, 200, np.random.default_rng(9), growth=True)
    assert (X[rows_g, 0] < 3).mean() > plain + 0.1


def test_keep_spread_restores_the_carried_clouds_spread_about_the_same_centre():
    X, t = _snapshots(n_prev=30, n_next=30, d=3, seed=3)
    times, s = np.array([0.0, 2.0]), 0.25
    plain, rows, _, partners, _ = meet_observed(Shift(0.0), X, t, times, 0.5, 30, np.random.default_rng(2))
    kept, _, _, _, _ = meet_observed(Shift(0.0), X, t, times, 0.5, 30, np.random.default_rng(2), keep_spread=True)

    def spread(x):
        return ((x - x.mean(0)) ** 2).sum(1).mean()

    np.testing.assert_allclose(kept.mean(0), plain.mean(0), atol=1e-12)
    # the spread of the carried clouds: every cell of both snapshots
    target = (1 - s) * spread(X[t == 0]) + s * spread(X[t == 2])
    assert spread(plain) < target
    np.testing.assert_allclose(spread(kept), target, rtol=1e-10)

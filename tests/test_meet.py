"""The ``meet`` prediction: cells carried from both neighbouring snapshots, paired by exact OT and
averaged. Checked with stand-in flows whose transport is known exactly."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from wf_sc.tl._moving import every_cell_draw, meet_observed


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


def test_a_flow_that_does_not_move_gives_exact_ot_interpolation():
    """With the identity flow, meeting is displacement interpolation along the optimal assignment."""
    X, t = _snapshots()
    n, s = 30, 0.25
    cells, rows, from_times, partners = meet_observed(Shift(0.0), X, t, np.array([0.0, 2.0]), 0.5, n, np.random.default_rng(1))
    # the same draws as the function: n of each snapshot without replacement, the earlier first
    rng = np.random.default_rng(1)
    a = X[np.flatnonzero(t == 0)[rng.choice(30, size=n, replace=False)]]
    b = X[np.flatnonzero(t == 2)[rng.choice(30, size=n, replace=False)]]
    i, j = linear_sum_assignment(((a[:, None] - b[None]) ** 2).sum(-1))
    expected = (1 - s) * a[i] + s * b[j]
    np.testing.assert_allclose(cells[np.argsort(rows)], expected[np.argsort(rows[i])], atol=1e-12)
    np.testing.assert_array_equal(from_times, 0.0)
    np.testing.assert_array_equal(np.sort(rows), np.sort(np.flatnonzero(t == 0)))
    # each cell names its later partner: the row of b it was averaged with
    later = np.flatnonzero(t == 2)
    np.testing.assert_allclose(cells, (1 - s) * X[rows] + s * X[partners], atol=1e-12)
    np.testing.assert_array_equal(np.sort(partners), later)  # every later cell paired exactly once


def test_a_flow_that_carries_both_sides_onto_the_same_cells_returns_them():
    """When the forward and backward transports land on one set of points, the meeting is that set."""
    rng = np.random.default_rng(2)
    target = rng.normal(size=(20, 2))
    velocity = np.array([1.0, -0.5])
    # cells observed at 0 and at 1 that the constant drift carries exactly onto target at t = 0.4
    X = np.concatenate([target - 0.4 * velocity, target[::-1] + 0.6 * velocity])
    t = np.concatenate([np.zeros(20), np.ones(20)])
    cells, _, _, _ = meet_observed(Shift(velocity), X, t, np.array([0.0, 1.0]), 0.4, 20, np.random.default_rng(3))
    order = np.lexsort(cells.T)
    np.testing.assert_allclose(cells[order], target[np.lexsort(target.T)], atol=1e-10)


def test_small_snapshots_are_drawn_with_replacement_and_outside_times_use_one_side():
    X, t = _snapshots(n_prev=5, n_next=7)
    flow = Shift(0.1)
    cells, rows, _, partners = meet_observed(flow, X, t, np.array([0.0, 2.0]), 1.0, 12, np.random.default_rng(0))
    assert cells.shape == (12, 3) and np.isfinite(cells).all()
    assert set(rows) <= set(np.flatnonzero(t == 0)) and set(partners) <= set(np.flatnonzero(t == 2))
    assert flow.calls == [(12, 0.0, 1.0), (12, 2.0, 1.0)]
    # beyond the last time only the last snapshot is moved, as by the transport prediction
    flow.calls.clear()
    cells, rows, from_times, partners = meet_observed(flow, X, t, np.array([0.0, 2.0]), 3.0, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(from_times, 2.0)
    np.testing.assert_array_equal(partners, -1)
    np.testing.assert_allclose(cells, X[rows] + 0.1)
    with pytest.raises(ValueError, match="no observed cells at time 2"):
        meet_observed(flow, X[t == 0], t[t == 0], np.array([0.0, 2.0]), 1.0, 4, np.random.default_rng(0))


def test_weight_and_time_of_the_meeting_can_be_given():
    """``weight`` sets the later side's share; ``at`` the time both sides are carried to."""
    X, t = _snapshots(n_prev=10, n_next=10, d=2)
    flow = Shift([1.0, 0.0])
    cells, rows, _, partners = meet_observed(flow, X, t, np.array([0.0, 2.0]), 0.5, 10, np.random.default_rng(4),
                                             weight=0.8, at=1.5)
    assert flow.calls == [(10, 0.0, 1.5), (10, 2.0, 1.5)]
    a, b = X[rows] + [1.5, 0.0], X[partners] + [-0.5, 0.0]
    np.testing.assert_allclose(cells, 0.2 * a + 0.8 * b, atol=1e-12)


def test_pairing_is_the_optimal_assignment_and_blocks_bound_its_size():
    from wf_sc.tl._moving import optimal_pairing

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 1.0
    sigma = optimal_pairing(a, b, rng)
    i, j = linear_sum_assignment(((a[:, None] - b[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(sigma[i], j)
    # in blocks of 16: still a permutation, each block optimal, total cost below a random pairing's
    blocked = optimal_pairing(a, b, np.random.default_rng(6), block=16)
    assert sorted(blocked) == list(range(40))
    cost = lambda s: float(((a - b[s]) ** 2).sum())  # noqa: E731
    assert cost(sigma) <= cost(blocked) < cost(np.random.default_rng(7).permutation(40))
    with pytest.raises(ValueError, match="not all finite"):
        optimal_pairing(np.where(np.arange(40)[:, None] == 3, np.nan, a), b, rng)


def test_every_cell_draw_is_a_plain_draw_without_replacement_when_the_pool_suffices():
    for n_pool, n in ((80, 80), (80, 30), (5, 1)):
        np.testing.assert_array_equal(every_cell_draw(n_pool, n, np.random.default_rng(3)),
                                      np.random.default_rng(3).choice(n_pool, size=n, replace=False))
    big = every_cell_draw(10, 25, np.random.default_rng(4))
    assert sorted(np.bincount(big)) == [2] * 5 + [3] * 5 and list(big[:10]) != list(range(10))


def test_short_snapshots_use_every_cell_evenly_and_growth_draws_dividing_cells_more():
    """200 cells from snapshots of 80: every cell twice and 40 of them three times, each drawn later
    cell used once; with growth weights, cells of a cluster that doubles by the next time are drawn
    more often than those of one that shrinks."""
    rng = np.random.default_rng(8)
    grow, shrink = np.array([0.0, 0.0]), np.array([6.0, 0.0])
    x0 = np.concatenate([grow + 0.3 * rng.normal(size=(40, 2)), shrink + 0.3 * rng.normal(size=(40, 2))])
    x1 = np.concatenate([grow + 0.3 * rng.normal(size=(60, 2)), shrink + 0.3 * rng.normal(size=(20, 2))])
    X, t = np.concatenate([x0, x1]), np.concatenate([np.zeros(80), np.ones(80)])
    flow, times = Shift(0.0), np.array([0.0, 1.0])
    cells, rows, _, partners = meet_observed(flow, X, t, times, 0.5, 200, np.random.default_rng(9))
    draws = np.random.default_rng(9)
    every_cell_draw(80, 200, draws)
    later = 80 + every_cell_draw(80, 200, draws)
    np.testing.assert_array_equal(np.sort(partners), np.sort(later))
    for side in (rows, partners):
        counts = np.bincount(side, minlength=160)[side.min():side.min() + 80]
        assert sorted(set(counts)) == [2, 3] and (counts == 3).sum() == 40
    np.testing.assert_allclose(cells, 0.5 * X[rows] + 0.5 * X[partners], atol=1e-12)
    plain = (X[rows, 0] < 3).mean()
    _, rows_g, _, _ = meet_observed(flow, X, t, times, 0.5, 200, np.random.default_rng(9), growth=True)
    assert (X[rows_g, 0] < 3).mean() > plain + 0.1


def test_keep_spread_restores_the_carried_clouds_spread_about_the_same_centre():
    X, t = _snapshots(n_prev=30, n_next=30, d=3, seed=3)
    times, s = np.array([0.0, 2.0]), 0.25
    plain, rows, _, partners = meet_observed(Shift(0.0), X, t, times, 0.5, 30, np.random.default_rng(2))
    kept, _, _, _ = meet_observed(Shift(0.0), X, t, times, 0.5, 30, np.random.default_rng(2), keep_spread=True)

    def spread(x):
        return ((x - x.mean(0)) ** 2).sum(1).mean()

    np.testing.assert_allclose(kept.mean(0), plain.mean(0), atol=1e-12)
    target = (1 - s) * spread(X[rows]) + s * spread(X[partners])
    assert spread(plain) < target
    np.testing.assert_allclose(spread(kept), target, rtol=1e-10)

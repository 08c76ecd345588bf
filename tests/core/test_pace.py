"""The pace clock of the ot_action (wf_sc._core.pace): hand-computable cases."""

import math

import pytest
import torch

from wf_sc._core.pace import PaceClock, interval_speeds


def test_equal_speeds_or_one_interval_leave_time_unchanged():
    t = torch.linspace(0, 1, 21)
    clock = PaceClock(torch.tensor([0.0, 0.2, 0.5, 1.0]), torch.tensor([1.5, 1.5, 1.5]))
    torch.testing.assert_close(clock(t), t)
    one = PaceClock(torch.tensor([0.0, 1.0]), torch.tensor([7.0]))
    torch.testing.assert_close(one(t), t)
    # the same through the integration (speeds equal up to 1e-9, so no shortcut is taken)
    near = PaceClock(torch.tensor([0.0, 0.2, 0.5, 1.0]), torch.tensor([1.5, 1.5, 1.5 * (1 + 1e-9)], dtype=torch.float64))
    assert not near.identity
    torch.testing.assert_close(near(t), t, atol=1e-6, rtol=0)


def test_decelerating_neighbours_put_the_clock_ahead_and_keep_the_anchors():
    tau = torch.tensor([0.0, 1.0, 2.0])
    clock = PaceClock(tau, torch.tensor([2.0, 1.0]), per_interval=256)
    torch.testing.assert_close(clock(tau), tau)
    # v = 2 on [0, 0.5]; log v falls linearly by log 2 per unit from 0.5 to 1.5
    early = 2 * 0.5
    late = 2 * (1 - 2**-0.5) / math.log(2)
    assert float(clock(torch.tensor([0.5]))) == pytest.approx(early / (early + late), abs=1e-4)
    grid = torch.linspace(0, 2, 101)
    phi = clock(grid)
    assert bool((phi.diff() > 0).all())  # monotone
    assert bool((phi[1:50] > grid[1:50]).all()) and bool((phi[51:100] > grid[51:100]).all())  # ahead inside


def test_interval_speeds_of_translated_clouds():
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([3.0, 0.0, 4.0], dtype=torch.float64)
    tau = torch.tensor([0.0, 0.5, 1.5], dtype=torch.float64)
    v = interval_speeds([x, x + shift, x + 2 * shift], tau, 100, torch.Generator().manual_seed(1))
    # translating a cloud: the identity coupling is optimal, W2 = |shift| = 5
    torch.testing.assert_close(v, torch.tensor([5.0 / 0.5, 5.0 / 1.0], dtype=torch.float64))


def test_ot_action_measures_time_on_the_clock():
    from wf_sc._core.config import CoreConfig
    from wf_sc._core.flow import WeightFlowCore
    from wf_sc._core.objectives import Segment, population_ot_action

    core = WeightFlowCore(CoreConfig(dim=2, n_times=3, hidden=4, n_components=2, width=8)).double()
    core.set_data(torch.zeros(2), torch.ones(2), torch.tensor([0.0, 1.0, 2.0]))
    core.set_anchors(torch.randn(3, core.backbone.n_params, generator=torch.Generator().manual_seed(0)))
    core.init_affine()
    grid, states, index = core.integrate_from(0, core.tau[[1, 2]])
    seg = Segment(0, [1, 2], grid, states, index)

    def action(clock):
        return float(population_ot_action(core, seg, 64, torch.Generator().manual_seed(2), clock=clock).detach())

    same = PaceClock(core.tau, torch.tensor([1.0, 1.0]))
    assert action(same) == pytest.approx(action(None), rel=1e-9)
    assert action(PaceClock(core.tau, torch.tensor([4.0, 1.0]))) != pytest.approx(action(None), rel=1e-3)


def test_unknown_pace_is_refused():
    from wf_sc._core.pipeline import TrainConfig

    with pytest.raises(ValueError, match="unknown pace"):
        TrainConfig(pace="fast")


def _fit(snapshots, times, pace):
    from wf_sc._core.config import CoreConfig
    from wf_sc._core.pipeline import TrainConfig, fit_weightflow

    config = CoreConfig(dim=2, n_times=len(times), hidden=4, n_components=2, width=8)
    train = TrainConfig(pace=pace, stage1_max_steps_first=20, stage1_max_steps=10, stage2_steps=4, action_cells=16)
    torch.manual_seed(0)  # module initialization draws from the global generator
    core, _ = fit_weightflow(snapshots, torch.tensor(times), config, train, torch.Generator().manual_seed(0))
    return torch.cat([p.detach().flatten() for p in core.field.parameters()])


def test_the_clock_changes_stage_2_only_where_the_neighbours_disagree():
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(60, 2, generator=gen)
    # one interval: the clock is the identity, the fit is the same to the last bit
    one = [x0, x0 + 2.0]
    torch.testing.assert_close(_fit(one, [0.0, 1.0], "neighbours"), _fit(one, [0.0, 1.0], "constant"), rtol=0, atol=0)
    # a population that slows down (moves 3, then 1 per unit time): the action is measured differently
    snaps = [x0, x0 + torch.tensor([3.0, 0.0]), x0 + torch.tensor([4.0, 0.0])]
    assert not torch.equal(_fit(snaps, [0.0, 1.0, 2.0], "neighbours"), _fit(snaps, [0.0, 1.0, 2.0], "constant"))

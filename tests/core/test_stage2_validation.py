"""Stage 2 stopped by held-out cells: the cap, the stop, the field kept."""

import math

import pytest
import torch

from wf_sc._core.config import CoreConfig
from wf_sc._core.pipeline import TrainConfig, fit_weightflow
from wf_sc._core.stage2 import train_field, validation_nll


def _snapshots():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(120, 2, generator=gen)
    return [x0, x0 + torch.tensor([2.0, 0.0]), x0 + torch.tensor([3.0, 1.0])], torch.tensor([0.0, 1.0, 2.0])


def _fit(**train_kwargs):
    snaps, times = _snapshots()
    config = CoreConfig(dim=2, n_times=3, hidden=4, n_components=2, width=8)
    train = TrainConfig(stage1_max_steps_first=40, stage1_max_steps=20, action_cells=16, **train_kwargs)
    torch.manual_seed(0)  # module initialization draws from the global generator
    return fit_weightflow(snaps, times, config, train, torch.Generator().manual_seed(0))


def test_the_field_with_the_best_held_out_score_is_kept():
    core, _ = _fit(stage2_steps=0)  # anchors only
    snaps, _ = _snapshots()
    std = [(x - core.x_mean) / core.x_scale for x in snaps]
    train, held = [x[:100] for x in std], [x[100:] for x in std]
    start = validation_nll(core, held)
    history = train_field(core, train, generator=torch.Generator().manual_seed(1), n_steps=60, held_out=held,
                          eval_every=10, patience=100, action_cells=16)
    val = history["validation"]
    assert len(val["nll"]) == 6 and len(history["total"]) == 60
    scores = [start, *val["nll"]]
    best = min(range(len(scores)), key=scores.__getitem__)
    assert val["best_step"] == 10 * best
    # the field now in the core is the best one, not the last
    assert validation_nll(core, held) == pytest.approx(scores[best], rel=1e-6)


def test_patience_stops_stage_2_before_its_cap():
    _, history = _fit(stage2_steps=400, stage2_validation=True, patience=1)
    val = history["stage2"]["validation"]
    taken = len(history["stage2"]["total"])
    assert taken < 400 and taken % 25 == 0  # stopped at a scoring step, one score after the best
    assert taken == 25 * len(val["nll"])
    assert val["best_step"] == taken - 25  # with patience 1 the best is the score before the stop (0: the start)


def test_stage_2_holds_cells_out_only_when_asked():
    _, fixed = _fit(stage2_steps=6)  # the default: every step, on all cells
    _, held = _fit(stage2_steps=6, stage2_validation=True, patience=100)
    assert "validation" not in fixed["stage2"] and len(fixed["stage2"]["total"]) == 6
    assert held["stage2"]["validation"]["every"] == 25 and len(held["stage2"]["total"]) == 6
    # held-out cells leave the NLL's minibatches, so the same seed trains on other cells
    assert held["stage2"]["nll"] != fixed["stage2"]["nll"]


def test_validation_nll_skips_intervals_without_held_out_cells():
    core, _ = _fit(stage2_steps=2)
    x = torch.randn(30, 2)
    empty = x[:0]
    one = validation_nll(core, [empty, x, empty])
    assert one == pytest.approx(validation_nll(core, [x, x, empty]))  # the first snapshot never counts
    assert math.isnan(validation_nll(core, [empty, empty, empty]))
    with pytest.raises(ValueError, match="stage2_validation"):
        TrainConfig(stage2_validation="yes")


def test_too_few_cells_to_hold_out_runs_the_full_budget_with_a_warning():
    gen = torch.Generator().manual_seed(0)
    snaps = [torch.randn(30, 2, generator=gen) + i for i in range(3)]  # 10% of 30 cells: 3 < 5, none held out
    config = CoreConfig(dim=2, n_times=3, hidden=4, n_components=2, width=8)
    train = TrainConfig(stage1_max_steps_first=20, stage1_max_steps=10, stage2_steps=5, action_cells=8,
                        stage2_validation=True)
    with pytest.warns(UserWarning, match="runs all 5 steps"):
        _, history = fit_weightflow(snaps, torch.tensor([0.0, 1.0, 2.0]), config, train, torch.Generator().manual_seed(0))
    assert len(history["stage2"]["total"]) == 5 and "validation" not in history["stage2"]

"""Stage 1's early stopping: the paired rise statistic and the rule that uses it."""

from __future__ import annotations

import math

import pytest
import torch

from wf_sc._core.anchors import MAX_VAL_CELLS, cell_nll, fit_density, mean_nll, rise_z, split_validation
from wf_sc._core.backbone import GRUMDN
from wf_sc._core.pipeline import TrainConfig


def test_rise_z_is_the_paired_mean_over_its_standard_error():
    best = torch.tensor([1.0, -2.0, 0.5])
    # differences 1, 2, 3: mean 2, sample sd 1, standard error 1/sqrt(3)
    assert rise_z(best + torch.tensor([1.0, 2.0, 3.0]), best) == pytest.approx(2 * math.sqrt(3))
    assert rise_z(best - torch.tensor([1.0, 2.0, 3.0]), best) == pytest.approx(-2 * math.sqrt(3))
    # a constant shift has no spread to judge it by, and one cell is no sample
    assert rise_z(best + 1, best) == 0.0
    assert rise_z(best[:1] + 1, best[:1]) == 0.0


def test_mean_nll_is_the_mean_of_the_cells_nll():
    bb = GRUMDN(dim=2, hidden=4, n_components=2)
    theta = bb.init(torch.Generator().manual_seed(0))
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(1))
    cells = cell_nll(bb, theta, x, batch=128)
    assert cells.shape == (300,)
    assert torch.allclose(cells, -bb.log_prob(theta, x))
    assert mean_nll(bb, theta, x, batch=128) == pytest.approx(float(cells.mean()), rel=1e-6)


def test_validation_is_a_fraction_of_the_cells_capped_at_max_val_cells():
    # below the cap: the first round(fraction * n) cells of one random permutation
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(5))
    train, val = split_validation(1000, 0.1, torch.Generator().manual_seed(5))
    assert torch.equal(val, perm[:100]) and torch.equal(train, perm[100:])
    # at the cap and above it: MAX_VAL_CELLS validation cells, every other cell trains
    for n in (10 * MAX_VAL_CELLS, 10 * MAX_VAL_CELLS + 10, 20 * MAX_VAL_CELLS):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(5))
        train, val = split_validation(n, 0.1, torch.Generator().manual_seed(5))
        assert torch.equal(val, perm[:MAX_VAL_CELLS]) and torch.equal(train, perm[MAX_VAL_CELLS:])
    # too few for a validation set
    train, val = split_validation(40, 0.1, torch.Generator().manual_seed(5))
    assert len(val) == 0 and len(train) == 40


def _fit(stop_z, x):
    bb = GRUMDN(dim=2, hidden=16, n_components=3)
    theta0 = bb.init(torch.Generator().manual_seed(0))
    return fit_density(bb, theta0, x, max_steps=1500, batch_size=64, lr=2e-2, val_fraction=0.3, eval_every=10,
                       patience=30, generator=torch.Generator().manual_seed(3), stop_z=stop_z)


def test_stop_z_ends_an_overfitting_run_early_on_the_same_path():
    """40 cells and a large network overfit: the rule stops at the second consecutive significant rise,
    and until then the run is exactly the patience-only run (same draws, same scores)."""
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(2)) * torch.tensor([1.0, 0.3])
    _, _, best_p, curve_p, steps_p, rises_p = _fit(None, x)
    best_theta, _, best_z, curve_z, steps_z, rises_z = _fit(3.0, x)
    assert steps_z < steps_p
    assert curve_z == curve_p[: len(curve_z)] and rises_z == rises_p[: len(rises_z)]
    assert rises_z[-1] > 3.0 and rises_z[-2] > 3.0
    assert not any(a > 3.0 and b > 3.0 for a, b in zip(rises_z[:-2], rises_z[1:-1]))
    assert best_z == pytest.approx(min(curve_z)) and best_z >= best_p - 1e-12
    assert best_theta.shape == (GRUMDN(dim=2, hidden=16, n_components=3).n_params,)


def test_stage1_stop_z_is_checked():
    assert TrainConfig(stage1_stop_z=3).stage1_stop_z == 3
    for bad in (0, -1.0, float("inf"), float("nan"), True, "3"):
        with pytest.raises(ValueError, match="stage1_stop_z"):
            TrainConfig(stage1_stop_z=bad)

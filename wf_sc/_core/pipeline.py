"""The whole WeightFlow fit on tensors: standardize, Stage 1 anchors, control path, Stage 2 field."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import torch

from .anchors import ANCHOR_STARTS, fit_anchors, split_validation
from .config import CoreConfig
from .flow import FIELD_STARTS, WeightFlowCore
from .growth_field import within_time_spread
from .pace import PACES, PaceClock, interval_speeds
from .stage2 import check_loss_weights, train_field


@dataclass
class TrainConfig:
    """Optimization settings of both stages (not needed to use a fitted model)."""

    #: Stage 1: "warm" (each anchor starts from the previous one) or "rebasin" (own random starts,
    #: then weight matching between consecutive anchors)
    anchor_start: str = "warm"
    #: Stage 2's starting field: "time" (time channel only, codes at 0: one shared time-driven
    #: field to start from) or "all" (least squares on time and codes, through the anchors)
    field_start: str = "time"
    stage1_max_steps_first: int = 1500
    stage1_max_steps: int = 500
    stage1_batch_size: int = 256
    stage1_lr: float = 5e-3
    val_fraction: float = 0.1
    patience: int = 6
    #: Stage 1 also stops once the validation NLL has lain this many paired standard errors above
    #: its best at two consecutive scores (:func:`wf_sc._core.anchors.fit_density`); None: patience alone
    stage1_stop_z: float | None = 3.0
    stage2_steps: int = 200
    #: Stage 2 stops on held-out cells (a ``val_fraction`` of each snapshot, at most
    #: ``anchors.MAX_VAL_CELLS``) and ``stage2_steps`` is its cap; False: exactly ``stage2_steps`` steps
    stage2_validation: bool = False
    stage2_lr: float = 3e-3
    stage2_batch_size: int = 256
    max_horizon: int | None = None
    loss_weights: dict = field(default_factory=dict)
    action_cells: int = 128
    action_times: int = 1
    #: populations per anchor interval in ``ot_action`` (the interval's sub-steps must be a multiple)
    action_points: int = 2
    #: the pace the ot_action prefers inside an interval: "constant" speed, or "neighbours" (a speed
    #: interpolated from the neighbouring intervals' snapshot distances, :mod:`wf_sc._core.pace`)
    pace: str = "neighbours"
    pace_cells: int = 512

    def __post_init__(self):
        for name in ("stage1_max_steps_first", "stage1_max_steps", "stage2_steps", "patience"):
            _check_int(name, getattr(self, name), 0)
        for name in ("stage1_batch_size", "stage2_batch_size", "action_cells", "action_times", "pace_cells"):
            _check_int(name, getattr(self, name), 1)
        for name in ("stage1_lr", "stage2_lr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10:
                raise ValueError(f"{name} must be a learning rate in (0, 10), got {value!r}")
        if not isinstance(self.stage2_validation, bool):
            raise ValueError(f"stage2_validation must be True or False, got {self.stage2_validation!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {self.val_fraction!r}")
        if self.max_horizon is not None:
            _check_int("max_horizon", self.max_horizon, 1)
        z = self.stage1_stop_z
        if z is not None and (isinstance(z, bool) or not isinstance(z, int | float) or not 0 < z < float("inf")):
            raise ValueError(f"stage1_stop_z must be a positive number or None, got {z!r}")
        if not isinstance(self.loss_weights, dict):
            raise ValueError(f"loss_weights must be a dict of term -> weight, got {self.loss_weights!r}")
        check_loss_weights(self.loss_weights)
        if self.pace not in PACES:
            raise ValueError(f"unknown pace {self.pace!r}, known are {list(PACES)}")
        if self.field_start not in FIELD_STARTS:
            raise ValueError(f"unknown field_start {self.field_start!r}, known are {list(FIELD_STARTS)}")
        if self.action_points < 1:
            raise ValueError(f"action_points must be >= 1, got {self.action_points}")
        if self.anchor_start not in ANCHOR_STARTS:
            raise ValueError(f"unknown anchor_start {self.anchor_start!r}, known are {list(ANCHOR_STARTS)}")


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def standardization(snapshots: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation over all cells (scale floored at 1e-8)."""
    allx = torch.cat(snapshots)
    return allx.mean(0), allx.std(0).clamp_min(1e-8)


def fit_weightflow(
    snapshots: list[torch.Tensor],
    times: torch.Tensor,
    config: CoreConfig,
    train: TrainConfig,
    generator: torch.Generator,
    progress_factory=None,
    sample_generator: torch.Generator | None = None,
) -> tuple[WeightFlowCore, dict]:
    """Fit WeightFlow to snapshots (list of (n_k, d), real units) at sorted ``times`` (K+1,).

    ``generator`` must live on the CPU (initialization, splits, minibatches); ``sample_generator``
    on the snapshots' device draws model cells (default: a generator seeded from ``generator``).
    Returns the fitted core (in eval mode) and a history dict with ``stage1`` (per-time NLL and
    validation curves), ``stage2`` (per-step loss terms) and ``bridge_share`` (per anchor interval,
    :meth:`~wf_sc._core.flow.WeightFlowCore.bridge_share`; empty for straight-line dynamics).
    """
    if config.bridge and train.loss_weights.get("action", 0):
        raise ValueError(
            "the transport-drift 'action' term is not defined on bridged trajectories (bridge=True, the "
            "default); pass bridge=False to use it, or use the 'ot_action' term"
        )
    if config.growth and (config.dynamics == "linear" or train.stage2_steps == 0):
        raise ValueError(
            "growth=True learns the growth field in Stage 2, which does not run with dynamics='linear' or "
            "stage2_steps=0; turn growth off or give Stage 2 steps"
        )
    device = snapshots[0].device
    core = WeightFlowCore(config).to(device)
    if sample_generator is None:
        seed = int(torch.randint(2**62, (1,), generator=generator))
        sample_generator = torch.Generator(device=device).manual_seed(seed)
    mean, scale = standardization(snapshots)
    core.set_data(mean, scale, times.to(device))
    std = [(x - mean) / scale for x in snapshots]

    bar = progress_factory(total=len(std), desc="stage 1: anchors") if progress_factory else None
    t_start = time.perf_counter()
    a = fit_anchors(
        core.backbone,
        std,
        generator=generator,
        start=train.anchor_start,
        max_steps_first=train.stage1_max_steps_first,
        max_steps=train.stage1_max_steps,
        batch_size=train.stage1_batch_size,
        lr=train.stage1_lr,
        val_fraction=train.val_fraction,
        patience=train.patience,
        stop_z=train.stage1_stop_z,
        progress=bar,
    )
    if bar is not None:
        bar.close()
    core.set_anchors(a.anchors)
    if core.growth is not None:
        core.growth.spread2.fill_(within_time_spread(std))
    core.init_affine(train.field_start)
    t_stage1 = time.perf_counter() - t_start

    clock = None
    if train.pace == "neighbours":
        speeds = interval_speeds(std, core.tau, train.pace_cells, generator)
        clock = PaceClock(core.tau, speeds)
        core.set_pace(speeds)
    n_steps = 0 if config.dynamics == "linear" else train.stage2_steps  # straight lines: nothing to learn
    fit_cells, held_out = std, None
    if train.stage2_validation and n_steps:
        splits = [split_validation(len(x), train.val_fraction, generator) for x in std]
        fit_cells = [x[tr.to(device)] for x, (tr, _) in zip(std, splits)]
        held_out = [x[va.to(device)] for x, (_, va) in zip(std, splits)]
        if not any(len(y) for y in held_out[1:]):
            warnings.warn(
                "stage2_validation: no snapshot after the first is large enough to hold cells out "
                f"(val_fraction={train.val_fraction}); Stage 2 runs all {n_steps} steps instead",
                stacklevel=2,
            )
            fit_cells, held_out = std, None
    bar = progress_factory(total=n_steps, desc="stage 2: dynamics") if progress_factory else None
    hist2 = train_field(
        core,
        fit_cells,
        generator=generator,
        sample_generator=sample_generator,
        loss_weights=train.loss_weights,
        n_steps=n_steps,
        lr=train.stage2_lr,
        batch_size=train.stage2_batch_size,
        max_horizon=train.max_horizon,
        action_cells=train.action_cells,
        action_times=train.action_times,
        action_points=train.action_points,
        clock=clock,
        held_out=held_out,
        patience=train.patience,
        progress=bar,
    )
    if bar is not None:
        bar.close()
    t_stage2 = time.perf_counter() - t_start - t_stage1
    core.eval()
    with torch.no_grad():
        bridge_share = core.bridge_share().tolist() if config.dynamics != "linear" else []
    history = {
        "stage1": {
            "train_nll": a.train_nll,
            "val_nll": a.val_nll,
            "steps": a.steps,
            "curves": {str(k): c for k, c in enumerate(a.curves)},
            "rise_z": {str(k): r for k, r in enumerate(a.rises)},
            "seconds": t_stage1,
        },
        "stage2": {**hist2, "seconds": t_stage2},
        "bridge_share": bridge_share,
    }
    return core, history

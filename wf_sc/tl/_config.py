"""``wf.tl.Config``: every architecture and training setting of a fit, in one typed object for experts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from .._bridge import MIN_CELLS
from .._core.config import CoreConfig
from .._core.pipeline import TrainConfig

#: ``effort`` -> factor on every step budget of :class:`Config` (``"default"`` is the benchmarked one)
EFFORTS: dict[str, float] = {"fast": 0.25, "default": 1.0, "thorough": 3.0}
Effort = Literal["fast", "default", "thorough"]
#: the step budgets ``effort`` scales
STEP_FIELDS: tuple[str, ...] = ("stage1_max_steps_first", "stage1_max_steps", "stage2_steps")

_CORE = {f.name: f for f in fields(CoreConfig) if f.name not in ("dim", "n_times")}
_TRAIN = {f.name: f for f in fields(TrainConfig)}


def _default(name: str):
    """The default of a core or training field, read from its ``_core`` dataclass (one place)."""
    f = _CORE.get(name) or _TRAIN[name]
    return f.default


@dataclass(frozen=True)
class Config:
    """Architecture and training settings of WeightFlow, for experts and the benchmark.

    A biologist needs none of them: :func:`wf_sc.tl.fit` takes ``effort`` for the training length.
    Every field defaults to the package default; change one with ``wf.tl.Config(hidden=64)`` or
    ``dataclasses.replace(config, ...)``. The model's own record (``uns[key]['params']``) lists
    the values a fit used.

    Density network (Stage 1)
        ``hidden`` units per coordinate of the autoregressive network, ``n_components`` of each
        conditional Gaussian mixture, ``scale_floor`` (smallest mixture scale, standardized units).
    Weight graph and field (Stage 2)
        ``graph`` (which weights talk to which), ``width``, ``n_layers``, ``heads``, ``conv`` of
        the graph network; ``n_codes`` (control-path channels besides time; ``None``: from the number
        of times), ``steps`` (solver steps per anchor interval in training), ``query_steps`` (solver
        steps per anchor interval when the fitted path is read), ``method`` (solver), ``dynamics``
        (``"cde"``: the method; ``"ode"``: driven by time alone; ``"linear"``: straight lines between
        anchors), ``path`` (control-path interpolation), ``bridge`` (each interval ends exactly at
        its next anchor), ``bridge_clock`` (the bridge grows along the pace clock instead of
        linearly in time), ``growth`` (also learn a relative growth rate, read off the path; the
        fit is otherwise unchanged; read it with ``wf.tl.growth(adata, method="path")``).
    Training
        ``anchor_start`` (Stage 1 starts each time from the previous one, ``"warm"``, or from its
        own random weights matched to the previous afterwards, ``"rebasin"``), ``field_start``,
        ``stage1_*`` and ``stage2_*`` budgets and rates, ``patience`` (early stopping; Stage 2 stops
        early only with ``stage2_validation``, and ``stage2_steps`` is then its cap), ``stage1_stop_z``
        (Stage 1 also stops once the validation NLL has been this many standard errors above its best at
        two consecutive scores),
        ``val_fraction``, ``max_horizon``, ``loss_weights`` (terms ``weight``, ``energy``, ``nll``,
        ``action``, ``ot_action``, ``ot_accel``: the second-order action), ``action_cells``, ``action_times``, ``action_points``, ``pace``
        and ``pace_cells`` (the pace the transport action prefers).
    Run time
        ``min_cells`` (fewest cells allowed at one time point), ``n_threads`` (torch CPU threads
        while fitting and answering queries; ``"auto"``: one thread for training, whose steps are
        too small to share, and torch's setting, all cores, for per-cell queries on at least 10^4
        cells; ``None`` leaves torch's setting).

    See :class:`wf_sc._core.config.CoreConfig` and :class:`wf_sc._core.pipeline.TrainConfig` for each
    field's meaning in the model.
    """

    # density network
    hidden: int = _default("hidden")
    n_components: int = _default("n_components")
    scale_floor: float = _default("scale_floor")
    # weight graph, field and dynamics
    graph: Literal["connectivity", "complete"] = _default("graph")
    width: int = _default("width")
    n_layers: int = _default("n_layers")
    heads: int = _default("heads")
    conv: Literal["transformer", "gatv2", "barzel"] = _default("conv")
    n_codes: int | None = _default("n_codes")
    steps: int = _default("steps")
    query_steps: int = _default("query_steps")
    method: Literal["rk4", "midpoint", "euler"] = _default("method")
    dynamics: Literal["cde", "ode", "linear"] = _default("dynamics")
    path: Literal["cubic", "linear"] = _default("path")
    bridge: bool = _default("bridge")
    bridge_clock: bool = _default("bridge_clock")
    growth: bool = _default("growth")
    # training
    anchor_start: Literal["warm", "rebasin"] = _default("anchor_start")
    field_start: Literal["time", "all"] = _default("field_start")
    stage1_max_steps_first: int = _default("stage1_max_steps_first")
    stage1_max_steps: int = _default("stage1_max_steps")
    stage1_batch_size: int = _default("stage1_batch_size")
    stage1_lr: float = _default("stage1_lr")
    val_fraction: float = _default("val_fraction")
    patience: int = _default("patience")
    stage1_stop_z: float | None = _default("stage1_stop_z")
    stage2_steps: int = _default("stage2_steps")
    stage2_validation: bool = _default("stage2_validation")
    stage2_lr: float = _default("stage2_lr")
    stage2_batch_size: int = _default("stage2_batch_size")
    max_horizon: int | None = _default("max_horizon")
    loss_weights: dict[str, float] = field(default_factory=dict)
    action_cells: int = _default("action_cells")
    action_times: int = _default("action_times")
    action_points: int = _default("action_points")
    pace: Literal["constant", "neighbours"] = _default("pace")
    pace_cells: int = _default("pace_cells")
    # run time
    min_cells: int = MIN_CELLS
    n_threads: int | Literal["auto"] | None = "auto"

    def __post_init__(self):
        if isinstance(self.min_cells, bool) or not isinstance(self.min_cells, int) or self.min_cells < 2:
            raise ValueError(f"min_cells must be an integer >= 2, got {self.min_cells!r}")
        if self.n_threads is not None and self.n_threads != "auto" and (
            isinstance(self.n_threads, bool) or not isinstance(self.n_threads, int) or self.n_threads < 1
        ):
            raise ValueError(f"n_threads must be an integer >= 1, 'auto' or None, got {self.n_threads!r}")
        if not isinstance(self.loss_weights, dict):
            raise ValueError(f"loss_weights must be a dict of term -> weight, got {self.loss_weights!r}")
        # refuse bad values now, before any data is read (dim and n_times are placeholders)
        CoreConfig(dim=1, n_times=2, **self.core_kwargs())
        self.train_config()

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> Config:
        """A config from ``{field: value}``; an unknown field is refused with the known ones listed."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"unknown WeightFlow settings {unknown}; known are {sorted(known)}")
        return cls(**settings)

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the package defaults."""
        defaults = asdict(Config())
        return {k: v for k, v in asdict(self).items() if v != defaults[k]}

    def core_kwargs(self) -> dict[str, Any]:
        """The architecture fields that differ from :class:`CoreConfig`'s defaults, in value or in type
        (``0`` for ``False`` goes to :class:`CoreConfig`, which refuses it)."""
        return {k: v for k, f in _CORE.items() if (v := getattr(self, k)) != f.default or type(v) is not type(f.default)}

    def train_config(self, effort: Effort = "default") -> TrainConfig:
        """The training settings, with every step budget multiplied by ``EFFORTS[effort]``."""
        if effort not in EFFORTS:
            raise ValueError(f"effort must be one of {list(EFFORTS)}, got {effort!r}")
        train = TrainConfig(**{k: getattr(self, k) for k in _TRAIN})
        factor = EFFORTS[effort]
        if factor == 1.0:
            return train
        scaled = {k: max(1, round(getattr(train, k) * factor)) if getattr(train, k) > 0 else 0 for k in STEP_FIELDS}
        return replace(train, **scaled)


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """Settings from ``KEY=VALUE`` strings (``--set``); VALUE is JSON where it parses,
    else the bare string (``pace=constant``, ``'loss_weights={"ot_action": 0.05}'``)."""
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings

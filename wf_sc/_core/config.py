"""``CoreConfig``: the architecture settings that rebuild a :class:`~wf_sc._core.flow.WeightFlowCore`.

Plain numbers and strings, so a fitted model's record (h5ad, torch) holds them as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .control_path import PATHS

#: how theta evolves between anchors: the graph neural CDE driven by the control path (the method),
#: a plain neural ODE driven by time alone, or straight lines between anchors (no Stage 2); the
#: last two exist for ablations
DYNAMICS = ("cde", "ode", "linear")


@dataclass
class CoreConfig:
    """Architecture settings needed to rebuild a :class:`~wf_sc._core.flow.WeightFlowCore` (h5ad/torch-safe)."""

    dim: int
    n_times: int
    hidden: int = 32
    n_components: int = 5
    graph: str = "connectivity"
    width: int = 64
    n_layers: int = 2
    heads: int = 2
    conv: str = "transformer"
    n_codes: int | None = None
    steps: int = 4
    #: solver sub-steps per anchor interval when the fitted path is read (predictions, drift,
    #: transport, the anchor gaps); training integrates with ``steps``
    query_steps: int = 32
    method: str = "midpoint"
    scale_floor: float = 0.1
    dynamics: str = "cde"
    path: str = "cubic"
    #: bridge each anchor interval: the trajectory from anchor k is corrected linearly in time so
    #: that it ends exactly at anchor k+1 (see :meth:`~wf_sc._core.flow.WeightFlowCore.anchor_gaps`)
    bridge: bool = True
    #: with ``bridge``, the correction grows along the pace clock the action measures time on
    #: (:class:`~wf_sc._core.pace.PaceClock`, the interval speeds kept in the model) instead of
    #: linearly in time; without a pace clock (``pace="constant"``) the two are the same
    bridge_clock: bool = False
    #: learn a relative growth rate with the path (:mod:`wf_sc._core.growth_field`), read off the
    #: populations of Stage 2's transport action; the path is fitted as without it
    growth: bool = False

    def __post_init__(self):
        for name, low, high in (
            ("dim", 1, 100_000), ("n_times", 2, 100_000), ("hidden", 1, 4096), ("n_components", 1, 256),
            ("width", 1, 4096), ("n_layers", 0, 64), ("heads", 1, 64), ("steps", 1, 1000),
            ("query_steps", 1, 10_000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        for name in ("bridge", "bridge_clock", "growth"):
            value = getattr(self, name)
            if type(value).__name__ not in ("bool", "bool_"):  # Python or numpy booleans
                raise ValueError(f"{name} must be True or False, got {value!r}")
            setattr(self, name, bool(value))
        if self.bridge_clock and (not self.bridge or self.dynamics == "linear"):
            raise ValueError("bridge_clock=True shapes the bridge: it needs bridge=True and dynamics 'cde' or 'ode'")
        if self.path not in PATHS:
            raise ValueError(f"unknown control path {self.path!r}, known are {list(PATHS)}")
        if self.path == "linear" and self.method == "rk4" and self.dynamics == "cde":
            # RK4 reads dZ/dtau at the end of each step, i.e. on the wrong side of an anchor's kink
            raise ValueError("method='rk4' needs path='cubic'; with path='linear' use 'midpoint' or 'euler'")
        if self.dynamics not in DYNAMICS:
            raise ValueError(f"unknown dynamics {self.dynamics!r}, known are {list(DYNAMICS)}")
        if self.dynamics == "ode":
            # a plain neural ODE d theta / d tau = g(theta): the path is time alone
            if self.n_codes not in (None, 0):
                raise ValueError("dynamics='ode' drives the field by time alone: n_codes must be 0 (or None)")
            self.n_codes = 0
        if self.n_codes is None:
            # time + (K - 1) codes span the K anchor increments, so the constant-field start of
            # the CDE passes through every anchor exactly; capped at 4 (DESIGN: path_dim 1-4)
            self.n_codes = int(min(max(self.n_times - 2, 1), 4))

    def to_dict(self) -> dict:
        """The fields as plain values; ``growth`` and ``bridge_clock`` only when on and ``query_steps``
        only when not 32,
        so that records of fits without them stay readable by versions that predate them."""
        out = asdict(self)
        for name in ("growth", "bridge_clock"):  # off: records stay readable by versions that predate them
            if not out[name]:
                del out[name]
        if out["query_steps"] == 32:  # the default: records stay readable by versions that predate it
            del out["query_steps"]
        return out

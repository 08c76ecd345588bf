"""The fitted model as a record: h5ad-safe trees of arrays, and checks of a record read back."""

from __future__ import annotations

import numpy as np
import torch

from .._core.config import CoreConfig
from .._core.flow import WeightFlowCore


def to_numpy_tree(obj):
    """Tensors -> numpy, lists of numbers -> arrays, None dropped (h5ad-safe)."""
    if isinstance(obj, dict):
        return {str(k): to_numpy_tree(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy()
    if isinstance(obj, (list, tuple)):
        if all(isinstance(v, str) for v in obj):
            return np.asarray(obj, dtype=object) if obj else np.asarray([], dtype=str)
        return np.asarray(obj, dtype=float)
    return obj


def plain(v):
    """numpy scalars/0-d arrays (from h5ad) -> Python scalars; dicts recursively."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, np.ndarray) and v.ndim == 0:
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return v.decode()
    return v


def check_loaded(core: WeightFlowCore) -> None:
    """Refuse a saved model whose numbers cannot come from a fit (NaN weights, unordered times)."""
    bad = [k for k, v in core.state_dict().items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"saved WeightFlow model has non-finite values in {bad[:5]}; it is damaged, fit again")
    tau, t_range = core.tau, core.t_range
    times = core.times
    ends = bool(torch.isclose(times[[0, -1]], t_range).all())
    if not (t_range[1] > t_range[0]) or tau[0] != 0 or tau[-1] != 1 or not (tau.diff() > 0).all() or not (
        (times.diff() > 0).all() and ends
    ):
        raise ValueError(
            f"saved WeightFlow model has unordered times (range {t_range.tolist()}, normalized {tau.tolist()}); "
            "it is damaged, fit again"
        )
    if not (core.x_scale > 0).all():
        raise ValueError("saved WeightFlow model has a non-positive standardization scale; it is damaged, fit again")


def build_core(core_config: dict, state_dict: dict) -> WeightFlowCore:
    """The fitted core from its saved configuration and weights, checked (:func:`check_loaded`)."""
    try:
        core = WeightFlowCore(CoreConfig(**core_config))
    except (TypeError, ValueError) as err:
        raise ValueError(f"saved WeightFlow model has an invalid configuration: {err}") from err
    sd = {k: torch.as_tensor(np.asarray(v)) for k, v in state_dict.items()}
    if "times" not in sd and "tau" in sd and "t_range" in sd:  # records written before the times were kept
        t_range = sd["t_range"].double()
        sd["times"] = t_range[0] + sd["tau"].double() * (t_range[1] - t_range[0])
    try:
        core.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        raise ValueError(f"saved weights do not match the saved configuration: {err}") from err
    check_loaded(core)
    return core

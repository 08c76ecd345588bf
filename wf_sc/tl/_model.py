"""``WeightFlow``: the model class, the only place that translates between AnnData and tensors."""

from __future__ import annotations

import time as _time
import warnings
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from anndata import AnnData

from .. import _keys
from .._bridge import check_representation, check_time_points, encode_time, get_representation
from .._core.config import CoreConfig
from .._core.flow import WeightFlowCore
from .._core.pipeline import TrainConfig, fit_weightflow
from .._logging import get_logger
from ._cell_queries import CellQueries
from ._config import Config, Effort
from ._record import build_core, plain, to_numpy_tree
from ._settings import check_count, resolve_device, seed, torch_threads

log = get_logger(__name__)

FORMAT = _keys.RECORD_FORMAT
FORMAT_VERSION = 1
#: times this far outside the fitted range (as a fraction of it) are held at its ends with a warning;
#: closer ones are rounding and are held silently
TIME_MARGIN = 1e-6
_CORE_FIELDS = {f.name for f in fields(CoreConfig)} - {"dim", "n_times"}
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}


class WeightFlow(CellQueries):
    """WeightFlow: a population's density network whose weights evolve under a graph neural CDE.

    Parameters
    ----------
    time_key
        Column of ``adata.obs`` with each cell's time (numeric, numeric strings or ordered
        categorical).
    use_rep
        Representation to model: a key of ``adata.obsm`` or ``"X"``.
    device
        ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda[:i]"``.
    random_state
        Seed of every random choice (initialization, minibatches, validation split); ``None`` draws
        one (recorded in ``params``, so the fit can be repeated).
    effort
        Training length: ``"default"`` (the benchmarked budget), ``"fast"`` (a quarter of the
        steps, for a first look) or ``"thorough"`` (three times the steps); it multiplies every
        step budget of ``config``.
    config
        Architecture and training settings for experts (:class:`~wf_sc.tl.Config`); default: the
        package defaults.

    Examples
    --------
    >>> model = wf.tl.WeightFlow(time_key="time", use_rep="X").fit(adata)  # doctest: +SKIP
    >>> cells = model.sample(1.5, n_cells=1000)  # doctest: +SKIP
    """

    def __init__(
        self,
        time_key: str = "time",
        use_rep: str = _keys.USE_REP,
        *,
        device: str = "auto",
        random_state: int | None = 0,
        effort: Effort = "default",
        config: Config | None = None,
    ):
        config = Config() if config is None else config
        if not isinstance(config, Config):
            raise TypeError(f"config must be a wf.tl.Config, got {type(config).__name__}; e.g. wf.tl.Config(hidden=64)")
        self.time_key, self.use_rep = time_key, use_rep
        self.device_request, self.random_state = device, seed(random_state)
        self.device = resolve_device(device)
        self.config, self.effort = config, effort
        self.train = config.train_config(effort)
        self.core: WeightFlowCore | None = None
        self.history: dict = {}
        self.time_labels: list[str] | None = None

    @property
    def core_kwargs(self) -> dict[str, Any]:
        """The architecture settings that differ from the defaults (:meth:`Config.core_kwargs`)."""
        return self.config.core_kwargs()

    @property
    def min_cells(self) -> int:
        return self.config.min_cells

    @property
    def n_threads(self) -> int | str | None:
        return self.config.n_threads

    # ------------------------------------------------------------------ fitting
    def fit(self, adata: AnnData, *, progress: bool = True) -> WeightFlow:
        """Fit both stages to the snapshots in ``adata`` (read only; nothing is written)."""
        t, labels = encode_time(adata, self.time_key)
        X = get_representation(adata, self.use_rep)
        return self.fit_arrays(X, t, labels=labels, progress=progress)

    def fit_arrays(
        self, X: np.ndarray, t: np.ndarray, *, labels: list[str] | None = None, progress: bool = True
    ) -> WeightFlow:
        """Fit both stages to cells ``X`` (n, d) observed at times ``t`` (n,): the array-level API.

        ``labels`` names the sorted distinct times (ordinal time labels), if any. Returns ``self``.
        """
        t = np.asarray(t, dtype=np.float64)
        times = check_time_points(t, self.time_key, self.min_cells)
        check_representation(X, self.use_rep, smallest=int(min((t == s).sum() for s in times)))
        config = CoreConfig(dim=X.shape[1], n_times=len(times), **self.core_kwargs)
        dev = self.device
        snapshots = [torch.as_tensor(X[t == s], dtype=torch.float32, device=dev) for s in times]
        tqdm = None
        if progress:
            from tqdm.auto import tqdm
        start = _time.perf_counter()
        with torch_threads(self.n_threads), torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(self.random_state)
            generator = torch.Generator().manual_seed(self.random_state)  # CPU; sampling gets its own
            core, history = fit_weightflow(
                snapshots, torch.as_tensor(times, dtype=torch.float64), config, self.train, generator, tqdm
            )
        history["fit_seconds"] = _time.perf_counter() - start
        self.core, self.history, self.time_labels = core, history, labels
        log.info("fitted WeightFlow on %d cells, %d times in %.1f s", len(X), len(times), history["fit_seconds"])
        return self

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> WeightFlowCore:
        if self.core is None:
            raise RuntimeError("this WeightFlow is not fitted yet; call .fit(adata) first")
        return self.core

    @property
    def times(self) -> np.ndarray:
        """Training times (real units, sorted)."""
        core = self._check_fitted()
        return core.times.detach().cpu().numpy().astype(float)

    @property
    def dim(self) -> int:
        """Number of dimensions of the modelled representation (``use_rep``)."""
        return self._check_fitted().config.dim

    def _tau(self, t) -> torch.Tensor:
        """Normalized times of ``t`` (float32), held at the fitted range's ends outside it (with a warning)."""
        core = self._check_fitted()
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        if not np.isfinite(t).all():
            raise ValueError("times must be finite")
        tau = core.to_tau(torch.as_tensor(t, device=core.tau.device))
        outside = self._outside(tau)
        if outside.any():
            lo, hi = float(core.t_range[0]), float(core.t_range[1])
            bad = sorted(set(t[outside].tolist()))
            warnings.warn(
                f"times {bad[:5]} lie outside the fitted range [{lo:g}, {hi:g}]; the model says nothing there, so "
                f"the population is held at the nearest fitted time ({lo:g} or {hi:g}) and its drift is 0. "
                "Fit on snapshots that cover the times you need.",
                UserWarning,
                stacklevel=3,
            )
        return tau.clamp(0.0, 1.0).float()

    @staticmethod
    def _outside(tau: torch.Tensor) -> np.ndarray:
        """Which normalized times lie outside the fitted range [0, 1] beyond the margin."""
        return ((tau < -TIME_MARGIN) | (tau > 1 + TIME_MARGIN)).cpu().numpy()

    def _check_x(self, x) -> torch.Tensor:
        core = self._check_fitted()
        x = np.ascontiguousarray(x, dtype=np.float32)  # torch refuses negative strides
        if x.ndim != 2 or x.shape[1] != core.config.dim:
            raise ValueError(
                f"cells must be an array (n, {core.config.dim}) in the {self.use_rep!r} space the model was "
                f"fitted on; got shape {x.shape}"
            )
        return (torch.as_tensor(x, device=core.tau.device) - core.x_mean) / core.x_scale

    def _per_cell_times(self, t, n: int) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if t.ndim == 0:
            return np.full(n, float(t))
        if t.shape != (n,):
            raise ValueError(f"t must be a scalar or one time per cell ({n}), got shape {t.shape}")
        return t

    # ------------------------------------------------------------------ queries
    def weights(self, t, *, start: str = "nearest") -> np.ndarray:
        """Backbone weights ``theta(t)`` at each time in ``t``: (len(t), P)."""
        core = self._check_fitted()
        with torch.no_grad(), torch_threads(self.n_threads):
            return core.weights(self._tau(t), start=start).cpu().numpy()

    def sample(
        self, t: float, n_cells: int = 1000, *, random_state: int | None = 0, start: str = "nearest"
    ) -> np.ndarray:
        """Generate ``n_cells`` cells of the population at time ``t`` in the ``use_rep`` space: (n_cells, d)."""
        core = self._check_fitted()
        if np.ndim(t) != 0:
            raise ValueError("sample takes one time; loop or use wf.tl.interpolate for several")
        check_count(n_cells, "n_cells")
        gen = torch.Generator(device=core.tau.device)
        gen.manual_seed(self.random_state if random_state is None else int(random_state))
        with torch.no_grad(), torch_threads(self.n_threads, int(n_cells)):
            theta = core.weights(self._tau(t), start=start)[0]
            x = core.sample(theta, int(n_cells), gen)
        return (x * core.x_scale + core.x_mean).cpu().numpy()

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict:
        core = self._check_fitted()
        return {
            "time_key": self.time_key,
            "use_rep": self.use_rep,
            "random_state": self.random_state,
            "device": str(self.device_request),
            "effort": self.effort,
            "core": core.config.to_dict(),
            "train": {k: v for k, v in asdict(self.train).items() if v is not None},
        }

    def state(self) -> dict:
        """Everything needed to rebuild the model: format, config, weights (tensors), time labels."""
        core = self._check_fitted()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": self._config(),
            "state_dict": {k: v.detach().cpu() for k, v in core.state_dict().items()},
            "time_labels": list(self.time_labels) if self.time_labels else [],
        }

    @classmethod
    def from_state(cls, state: dict, *, device: str = "auto") -> WeightFlow:
        """Rebuild a fitted model from :meth:`state` (tensors or numpy arrays)."""
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"not a saved WeightFlow model (found {found!r}, expected format {FORMAT!r})")
        missing = [k for k in ("config", "state_dict") if k not in state]
        if missing:
            raise ValueError(f"saved WeightFlow model is incomplete: missing {missing}")
        if int(state.get("format_version", -1)) > FORMAT_VERSION:
            raise ValueError(
                f"model format {state['format_version']} is newer than this wf_sc understands ({FORMAT_VERSION}); upgrade wf_sc"
            )
        cfg = state["config"]
        core_cfg = {k: plain(v) for k, v in cfg["core"].items()}
        core_cfg.setdefault("path", "cubic")  # models saved before the control path was a setting
        train = {k: plain(v) for k, v in cfg.get("train", {}).items() if k in _TRAIN_FIELDS}
        core = build_core(core_cfg, state["state_dict"])
        try:
            config = Config(**({k: v for k, v in core_cfg.items() if k in _CORE_FIELDS} | train))
        except (TypeError, ValueError) as err:
            raise ValueError(f"saved WeightFlow model has an invalid configuration: {err}") from err
        model = cls(
            time_key=str(cfg["time_key"]),
            use_rep=str(cfg["use_rep"]),
            device=device,
            random_state=int(cfg["random_state"]),
            config=config,  # the steps as trained, whatever the effort was
        )
        model.core = core.to(model.device).eval()
        labels = state.get("time_labels")
        model.time_labels = [str(v) for v in labels] if labels is not None and len(labels) else None
        return model

    def save(self, path: str | Path) -> None:
        """Save weights and settings with :func:`torch.save` (no pickled code)."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{path} is a folder; give a file name to save the model to, e.g. {path / 'model.pt'}")
        if not path.parent.is_dir():
            raise ValueError(f"folder {path.parent} does not exist; create it first")
        torch.save(self.state(), path)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> WeightFlow:
        """Load a model saved by :meth:`save` (``torch.load(weights_only=True)``)."""
        try:
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as err:  # torch raises many types for foreign files
            raise ValueError(f"{path} is not a saved WeightFlow model ({type(err).__name__}: {err})") from err
        return cls.from_state(state, device=device)

    def to_uns(self) -> dict:
        """The model as an h5ad-safe dict (numpy arrays, numbers, strings)."""
        return to_numpy_tree(self.state())

    @classmethod
    def from_adata(cls, adata: AnnData, key: str = _keys.UNS, *, device: str = "auto") -> WeightFlow:
        """Rebuild the model stored by :func:`wf_sc.tl.fit` in ``adata.uns[key]``."""
        if key not in adata.uns or _keys.MODEL not in adata.uns[key]:
            raise KeyError(
                f"no fitted WeightFlow in adata.uns[{key!r}] (uns keys: {list(adata.uns.keys())}); "
                "run wf.tl.fit(adata, time_key=...) first, or pass key= the key_added of that fit."
            )
        model = cls.from_state(adata.uns[key][_keys.MODEL], device=device)
        model.history = adata.uns[key].get(_keys.HISTORY, {})
        return model

    def __repr__(self) -> str:
        if self.core is None:
            return f"WeightFlow(time_key={self.time_key!r}, use_rep={self.use_rep!r}, unfitted)"
        c = self.core.config
        return (
            f"WeightFlow(time_key={self.time_key!r}, use_rep={self.use_rep!r}, dim={c.dim}, "
            f"times={self.times.round(4).tolist()}, weights={self.core.backbone.n_params})"
        )



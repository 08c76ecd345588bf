"""``wf.tl.fit`` and ``wf.tl.interpolate``: the AnnData entry points of the model."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys
from .._bridge import encode_time, get_representation, write_or_restore
from .._logging import get_logger
from ._config import Config, Effort
from ._model import WeightFlow
from ._moving import meet_observed
from ._record import to_numpy_tree
from ._settings import check_count, seed

log = get_logger(__name__)


#: how :func:`interpolate` makes cells at a time: observed cells carried there along the model's flow
#: from both neighbouring snapshots and met (the default; see :func:`meet_observed`) or fresh
#: samples of the model's density
PREDICTIONS: tuple[str, ...] = ("meet", "sample")


def _met_cells(
    model: WeightFlow, adata: AnnData, times: np.ndarray, n: int, random_state: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Observed cells of ``adata`` carried to each of ``times`` and met (:func:`meet_observed` per time)."""
    t_cells, _ = encode_time(adata, model.time_key, warn=False)
    X = get_representation(adata, model.use_rep)
    if X.shape[1] != model.dim:
        raise ValueError(
            f"adata.obsm[{model.use_rep!r}] has {X.shape[1]} columns now, but the fit used {model.dim} (was the "
            "representation recomputed?); refit with wf.tl.fit, or use prediction='sample'"
        )
    if not adata.obs_names.is_unique:
        warnings.warn(
            "adata.obs_names are not unique, so obs['source_cell'] cannot name each moved cell's origin; "
            "run adata.obs_names_make_unique() first",
            UserWarning,
            stacklevel=3,
        )
    observed = np.unique(t_cells[np.isfinite(t_cells)])
    if len(observed) == 0:
        raise ValueError(f"prediction='meet' needs observed cells; adata.obs[{model.time_key!r}] has no times")
    # the observed values the model's training times came from (robust to any rounding)
    fitted = observed[np.abs(observed[:, None] - model.times[None, :]).argmin(0)]
    parts = [
        meet_observed(model, X, t_cells, fitted, float(t), n, np.random.default_rng(random_state + i))
        for i, t in enumerate(times)
    ]
    short = _repeated_snapshots(t_cells, parts)
    if short:
        listed = ", ".join(f"{c} at time {u:g}" for u, c in short)
        warnings.warn(
            f"n_cells={n} is more than the cells observed in a snapshot that prediction='meet' moves ({listed}): "
            "each of its cells is used once or more, as evenly as the count allows (obs['source_cell'] "
            "and obs['partner_cell'] name them); "
            f"ask for at most {min(c for _, c in short)} cells, or use prediction='sample' for independent draws "
            "of the model's density",
            UserWarning,
            stacklevel=3,
        )
    return tuple(np.concatenate(column) for column in zip(*parts))


def _repeated_snapshots(t_cells: np.ndarray, parts: list[tuple]) -> list[tuple[float, int]]:
    """The snapshots whose cells the met cells ``parts`` (:func:`~wf_sc.tl._moving.meet_observed`'s
    results, without growth) use more than once: ``[(time, cells observed there)]``.

    Such a draw is without replacement unless the snapshot holds fewer cells than asked for, and then
    it repeats a cell, so a repeated row names a snapshot that was too small."""
    repeated = set()
    for _, rows, _, partners in parts:
        cells, counts = np.unique(np.concatenate([rows, partners[partners >= 0]]), return_counts=True)
        repeated.update(t_cells[cells[counts > 1]].tolist())
    return sorted((u, int(np.sum(t_cells == u))) for u in repeated)


def _as_times(times, model: WeightFlow) -> np.ndarray:
    """Times as floats; time labels of an ordinal fit (``"mid"``) become their positions."""
    values = np.atleast_1d(np.asarray(times, dtype=object))
    labels = list(model.time_labels or [])
    out = []
    for v in values.ravel():
        if isinstance(v, str) and v in labels:
            out.append(float(labels.index(v)))
            continue
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            known = f"; the fit's time labels are {labels} (at positions 0..{len(labels) - 1})" if labels else ""
            raise ValueError(
                f"times must be numbers in the units of obs[{model.time_key!r}], got {v!r}{known}"
            ) from None
    return np.asarray(out, dtype=float).reshape(values.shape)


def population_grid(times: np.ndarray) -> np.ndarray:
    """Observed times and the midpoints between consecutive ones, sorted."""
    return np.sort(np.concatenate([times, (times[:-1] + times[1:]) / 2]))


def fit(
    adata: AnnData,
    time_key: str = "time",
    *,
    use_rep: str = _keys.USE_REP,
    key_added: str = _keys.UNS,
    device: str = "auto",
    random_state: int | None = 0,
    population_times: Sequence[float] | None = None,
    n_population_cells: int = 300,
    effort: Effort = "default",
    config: Config | None = None,
    progress: bool = True,
    copy: bool = False,
) -> AnnData | None:
    """Fit WeightFlow to a time course and write densities, drift and populations to ``adata``.

    Stage 1 fits one autoregressive density network per time point (warm-started in time order);
    Stage 2 learns a graph neural CDE that evolves those weights through time along a control path
    through the anchors. From the fitted model every cell gets its drift and log-density at its
    own time, and populations are generated on a time grid. ``adata`` is only written once
    everything has been computed: an error or interrupt leaves it as it was.

    Parameters
    ----------
    adata
        Annotated data matrix with a time column and a representation.
    time_key
        Column of ``adata.obs`` with each cell's time (numeric, numeric strings or ordered
        categorical).
    use_rep
        Representation to model: a key of ``adata.obsm`` (default ``"X_pca"``) or ``"X"``.
    key_added
        Namespace in ``adata.uns``; a non-default key also renames the per-cell outputs (see
        Returns) so several fits can live side by side. Only keys an earlier fit wrote are
        replaced: a name taken by anything else (``"pca"``, ``"neighbors"``, a user's array) is
        refused before any work, with a free name in the message.
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
    random_state
        Seed; the same seed gives the same results on CPU. ``None`` draws one (recorded in
        ``uns[key_added]['params']``).
    population_times
        Times at which to store generated populations; default: observed times and midpoints.
    n_population_cells
        Generated cells per population time.
    effort
        Training length: ``"default"`` (the benchmarked budget), ``"fast"`` (a quarter of the
        steps, for a first look) or ``"thorough"`` (three times the steps).
    config
        Architecture and training settings for experts (:class:`~wf_sc.tl.Config`, e.g.
        ``wf.tl.Config(hidden=64)``); default: the package defaults.
    progress
        Show progress bars.
    copy
        Return a fitted copy instead of writing to ``adata``.

    Returns
    -------
    ``None`` or a copy (``copy=True``), with

    ``adata.uns[key_added]``
        ``params`` (settings, None dropped), ``times`` (training times), ``time_labels``,
        ``history`` (``stage1``: per-time NLL, validation curves, steps; ``stage2``: loss terms
        per step; ``bridge_share``: per interval between time points, how much of the way the
        straight-line bridge covers rather than the learned dynamics, 0 to 1; ``fit_seconds``), ``nll`` (per-time ``train``/``validation`` NLL per cell in
        ``use_rep`` units), ``standardization`` (``mean``, ``scale``), ``model`` (the fitted model
        as arrays + config, reloadable with :meth:`WeightFlow.from_adata`), ``populations``
        (``X`` generated cells, ``time``), ``keys`` (names of the per-cell outputs).
    ``adata.obsm['wf_velocity']``
        Drift of each cell at its own time in ``use_rep`` units per time unit
        (``{key_added}_velocity`` for a non-default ``key_added``).
    ``adata.obs['wf_log_density']``
        Log-density of each cell at its own time in ``use_rep`` space
        (``{key_added}_log_density`` for a non-default ``key_added``).
    """
    _keys.check_free(adata, key_added)
    check_count(n_population_cells, "n_population_cells")
    if population_times is not None:
        population_times = np.atleast_1d(np.asarray(population_times, dtype=float))
        if population_times.ndim != 1 or len(population_times) == 0 or not np.isfinite(population_times).all():
            raise ValueError(
                f"population_times must be a non-empty sequence of finite times, got {population_times.tolist()}; "
                "leave it None for the observed times and their midpoints"
            )
    t, labels = encode_time(adata, time_key)
    X = get_representation(adata, use_rep)
    model = WeightFlow(time_key, use_rep, device=device, random_state=random_state, effort=effort, config=config)
    model.fit_arrays(X, t, labels=labels, progress=progress)
    adata = adata.copy() if copy else adata
    velocity, log_density = model.drift_and_log_density(X, t)
    velocity, log_density = velocity.astype(np.float32), log_density.astype(np.float64)
    grid = population_grid(model.times) if population_times is None else np.asarray(population_times, float)
    pops = [model.sample(s, n_population_cells, random_state=model.random_state + i) for i, s in enumerate(grid)]
    uns = _fit_record(model, grid, pops, key_added)
    _write(adata, key_added, uns, velocity, log_density)
    return adata if copy else None


def _fit_record(model: WeightFlow, grid: np.ndarray, pops: list[np.ndarray], key_added: str) -> dict:
    core = model.core
    shift = float(np.log(core.x_scale.cpu().numpy()).sum())
    s1 = model.history["stage1"]
    vkey, dkey = _keys.output_keys(key_added)
    params = {k: v for k, v in model.state()["config"].items() if k not in ("core", "train")}
    params.update(model.state()["config"]["core"])
    params.update(model.state()["config"]["train"])
    return to_numpy_tree(
        {
            _keys.PARAMS: params,
            _keys.TIMES: model.times,
            "time_labels": list(model.time_labels) if model.time_labels else None,
            _keys.HISTORY: model.history,
            _keys.NLL: {
                "train": np.asarray(s1["train_nll"]) + shift,
                "validation": np.asarray(s1["val_nll"]) + shift,
            },
            _keys.STANDARDIZATION: {"mean": core.x_mean, "scale": core.x_scale},
            _keys.MODEL: model.to_uns(),
            _keys.POPULATIONS: {
                "X": np.concatenate(pops).astype(np.float32),
                "time": np.repeat(grid, [len(p) for p in pops]),
            },
            "keys": {"velocity": vkey, "log_density": dkey},
        }
    )


def _write(adata: AnnData, key_added: str, uns: dict, velocity: np.ndarray, log_density: np.ndarray) -> None:
    """Write all outputs; on any interruption restore what was there before."""
    vkey, dkey = _keys.output_keys(key_added)
    write_or_restore(adata, {("uns", key_added): uns, ("obsm", vkey): velocity, ("obs", dkey): log_density})
    log.info("wrote uns[%r], obsm[%r], obs[%r]", key_added, vkey, dkey)
    _drop_stale_projections(adata, vkey)


def _drop_stale_projections(adata: AnnData, vkey: str) -> None:
    """A new drift makes its old embedding projections (``wf.tl.velocity_embedding``) stale: remove them."""
    pkey = _keys.velocity_params(vkey)
    params = adata.uns.get(pkey)
    if params is None:
        return
    names = [str(b) for b in np.atleast_1d(params.get("embeddings", []))] if hasattr(params, "get") else []
    for name in names:
        adata.obsm.pop(_keys.velocity_basis(name, vkey), None)
    del adata.uns[pkey]
    log.info("removed the projections of the previous drift %s (uns[%r]); rerun wf.tl.velocity_embedding", names, pkey)


def interpolate(
    adata: AnnData,
    times: float | Sequence[float],
    *,
    n_cells: int = 1000,
    key: str = _keys.UNS,
    decode: bool = False,
    random_state: int | None = 0,
    prediction: Literal["meet", "sample"] = "meet",
) -> AnnData:
    """Generate cells from the fitted model at any times (observed or not).

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit` (the model is read from ``uns[key]``).
    times
        One time or a sequence of times, in the units of the time column.
    n_cells
        Cells generated per time.
    key
        Namespace of the fit in ``adata.uns``.
    decode
        Decode the generated PCA coordinates to genes through ``adata.varm['PCs']``,
        ``X = Y PCs^T + c``, the inverse of ``sc.pp.pca``: ``c`` are the gene means of the PCA's
        input (``adata.X``, or ``adata.layers[layer]`` as recorded in ``adata.uns['pca']``), ``0``
        with ``zero_center=False``; genes outside a ``mask_var`` decode to ``c``. Needs
        ``use_rep="X_pca"``.
    random_state
        Seed of the sampling.
    prediction
        ``"meet"``: between two observed times, ``n_cells`` observed cells of each are moved to
        the time along the model's flow (:meth:`~wf_sc.tl.WeightFlow.transport`), forward from
        the earlier and backward from the later, paired by exact optimal transport where they
        arrive and averaged with weights ``1 - s`` and ``s`` (``s`` the time's position between
        the two): where the flow is exact both sides land on the same population, and where it
        moves nothing this is optimal-transport interpolation. At an observed time, or outside the
        observed range, the nearest snapshot's cells are moved. A snapshot with fewer than
        ``n_cells`` cells has each of its cells used ``n_cells // N`` times and a random
        ``n_cells % N`` of them once more (with a warning). ``obs['source_cell']`` and
        ``obs['source_time']`` name the earlier cell of each pair, ``obs['partner_cell']`` the later
        one (empty where there is none), so their annotations can be carried along. The pairing is
        exact up to 2,048 cells per time (about 1.4 s at 2,048 cells on one CPU core) and made in
        random blocks of 2,048 above. This is what the leave-one-out benchmark scores
        (``docs/benchmarks.md``). Met cells are less spread than the real population: their mean
        squared distance to the centroid was 0.80 of the real cells' on EMT 10-D and 0.75 on the
        dendritic cells at 30 PCs, against 0.90 and 0.82 for unpaired transported cells
        (``benchmarks/meet_spread.py``). ``"sample"``: fresh, independent cells of the model's
        density at each time, with no averaging.

    Returns
    -------
    A new AnnData of ``len(times) * n_cells`` generated cells with ``obs['time']`` and
    ``obsm[use_rep]`` (the generated coordinates; ``obsm['X_wf']`` for a fit on ``use_rep="X"``).
    ``X`` holds the coordinates, or the decoded genes (``var_names`` of ``adata``) with
    ``decode=True``. ``adata`` is not modified.
    """
    model = WeightFlow.from_adata(adata, key)
    check_count(n_cells, "n_cells")
    random_state = seed(random_state)
    times = _as_times(times, model)
    if times.ndim != 1 or len(times) == 0:
        raise ValueError("times must be a number or a non-empty 1-D sequence of numbers")
    if not np.isfinite(times).all():
        raise ValueError(f"times must be finite, got {times[~np.isfinite(times)].tolist()}")
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction {prediction!r}, known are {list(PREDICTIONS)}")
    obs = pd.DataFrame({"time": np.repeat(times, n_cells)})
    if prediction == "sample":
        Y = np.concatenate(
            [model.sample(s, n_cells, random_state=random_state + i) for i, s in enumerate(times)]
        )
    else:
        Y, rows, source_times, partners = _met_cells(model, adata, times, n_cells, random_state)
        names = np.asarray(adata.obs_names, dtype=object)
        obs[_keys.SOURCE_CELL] = names[rows]
        obs[_keys.SOURCE_TIME] = source_times
        obs[_keys.PARTNER_CELL] = np.where(partners >= 0, names[np.maximum(partners, 0)], "")
    obs.index = [f"gen_{i}" for i in range(len(Y))]
    if decode:
        if model.use_rep != _keys.USE_REP or "PCs" not in adata.varm:
            raise ValueError("decode=True needs a fit on use_rep='X_pca' and adata.varm['PCs'] (run sc.pp.pca)")
        pcs = np.asarray(adata.varm["PCs"])[:, : Y.shape[1]]
        # centre as sc.pp.pca did (uns['pca']['params']): column means of its input (X or a layer),
        # none with zero_center=False
        pca_params = adata.uns.get("pca", {}).get("params", {})
        layer = pca_params.get("layer")
        if layer is not None and layer not in adata.layers:
            raise ValueError(f"decode=True: the PCA was computed on adata.layers[{layer!r}], which is gone")
        source = adata.layers[layer] if layer is not None else adata.X
        zero_center = bool(pca_params.get("zero_center", True))
        mean = np.asarray(source.mean(0), dtype=np.float64).ravel() if zero_center else np.zeros(pcs.shape[0])
        out = AnnData(X=(Y @ pcs.T + mean).astype(np.float32), obs=obs)
        out.var_names = adata.var_names.copy()
    else:
        out = AnnData(X=Y.astype(np.float32), obs=obs)
        out.var_names = [f"{model.use_rep}_{j + 1}" for j in range(Y.shape[1])]
    out.obsm[model.use_rep if model.use_rep != "X" else "X_wf"] = Y.astype(np.float32)
    out.uns["wf_interpolate"] = {"key": key, "n_cells": int(n_cells), "prediction": prediction}
    return out

"""``wf.tl.trajectories``: observed cells moved along the fitted flow to a grid of times, and their fates."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys
from .._bridge import encode_time, get_representation, write_or_restore
from .._logging import get_logger
from ._model import WeightFlow
from ._moving import move_along, time_grid
from ._settings import seed

log = get_logger(__name__)

def fates(
    end: np.ndarray, reference: np.ndarray, labels: pd.Series, n_neighbors: int
) -> tuple[pd.Categorical, pd.DataFrame]:
    """The cluster of each end point among the ``n_neighbors`` nearest ``reference`` cells (majority),
    and the fraction of those neighbours in each cluster (rows of NaN ends stay NaN)."""
    from scipy.spatial import cKDTree

    labels = labels.astype("category")
    cats = labels.cat.categories
    probs = np.full((len(end), len(cats)), np.nan)
    ok = np.isfinite(end).all(1)
    k = int(min(n_neighbors, len(reference)))
    if ok.any():
        _, idx = cKDTree(reference).query(end[ok], k=k)
        codes = labels.cat.codes.to_numpy()[np.asarray(idx).reshape(ok.sum(), k)]
        probs[ok] = np.stack([(codes == c).mean(1) for c in range(len(cats))], axis=1)
    fate = np.full(len(end), None, dtype=object)
    fate[ok] = np.asarray(cats)[probs[ok].argmax(1)]
    return pd.Categorical(fate, categories=cats), pd.DataFrame(probs, columns=[str(c) for c in cats])


def _select(adata: AnnData, cells) -> np.ndarray:
    """Row indices of ``cells``: obs names or a boolean mask over ``adata``; ``None``: every cell."""
    if cells is None:
        return np.arange(adata.n_obs)
    arr = np.asarray(cells)
    if arr.dtype == bool:
        if arr.shape != (adata.n_obs,):
            raise ValueError(f"a boolean cells mask needs {adata.n_obs} entries (one per cell), got shape {arr.shape}")
        return np.flatnonzero(arr)
    names = pd.Index(adata.obs_names)
    missing = [c for c in np.atleast_1d(arr).tolist() if c not in names]
    if missing:
        raise KeyError(f"cells not in adata.obs_names: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return names.get_indexer(np.atleast_1d(arr))


def trajectories(
    adata: AnnData,
    *,
    cells: Sequence[str] | np.ndarray | None = None,
    times: Sequence[float] | None = None,
    n_steps: int = 4,
    sigma: float = 0.0,
    groupby: str | None = None,
    n_neighbors: int = 15,
    key: str = _keys.UNS,
    key_added: str = _keys.TRAJECTORIES,
    random_state: int | None = 0,
) -> AnnData:
    r"""Move observed cells along the fitted flow to a grid of times, store the paths and read off fates.

    Each chosen cell starts at its own observed time and is moved to every later time of the grid
    by the model's transport map, exactly (``sigma=0``), or along stochastic paths whose marginals
    stay on the fitted densities (``sigma > 0``; see :func:`move_along`). The last grid time gives
    each cell's end point; with ``groupby``, its fate is the cluster of the observed cells nearest
    that end point at the observed time nearest the end.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit`.
    cells
        Cells to move: obs names or a boolean mask; default: every cell.
    times
        Grid of times; default: the fitted times with ``n_steps`` steps inside each interval.
    n_steps
        Steps per interval of the default grid.
    sigma
        Noise of stochastic paths, in ``use_rep`` units per square root of a time unit; 0: the
        deterministic transport. Snapshots cannot tell ``sigma``: every value keeps the paths on
        the same fitted densities, so it is not estimated from them. Take it from what measures
        single-cell spread, such as lineage tracing (sister cells' distance after a known time).
    groupby
        Categorical column of ``adata.obs`` (e.g. clusters) for the fate readout.
    n_neighbors
        Observed cells around each end point that vote on its fate.
    key
        Namespace of the fit in ``adata.uns``.
    key_added
        Namespace of the paths in ``adata.uns``; also names the per-cell outputs below.
    random_state
        Seed of the noise of stochastic paths.

    Returns
    -------
    An AnnData of path points (``X`` and ``obsm[use_rep]``: positions; ``obs``: ``source_cell``,
    ``source_time``, ``time``), and in ``adata``:

    ``adata.uns['wf_trajectories']``
        ``cell`` (obs name of each path point's cell), ``time``, ``X`` (positions in ``use_rep``),
        ``params``, ``keys``, ``format``.
    ``adata.obsm['wf_trajectories_end']``
        Where each moved cell is at the last grid time (NaN for cells not moved).
    ``adata.obs['wf_trajectories_fate']``, ``adata.obsm['wf_trajectories_fate_probabilities']``
        With ``groupby``: the fate cluster and the fraction of the end point's neighbours in each
        cluster.

    (``{key_added}_end`` and so on for another ``key_added``.)
    """
    out_keys = _keys.trajectory_keys(key_added)
    _keys.check_own(adata, key_added, _keys.TRAJECTORIES_FORMAT, obs=(out_keys["fate"],),
                    obsm=(out_keys["end"], out_keys["fate_probabilities"]))
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if groupby is not None and groupby not in adata.obs.columns:
        raise KeyError(f"groupby {groupby!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})")
    model = WeightFlow.from_adata(adata, key)
    grid = time_grid(model.times, n_steps) if times is None else np.sort(np.atleast_1d(np.asarray(times, float)))
    if grid.ndim != 1 or len(grid) == 0 or not np.isfinite(grid).all():
        raise ValueError(f"times must be a non-empty sequence of finite numbers, got {times!r}")
    t_cells, _ = encode_time(adata, model.time_key, warn=False)
    X = get_representation(adata, model.use_rep)
    rows = _select(adata, cells)
    rows = rows[np.isfinite(t_cells[rows]) & (t_cells[rows] <= grid[-1])]
    if len(rows) == 0:
        raise ValueError("no chosen cell has a time at or before the last grid time")
    random_state = seed(random_state)  # drawn once when None, so the record names the seed used
    rng = np.random.default_rng(random_state)
    paths = np.full((len(grid), len(rows), X.shape[1]), np.nan)  # (grid time, moved cell, dim)
    for t0 in np.unique(t_cells[rows]):
        group = np.flatnonzero(t_cells[rows] == t0)
        paths[:, group] = move_along(model, X[rows[group]], float(t0), grid, sigma=float(sigma), rng=rng)
    g_idx, j_idx = np.nonzero(np.isfinite(paths).all(2))
    order = np.lexsort((g_idx, j_idx))
    g_idx, j_idx = g_idx[order], j_idx[order]
    c_idx = rows[j_idx]
    names = np.asarray(adata.obs_names).astype(str)
    end = np.full((adata.n_obs, X.shape[1]), np.nan, dtype=np.float32)
    end[rows] = paths[-1]
    uns = {
        "format": _keys.TRAJECTORIES_FORMAT,
        "cell": names[c_idx],
        "time": grid[g_idx],
        "X": paths[g_idx, j_idx].astype(np.float32),
        "params": {"key": key, "use_rep": model.use_rep, "n_steps": int(n_steps), "sigma": float(sigma),
                   "random_state": random_state, "groupby": groupby or ""},
        "keys": {"end": out_keys["end"]},
    }
    fate = probs = None
    if groupby is not None:
        observed = np.unique(t_cells[np.isfinite(t_cells)])
        last = observed[np.abs(observed - grid[-1]).argmin()]
        ref = t_cells == last
        fate, probs = fates(end.astype(np.float64), X[ref], adata.obs[groupby][ref], n_neighbors)
        probs.index = adata.obs_names
        uns["keys"].update(fate=out_keys["fate"], fate_probabilities=out_keys["fate_probabilities"])
    _write(adata, key_added, uns, end, fate, probs)
    if np.isnan(end[rows]).any():
        warnings.warn(f"{int(np.isnan(end[rows]).any(1).sum())} cell paths became non-finite (far outside the data)",
                      UserWarning, stacklevel=2)
    obs = pd.DataFrame({_keys.SOURCE_CELL: names[c_idx], _keys.SOURCE_TIME: t_cells[c_idx], "time": grid[g_idx]})
    if fate is not None:
        obs["fate"] = np.asarray(fate)[c_idx]
    obs.index = [f"{c}@{t:g}" for c, t in zip(names[c_idx], grid[g_idx])]
    points = AnnData(X=uns["X"], obs=obs)
    points.obsm[model.use_rep if model.use_rep != "X" else "X_wf"] = uns["X"]
    log.info("moved %d cells to %d times (%s)", len(rows), len(grid), "stochastic" if sigma else "transport map")
    return points


def _write(adata: AnnData, key_added: str, uns: dict, end, fate, probs) -> None:
    """Write every output, all or nothing, dropping outputs of an earlier run that this one does not write."""
    keys = _keys.trajectory_keys(key_added)
    write_or_restore(adata, {("obsm", keys["end"]): end, ("obs", keys["fate"]): fate,
                             ("obsm", keys["fate_probabilities"]): probs, ("uns", key_added): uns})

"""Validate a time course AnnData, encode its time column and make sure a representation exists."""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .. import _keys
from .._logging import get_logger

log = get_logger(__name__)

#: fewest cells a time point may have (fit refuses fewer)
MIN_CELLS = 10


def encode_time(adata: AnnData, time_key: str) -> tuple[np.ndarray, list[str] | None]:
    """Numeric time of every cell and, for non-numeric ordered categories, the labels in order.

    Numeric columns are used as they are. Categorical or string columns whose values all parse as
    numbers use those numbers. Ordered categoricals with non-numeric labels (``"day2" < "day4"``)
    use the category positions 0, 1, 2, ... Anything else is refused with the fix in the message.
    """
    if time_key not in adata.obs.columns:
        raise KeyError(
            f"time column {time_key!r} not found in adata.obs; available columns: {list(adata.obs.columns)}. "
            "Pass the column holding each cell's collection time as time_key=..."
        )
    col = adata.obs[time_key]
    labels = None
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.cat.remove_unused_categories()
        cats = col.cat.categories
        numeric = pd.to_numeric(pd.Series(np.asarray(cats, dtype=object)), errors="coerce")
        if not numeric.isna().any():
            values = np.asarray(numeric, dtype=float)[col.cat.codes.to_numpy()]
            values[col.cat.codes.to_numpy() < 0] = np.nan
        elif col.cat.ordered:
            values = col.cat.codes.to_numpy().astype(float)
            values[values < 0] = np.nan
            labels = [str(c) for c in cats]
        else:
            raise ValueError(
                f"obs[{time_key!r}] is an unordered categorical with non-numeric labels {list(cats)[:8]}; "
                "their order in time is unknown. Make it ordered, e.g. adata.obs[time_key] = "
                "pd.Categorical(adata.obs[time_key], categories=[...in time order...], ordered=True), "
                "or store numeric times."
            )
    elif pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
        raise ValueError(
            f"obs[{time_key!r}] holds {'datetime' if pd.api.types.is_datetime64_any_dtype(col) else 'timedelta'} "
            "values; give numeric times in the unit you want the drift "
            f"in, e.g. adata.obs['day'] = (t - t.min()) / pd.Timedelta(days=1) with t = adata.obs[{time_key!r}], "
            "then time_key='day'."
        )
    elif pd.api.types.is_bool_dtype(col):
        raise ValueError(f"obs[{time_key!r}] is boolean; store numeric times or an ordered categorical.")
    elif pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=float)
    else:
        numeric = pd.to_numeric(col, errors="coerce")
        bad = numeric.isna() & col.notna()
        if bad.any():
            raise ValueError(
                f"obs[{time_key!r}] holds non-numeric values such as {list(col[bad].unique()[:5])}, and "
                "strings have no order in time. Convert to numbers or to an ordered categorical: "
                "pd.Categorical(values, categories=[...in time order...], ordered=True)."
            )
        values = numeric.to_numpy(dtype=float)
    missing = ~np.isfinite(values)
    if missing.any():
        raise ValueError(
            f"obs[{time_key!r}] has {int(missing.sum())} cells without a finite time; drop them first, "
            f"e.g. adata = adata[np.isfinite(adata.obs[{time_key!r}])].copy()."
        )
    return values, labels


def check_time_points(t: np.ndarray, time_key: str, min_cells: int = MIN_CELLS) -> np.ndarray:
    """Sorted distinct times, refusing fewer than 2 time points or a time point with too few cells."""
    times, counts = np.unique(t, return_counts=True)
    if len(times) < 2:
        raise ValueError(
            f"obs[{time_key!r}] has {len(times)} distinct time point(s) ({times.tolist()}); "
            "WeightFlow needs snapshots at >= 2 times."
        )
    small = times[counts < min_cells]
    if len(small):
        raise ValueError(
            f"time point(s) {small.tolist()} of obs[{time_key!r}] have fewer than {min_cells} cells "
            f"(counts: {dict(zip(times.tolist(), counts.tolist()))}); drop or merge them."
        )
    return times


def get_representation(adata: AnnData, use_rep: str) -> np.ndarray:
    """The cells' coordinates ``adata.obsm[use_rep]`` (or ``adata.X`` for ``"X"``) as float32 (n, d)."""
    if use_rep == "X":
        X = adata.X
        if X is None:
            raise ValueError("use_rep='X' but adata.X is None.")
        if sparse.issparse(X):
            X = X.toarray()
    elif use_rep in adata.obsm:
        X = adata.obsm[use_rep]
    else:
        raise KeyError(
            f"representation {use_rep!r} not found in adata.obsm (available: {list(adata.obsm.keys())}). "
            "Run wf.pp.prepare(adata, time_key) or sc.pp.pca(adata) to compute 'X_pca', "
            "or pass use_rep='X' to use adata.X directly."
        )
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] < 1:
        raise ValueError(f"representation {use_rep!r} must be a 2-D array (cells x dims), got shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        raise ValueError(
            f"representation {use_rep!r} has NaN/inf in {len(rows)} cells (first: {adata.obs_names[rows[:5]].tolist()}); "
            "remove or impute them before fitting."
        )
    return X


def prepare(
    adata: AnnData,
    time_key: str,
    *,
    use_rep: str = _keys.USE_REP,
    n_comps: int = 30,
    min_cells: int = MIN_CELLS,
    key_added: str = _keys.TIME,
    copy: bool = False,
) -> AnnData | None:
    """Validate a time course and get it ready for :func:`wf_sc.tl.fit`.

    Checks the time column (numeric, numeric strings, or an ordered categorical), that there are
    at least two time points with ``min_cells`` cells each, and that the representation is
    finite. Computes PCA with :func:`scanpy.pp.pca` when ``use_rep="X_pca"`` is missing.

    Parameters
    ----------
    adata
        Annotated data matrix (cells x genes).
    time_key
        Column of ``adata.obs`` with each cell's collection time.
    use_rep
        Representation to fit on: a key of ``adata.obsm`` or ``"X"``.
    n_comps
        Number of principal components when PCA has to be computed.
    min_cells
        Fewest cells allowed at one time point.
    key_added
        Column of ``adata.obs`` receiving the numeric time.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None`` or a copy (``copy=True``), with

    ``adata.obs['wf_time']`` (or ``adata.obs[key_added]``)
        Numeric time of each cell (category positions for non-numeric ordered labels).
    ``adata.obsm['X_pca']``, ``adata.varm['PCs']``, ``adata.uns['pca']``
        Only when PCA was computed.
    """
    t, labels = encode_time(adata, time_key)
    check_time_points(t, time_key, min_cells)
    needs_pca = use_rep == _keys.USE_REP and use_rep not in adata.obsm
    get_representation(adata, "X" if needs_pca else use_rep)  # refuse NaN/inf before anything runs
    adata = adata.copy() if copy else adata
    if needs_pca:
        import scanpy as sc

        n = int(min(n_comps, adata.n_vars - 1, adata.n_obs - 1))
        log.info("computing PCA with %d components (scanpy)", n)
        sc.pp.pca(adata, n_comps=n)
    adata.obs[key_added] = t
    if labels is not None:
        log.info("time labels %s encoded as positions 0..%d", labels, len(labels) - 1)
    return adata if copy else None

"""The AnnData bridge: reading a time course out of an AnnData (time column, representation) and
checking it. ``pp``, ``tl``, ``pl`` and the benchmark read AnnData through these functions only.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

#: fewest cells a time point may have (fit refuses fewer)
MIN_CELLS = 10


def encode_time(adata: AnnData, time_key: str, *, warn: bool = True) -> tuple[np.ndarray, list[str] | None]:
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
            if warn:  # said once, when the time course is fitted or prepared
                _warn_ordinal(labels, time_key)
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
            f"e.g. adata = adata[np.isfinite(adata.obs[{time_key!r}].astype(float).to_numpy())].copy()."
        )
    return values, labels


#: consecutive time points closer than this fraction of the whole range cannot be told apart in the
#: model's float32 arithmetic
MIN_TIME_GAP = 1e-5


def _warn_ordinal(labels: list[str], time_key: str) -> None:
    """Ordinal labels are placed at 0, 1, 2, ...: say so, and say when numbers in them disagree."""
    numbers = [re.search(r"-?\d+(?:\.\d+)?", lab) for lab in labels]
    fix = (
        f"To use real times, store them as numbers, e.g. adata.obs['day'] = adata.obs[{time_key!r}]"
        ".map({...label: time...}).astype(float), and fit with time_key='day'."
    )
    if all(numbers):
        values = [float(m.group()) for m in numbers]
        if any(b <= a for a, b in zip(values, values[1:])):
            warnings.warn(
                f"the categories of obs[{time_key!r}] are ordered {labels}, but the numbers in the labels say "
                f"{[lab for _, lab in sorted(zip(values, labels))]}; the fit follows the category order. If that "
                f"is wrong, reorder the categories (pd.Categorical(..., categories=[...in time order...], "
                f"ordered=True)). {fix}",
                UserWarning,
                stacklevel=4,
            )
            return
    warnings.warn(
        f"obs[{time_key!r}] holds ordinal labels {labels[:8]}; they are placed at times 0..{len(labels) - 1}, "
        f"evenly spaced, and drift is per label step. {fix}",
        UserWarning,
        stacklevel=4,
    )


def check_time_points(t: np.ndarray, time_key: str, min_cells: int = MIN_CELLS) -> np.ndarray:
    """Sorted distinct times (float64), refusing fewer than 2 time points, a time point with too few
    cells, or time points too close to tell apart."""
    times, counts = np.unique(np.asarray(t, dtype=np.float64), return_counts=True)
    if len(times) < 2:
        raise ValueError(
            f"obs[{time_key!r}] has {len(times)} distinct time point(s) ({times.tolist()}); "
            "WeightFlow needs snapshots at >= 2 times."
        )
    small = times[counts < min_cells]
    if len(small):
        if len(times) > 50 and len(small) > len(times) / 2:
            raise ValueError(
                f"obs[{time_key!r}] has {len(times)} distinct values, most with fewer than {min_cells} cells: it looks "
                "like a continuous time (a pseudotime?), not snapshots. Bin it into collection times, e.g. "
                f"adata.obs['snapshot'] = pd.cut(adata.obs[{time_key!r}], 5).cat.codes, or use the real collection times."
            )
        shown = dict(list(zip(times.tolist(), counts.tolist()))[:12])
        raise ValueError(
            f"{len(small)} time point(s) of obs[{time_key!r}] have fewer than {min_cells} cells (first: "
            f"{small[:8].tolist()}; counts: {shown}{' ...' if len(times) > 12 else ''}); drop or merge them."
        )
    gaps = np.diff(times) / (times[-1] - times[0])
    if len(times) > 2 and gaps.min() < MIN_TIME_GAP:
        j = int(np.argmin(gaps))
        raise ValueError(
            f"time points {float(times[j])!r} and {float(times[j + 1])!r} of obs[{time_key!r}] are closer than "
            f"{MIN_TIME_GAP:g} of the whole range [{times[0]:g}, {times[-1]:g}] and cannot be told apart; "
            "if they are one time point, give them one value; if not, check the time units."
        )
    return times


def warn_counts(X, what: str, stacklevel: int = 3) -> None:
    """Warn when ``X`` (dense or sparse) looks like raw counts: non-negative integers, mostly zeros."""
    sample = X[: min(X.shape[0], 2000)]
    sample = sample.toarray() if sparse.issparse(sample) else np.asarray(sample)
    if sample.size and (sample >= 0).all() and np.allclose(sample, np.round(sample)) and (sample == 0).mean() > 0.3:
        warnings.warn(
            f"{what} looks like raw counts (non-negative integers, mostly zeros); densities and principal "
            "components of raw counts are dominated by depth. Normalize and log-transform first "
            "(sc.pp.normalize_total, sc.pp.log1p), then fit on principal components.",
            UserWarning,
            stacklevel=stacklevel,
        )


def check_representation(X: np.ndarray, use_rep: str, smallest: int | None = None) -> None:
    """Warn about dimensions that a density model cannot fit sensibly.

    Constant dimensions give the density no width (log-densities grow without bound), count-like
    values (non-negative integers) are discrete, more than 100 dimensions are slow, and as many
    dimensions as the smallest snapshot (``smallest``) has cells leave each density underdetermined.
    """
    std = X.std(0)
    flat = np.flatnonzero(std <= 1e-6 * max(float(std.max()), 1e-30))
    if len(flat):
        warnings.warn(
            f"representation {use_rep!r} has {len(flat)} constant dimension(s) (first: {flat[:5].tolist()}); the "
            "fitted density has no width there and its log-densities are meaningless. Drop them, or fit on "
            "principal components (wf.pp.prepare / sc.pp.pca).",
            UserWarning,
            stacklevel=3,
        )
    warn_counts(X, f"representation {use_rep!r}", stacklevel=4)
    if smallest is not None and X.shape[1] >= smallest:
        warnings.warn(
            f"representation {use_rep!r} has {X.shape[1]} dimensions but the smallest time point has only {smallest} "
            "cells: each snapshot's density is underdetermined. Fit on fewer principal components.",
            UserWarning,
            stacklevel=3,
        )
    if X.shape[1] > 100:
        warnings.warn(
            f"modelling {X.shape[1]} dimensions of {use_rep!r}; fitting is slow and the density thin. Fit on "
            "principal components (use_rep='X_pca', 30-50 components).",
            UserWarning,
            stacklevel=3,
        )


#: rows read at a time from a representation that is not an in-memory array
READ_CHUNK = 65_536


def read_rows(X, chunk: int = READ_CHUNK) -> np.ndarray:
    """An array-like of cells (numpy, scipy sparse, a backed ``.h5ad`` dataset, dask, zarr, ...) as a
    dense numpy array, read ``chunk`` rows at a time: only one chunk is ever held in another type."""
    if isinstance(X, np.ndarray):
        return X
    n = X.shape[0]
    parts = []
    for a in range(0, n, chunk):
        part = X[a : min(a + chunk, n)]
        if hasattr(part, "compute"):  # dask
            part = part.compute()
        if sparse.issparse(part):
            part = part.toarray()
        part = np.asarray(part)
        parts.append(part.astype(np.float64 if part.dtype.itemsize > 4 else np.float32, copy=False))
    return np.concatenate(parts) if parts else np.zeros((0,) + tuple(X.shape[1:]), dtype=np.float32)


def get_representation(adata: AnnData, use_rep: str) -> np.ndarray:
    """The cells' coordinates ``adata.obsm[use_rep]`` (or ``adata.X`` for ``"X"``) as float32 (n, d);
    backed, sparse and dask arrays are read in chunks of rows (:func:`read_rows`)."""
    if use_rep == "X":
        X = adata.X
        if X is None:
            raise ValueError("use_rep='X' but adata.X is None.")
    elif use_rep in adata.obsm:
        X = adata.obsm[use_rep]
    else:
        how = "Compute it or name one of the available keys" if len(adata.obsm) else "Compute it"
        if use_rep == "X_pca":
            how = "Run wf.pp.prepare(adata, time_key) or sc.pp.pca(adata) to compute it"
        raise KeyError(
            f"representation {use_rep!r} not found in adata.obsm (available: {list(adata.obsm.keys())}). "
            f"{how}, or pass use_rep='X' to use adata.X directly."
        )
    X = read_rows(X)
    X = np.asarray(X)
    if X.dtype.kind == "f" and X.dtype.itemsize > 4 and np.isfinite(X).all() and np.abs(X).max() > 1e38:
        raise ValueError(
            f"representation {use_rep!r} has values up to {np.abs(X).max():.3g}, beyond what float32 holds; "
            "rescale it (e.g. divide by its largest absolute value) or fit on principal components."
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


def write_or_restore(adata: AnnData, changes: dict[tuple[str, str], object]) -> None:
    """Apply ``{(store, key): value}`` to ``adata`` (store ``"uns"``, ``"obsm"`` or ``"obs"``; value
    ``None`` removes the key), all or nothing: on any error or interrupt every key is restored."""

    def put(store: str, key: str, value) -> None:
        target = getattr(adata, store)
        if value is not None:
            target[key] = value
        elif store == "obs":
            target.drop(columns=[key], errors="ignore", inplace=True)
        else:
            target.pop(key, None)

    before = {(s, k): getattr(adata, s).get(k) for s, k in changes}
    try:
        for (store, key), value in changes.items():
            put(store, key, value)
    except BaseException:
        for (store, key), old in before.items():
            put(store, key, old)
        raise

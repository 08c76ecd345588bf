"""Shared plumbing of the plots: reading a fit, times and colours, bases, saving and showing.

Everything here only reads the AnnData.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from anndata import AnnData

from .. import _keys
from .._logging import get_logger
from .._bridge import encode_time, get_representation
from ._project import EmbeddingProjection, embedding_projection

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap, Normalize
    from matplotlib.figure import Figure

log = get_logger(__name__)

_FIG_EXTENSIONS = {".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp", ".pgf"}


def fit_record(adata: AnnData, key: str) -> Any:
    """``adata.uns[key]`` of a fit, or a clear error saying how to get one."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"expected an AnnData, got {type(adata).__name__}")
    rec = adata.uns.get(key)
    if rec is None or not hasattr(rec, "keys") or _keys.MODEL not in rec:
        fits = [k for k, v in adata.uns.items() if hasattr(v, "keys") and _keys.MODEL in v]
        hint = f"; fits found under {fits}, pass key=..." if fits else ""
        raise KeyError(
            f"no WeightFlow fit in adata.uns[{key!r}]{hint}. Run wf.tl.fit(adata, time_key=...) first "
            "(or pass the key_added used then as key=...)."
        )
    return rec


def param(rec: Any, name: str, default: Any = None) -> Any:
    """A stored fit parameter as a plain Python value."""
    value = rec.get(_keys.PARAMS, {}).get(name, default)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def load_model(adata: AnnData, key: str):
    """The fitted :class:`~wf_sc.tl.WeightFlow` rebuilt from ``adata.uns[key]`` (read only)."""
    from ..tl._model import WeightFlow

    fit_record(adata, key)
    return WeightFlow.from_adata(adata, key)


class TimeInfo:
    """Fitted times, their labels and one colour scale for every plot of a fit.

    The colour of a time is linear in time when the fitted times are about evenly spaced, and
    otherwise linear in their rank (each fitted time one even colour step, linear in between), so
    that uneven designs (hours then days) still get distinct colours.
    """

    def __init__(self, rec: Any, time_key: str, cmap: str | Colormap = "viridis"):
        import matplotlib as mpl
        from matplotlib.colors import FuncNorm, Normalize

        self.times = np.asarray(rec[_keys.TIMES], dtype=float)
        labels = rec.get("time_labels")
        self.labels = [str(v) for v in labels] if labels is not None and len(labels) else None
        self.time_key = time_key
        self.cmap = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
        lo, hi = float(self.times.min()), float(self.times.max())
        gaps = np.diff(self.times)
        self.by_rank = len(gaps) > 1 and gaps.max() > 2 * gaps.min()
        if self.by_rank:
            # uneven times (e.g. 0, 1/3, 1, 3, 7): one colour step per fitted time, linear in between
            ranks, times = np.arange(len(self.times), dtype=float), self.times

            def forward(t):
                return np.interp(t, times, ranks)

            def inverse(r):
                return np.interp(r, ranks, times)

            self.norm: Normalize = FuncNorm((forward, inverse), vmin=lo, vmax=hi)
        else:
            self.norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1)

    def color(self, t: float | np.ndarray) -> np.ndarray:
        """RGBA colour(s) of time(s) ``t``."""
        return self.cmap(self.norm(t))

    def label(self, t: float) -> str:
        """``'day 2'`` style label: the categorical label at a fitted time, else the number."""
        if self.labels is not None:
            hit = np.flatnonzero(np.isclose(self.times, t))
            if len(hit):
                return self.labels[hit[0]]
        return f"{t:.3g}"

    def colorbar(self, fig: Figure, ax: Axes | Sequence[Axes], *, label: str | None = None, **kwargs: Any):
        """A time colour bar beside ``ax``; categorical times get their labels as ticks."""
        import matplotlib as mpl

        mappable = mpl.cm.ScalarMappable(norm=self.norm, cmap=self.cmap)
        cbar = fig.colorbar(mappable, ax=ax, **kwargs)
        cbar.set_label(label or self.time_key)
        if self.labels is not None:
            cbar.set_ticks(self.times)
            cbar.set_ticklabels(self.labels)
        elif len(self.times) <= 12:
            cbar.set_ticks(self.times)
            cbar.set_ticklabels([f"{t:.3g}" for t in self.times])
        return cbar


def cell_times(adata: AnnData, time_key: str) -> np.ndarray:
    """Numeric time of every cell (same encoding as the fit)."""
    t, _ = encode_time(adata, time_key)
    return t


class Basis:
    """Real-cell coordinates on a 2-D basis and the projection of representation points onto it."""

    def __init__(self, coords: np.ndarray, projection: EmbeddingProjection, names: list[str], key: str):
        self.coords, self.projection, self.names, self.key = coords, projection, names, key

    @property
    def exact(self) -> bool:
        return self.projection.method == "linear"


def _axis_names(key: str, comps: Sequence[int]) -> list[str]:
    stem = key.removeprefix("X_")
    pretty = {"pca": "PC", "umap": "UMAP", "tsne": "tSNE", "diffmap": "DC", "draw_graph_fa": "FA", "phate": "PHATE"}
    if stem == "X":
        return [f"dim {c + 1}" for c in comps]
    return [f"{pretty.get(stem, stem)}{c + 1}" for c in comps]


def parse_components(components: Sequence[int] | str) -> tuple[int, int]:
    """1-based pair of components (``(1, 2)`` or scanpy's ``"1,2"``) -> 0-based pair."""
    if isinstance(components, str):
        components = [int(c) for c in components.split(",")]
    comps = tuple(int(c) for c in components)
    if len(comps) != 2 or min(comps) < 1:
        raise ValueError(f"components must be two 1-based indices such as (1, 2); got {components!r}")
    return comps[0] - 1, comps[1] - 1


def resolve_basis(
    adata: AnnData,
    basis: str,
    use_rep: str,
    components: Sequence[int] | str = (1, 2),
    *,
    n_neighbors: int = 15,
) -> Basis:
    """The real cells on ``basis`` and how to place representation points there (see :mod:`._project`)."""
    comps = parse_components(components)
    key = _keys.basis_key(basis)
    rep = get_representation(adata, use_rep)
    if key == use_rep or (key == "X" and use_rep == "X"):
        full = rep
        key = use_rep
    elif key == "X":
        full = get_representation(adata, "X")
    elif key in adata.obsm:
        full = np.asarray(adata.obsm[key], dtype=np.float64)
    else:
        # embeddings a user can plot on: obsm arrays with at least two columns that are not drifts
        known = [
            k.removeprefix("X_")
            for k, v in adata.obsm.items()
            if np.ndim(v) == 2 and np.shape(v)[1] >= 2 and not k.endswith("_velocity") and "_velocity_" not in k
        ]
        name = key.removeprefix("X_")
        how = {"umap": "sc.pp.neighbors(adata); sc.tl.umap(adata)", "pca": "sc.pp.pca(adata)", "tsne": "sc.tl.tsne(adata)"}
        raise KeyError(
            f"unknown basis {basis!r}: adata.obsm has no {key!r} (embeddings there: {known}). Compute it first "
            f"({how.get(name, f'put the coordinates in adata.obsm[{key!r}]')}) or plot on the fit's representation, "
            f"basis={use_rep!r}."
        )
    if full.ndim != 2 or max(comps) >= full.shape[1]:
        raise ValueError(f"basis {key!r} has shape {full.shape}; components {tuple(c + 1 for c in comps)} do not exist")
    coords = np.asarray(full[:, list(comps)], dtype=np.float64)
    projection = embedding_projection(rep, coords, n_neighbors=n_neighbors)
    if projection.method == "knn":
        log.info("basis %r is not linear in %r: placing generated cells by kNN regression", key, use_rep)
    names = list(adata.var_names[list(comps)]) if key == "X" and use_rep == "X" and adata.n_vars > max(comps) else _axis_names(key, comps)
    return Basis(coords, projection, [str(n) for n in names], key)


def obs_colors(adata: AnnData, color: str) -> tuple[np.ndarray, dict | None, Any]:
    """Per-cell colours of obs column ``color``: (values or RGBA, {category: colour} or None, kind)."""
    import matplotlib as mpl
    import pandas as pd

    if color not in adata.obs.columns:
        raise KeyError(f"color {color!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})")
    col = adata.obs[color]
    if pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
        return col.to_numpy(dtype=float), None, "numeric"
    cats = col.astype("category").cat
    names = [str(c) for c in cats.categories]
    stored = adata.uns.get(f"{color}_colors")
    if stored is not None and len(stored) >= len(names):
        palette = [mpl.colors.to_rgba(c) for c in list(stored)[: len(names)]]
    else:
        base = mpl.colormaps["tab10" if len(names) <= 10 else "tab20"]
        palette = [base(i % base.N) for i in range(len(names))]
    lut = dict(zip(names, palette))
    codes = cats.codes.to_numpy()
    rgba = np.array([palette[c] if c >= 0 else (0.7, 0.7, 0.7, 1.0) for c in codes])
    return rgba, lut, "categorical"


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure with one axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def _autoshow() -> bool:
    """scanpy's ``settings.autoshow`` when scanpy is loaded, else True."""
    sc = sys.modules.get("scanpy")
    return bool(getattr(getattr(sc, "settings", None), "autoshow", True))


def save_path(save: bool | str | os.PathLike, name: str) -> Path:
    """Where ``save=`` writes: a path with a figure extension as is; True or a suffix into scanpy's figdir."""
    if not isinstance(save, bool) and Path(save).suffix.lower() in _FIG_EXTENSIONS:
        return Path(save)
    import scanpy as sc

    suffix = "" if save is True else str(save)
    return Path(sc.settings.figdir) / f"wf_{name}{suffix}.{sc.settings.file_format_figs}"


def finish(
    fig: Figure,
    axes: Any,
    *,
    name: str,
    show: bool | None,
    return_fig: bool,
    save: bool | str | os.PathLike | None,
) -> Any:
    """scanpy's ending: save if asked, then return the figure, show (-> None) or return the axes."""
    if save is not None and save is not False:
        path = save_path(save, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
        log.info("saved figure to %s", path)
    if return_fig:
        return fig
    if show is None:
        show = _autoshow()
    if show:
        import matplotlib.pyplot as plt

        plt.show()
        return None
    return axes

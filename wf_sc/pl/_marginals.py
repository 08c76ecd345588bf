"""``wf.pl.marginals``: per-dimension (or per-gene) densities over time, real cells vs the model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from anndata import AnnData
from scipy import sparse

from .. import _keys
from .._bridge import get_representation
from .._logging import get_logger
from ._docs import figure_doc
from ._utils import TimeInfo, _axis_names, cell_times, finish, fit_record, param

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

log = get_logger(__name__)


def _targets(adata: AnnData, dims, use_rep: str, dim: int) -> list[tuple[str, str, int]]:
    """(label, kind, index) per row: kind ``"dim"`` (column of the representation) or ``"gene"`` (decoded)."""
    if dims is None:
        dims = list(range(min(3, dim)))
    elif isinstance(dims, (str, int, np.integer)):
        dims = [dims]
    out = []
    for item in dims:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            j = int(item)
            if not 0 <= j < dim:
                raise IndexError(f"dimension {j} out of range: the fit's representation {use_rep!r} has {dim} (0-based)")
            label = str(adata.var_names[j]) if use_rep == "X" else _axis_names(use_rep, [j])[0]
            out.append((label, "dim", j))
        elif isinstance(item, str):
            if item not in adata.var_names:
                close = [g for g in adata.var_names[:20000] if g.lower() == item.lower()]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise KeyError(f"gene {item!r} not found in adata.var_names{hint}")
            g = int(adata.var_names.get_loc(item))
            if use_rep == "X":
                out.append((item, "dim", g))
            elif use_rep == _keys.USE_REP and "PCs" in adata.varm:
                out.append((item, "gene", g))
            else:
                raise ValueError(
                    f"genes can only be shown for a fit on use_rep='X' or on 'X_pca' with adata.varm['PCs'] "
                    f"(this fit models {use_rep!r}); pass dimension indices as dims=[0, 1, ...] instead"
                )
        else:
            raise TypeError(f"dims must hold dimension indices (int) or gene names (str); got {item!r}")
    if not out:
        raise ValueError("dims is empty")
    return out


def _gene_means(adata: AnnData) -> np.ndarray:
    return np.asarray(adata.X.mean(0)).ravel()


def _real_values(adata: AnnData, targets, use_rep: str, reconstruct: bool) -> np.ndarray:
    """(n_cells, n_rows) real values of every row."""
    rep = get_representation(adata, use_rep)
    cols = []
    genes = [g for _, kind, g in targets if kind == "gene"]
    if genes and reconstruct:
        pcs = np.asarray(adata.varm["PCs"])[:, : rep.shape[1]]
        mean = _gene_means(adata)
    for _, kind, j in targets:
        if kind == "dim":
            cols.append(rep[:, j])
        elif reconstruct:
            cols.append(rep @ pcs[j] + mean[j])
        else:
            x = adata.X[:, j]
            cols.append(np.asarray(x.toarray() if sparse.issparse(x) else x).ravel())
    return np.column_stack(cols).astype(np.float64)


def _model_values(adata: AnnData, targets, times: np.ndarray, key: str, n_cells: int, random_state: int) -> list[np.ndarray]:
    """Per time, (n_cells, n_rows) generated values (genes decoded by ``wf.tl.interpolate``)."""
    from ..tl._fit import interpolate

    decode = any(kind == "gene" for _, kind, _ in targets)
    out = []
    for i, s in enumerate(times):
        gen = interpolate(
            adata, float(s), n_cells=n_cells, key=key, decode=decode, random_state=random_state + i,
            prediction="sample",
        )
        Y = np.asarray(gen.obsm[_keys.USE_REP]) if decode else np.asarray(gen.X)
        cols = [Y[:, j] if kind == "dim" else np.asarray(gen.X[:, j]).ravel() for _, kind, j in targets]
        out.append(np.column_stack(cols).astype(np.float64))
    return out


def _density(values: np.ndarray, xs: np.ndarray) -> np.ndarray | None:
    from scipy.stats import gaussian_kde

    values = values[np.isfinite(values)]
    if len(values) < 3 or np.ptp(values) <= 0:
        return None
    try:
        return gaussian_kde(values)(xs)
    except np.linalg.LinAlgError:
        return None


def _ridge_times(ridge, fitted: np.ndarray) -> np.ndarray:
    if isinstance(ridge, bool):
        return np.unique(np.concatenate([fitted, (fitted[:-1] + fitted[1:]) / 2]))
    if isinstance(ridge, (int, np.integer)):
        n = int(ridge)
        if n < 2:
            raise ValueError(f"ridge={ridge} asks for fewer than 2 times")
    else:
        out = np.unique(np.asarray(ridge, dtype=float))
        if out.ndim != 1 or len(out) == 0:
            raise ValueError("ridge must be True, a number of times, or a sequence of times")
        return out
    return np.unique(np.concatenate([np.linspace(fitted.min(), fitted.max(), n), fitted]))


@figure_doc("marginals")
def marginals(
    adata: AnnData,
    *,
    dims: Sequence[int | str] | int | str | None = None,
    key: str = _keys.UNS,
    time_key: str | None = None,
    times: Sequence[float] | None = None,
    ridge: bool | int | Sequence[float] = False,
    n_cells: int = 500,
    reconstruct: bool = True,
    bins: int = 30,
    cmap: str | Colormap = "viridis",
    random_state: int = 0,
    ax: np.ndarray | Sequence[Axes] | None = None,
    show: bool | None = None,
    return_fig: bool = False,
    save: bool | str | os.PathLike | None = None,
) -> np.ndarray | Figure | None:
    """Densities of single dimensions (or genes) over time: real cells against the model.

    A grid of small panels, one row per dimension or gene and one column per time: the real cells
    observed at that time as a filled histogram, the model's generated cells (``n_cells``, from
    :func:`wf_sc.tl.interpolate`) as a kernel density line, both in the time's colour. Times
    without real cells show the model only.

    With ``ridge``, a last column shows the model on a finer time grid as a ridge plot (one
    density per time, stacked upward in time), with the real cells' densities dashed at the
    observed times: how the model moves between snapshots.

    Genes (names in ``dims``) of a fit on ``X_pca`` are decoded with
    ``wf.tl.interpolate(..., decode=True)``: ``x = y PCs^T + mean`` (``adata.varm['PCs']``, gene
    means of ``adata.X``). The model can only produce this rank-``d`` reconstruction, so by
    default the real cells are reconstructed the same way (``reconstruct=True``) for a like-for-like
    comparison; ``reconstruct=False`` shows their measured values instead.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit`; only read.
    dims
        Rows: 0-based columns of the fit's representation (ints) and/or gene names (strs; genes
        need a fit on ``"X"`` or on ``"X_pca"`` with ``adata.varm['PCs']``). Default: the first
        three dimensions.
    key
        Namespace of the fit in ``adata.uns``.
    time_key
        Column of ``adata.obs`` with each cell's time; default: the one the fit used.
    times
        Columns: times to show (observed or not); default: the fitted times.
    ridge
        Add a ridge-plot column of the model on a time grid: ``True`` (the fitted times and the
        midpoints between them), a number of even times (plus the fitted ones), or the times.
    n_cells
        Generated cells per time.
    reconstruct
        For decoded genes, compare with the real cells' PCA reconstruction (default) rather than
        their measured expression.
    bins
        Histogram bins of the real cells (shared along a row).
    cmap
        Colour map of time.
    random_state
        Seed of the generated cells.
    ax
        A 2-D array (rows x columns, including the ridge column) of axes to draw into; default: a
        new figure.
    {figure_params}

    Returns
    -------
    The 2-D array of axes (rows x columns), the figure with ``return_fig=True``, or None when shown.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    rec = fit_record(adata, key)
    use_rep = str(param(rec, "use_rep", _keys.USE_REP))
    time_key = time_key or str(param(rec, "time_key", "time"))
    tinfo = TimeInfo(rec, time_key, cmap)
    dim = int(param(rec, "dim", get_representation(adata, use_rep).shape[1]))
    targets = _targets(adata, dims, use_rep, dim)
    t_cells = cell_times(adata, time_key)
    col_times = tinfo.times if times is None else np.atleast_1d(np.asarray(times, dtype=float))
    if col_times.ndim != 1 or len(col_times) == 0:
        raise ValueError("times must be a non-empty 1-D sequence of numbers")
    ridge_t = _ridge_times(ridge, tinfo.times) if (ridge is not False and ridge is not None) else np.array([])

    real = _real_values(adata, targets, use_rep, reconstruct)
    all_t = np.unique(np.concatenate([col_times, ridge_t]))
    gen = dict(zip(all_t.tolist(), _model_values(adata, targets, all_t, key, n_cells, random_state)))

    n_rows, n_cols = len(targets), len(col_times) + (1 if len(ridge_t) else 0)
    if ax is None:
        widths = [1.0] * len(col_times) + ([1.6] if len(ridge_t) else [])
        fig, axes = plt.subplots(
            n_rows, n_cols, figsize=(1.75 * sum(widths) + 1.2, (1.35 + 0.5 * bool(len(ridge_t))) * n_rows + 0.9),
            squeeze=False, sharex="row", layout="constrained", gridspec_kw={"width_ratios": widths},
        )
    else:
        axes = np.asarray(ax, dtype=object)
        if axes.size != n_rows * n_cols:
            raise ValueError(f"ax must hold {n_rows} x {n_cols} axes (rows x columns), got {axes.size}")
        axes = axes.reshape(n_rows, n_cols)
        fig = axes[0, 0].figure

    observed = np.unique(t_cells)
    for r, (label, _, _) in enumerate(targets):
        shown = [real[:, r]] + [gen[float(s)][:, r] for s in all_t]
        pooled = np.concatenate(shown)
        lo, hi = np.nanpercentile(pooled, [0.5, 99.5])
        pad = 0.08 * (hi - lo if hi > lo else 1.0)
        xs = np.linspace(lo - pad, hi + pad, 200)
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
        for c, s in enumerate(col_times):
            a = axes[r, c]
            colour = tinfo.color(s)
            at = np.isclose(t_cells, s)
            if at.any():
                a.hist(real[at, r], bins=edges, density=True, histtype="stepfilled", color=colour, alpha=0.35, lw=0)
            dens = _density(gen[float(s)][:, r], xs)
            if dens is not None:
                a.plot(xs, dens, color=colour, lw=1.6)
            a.set_yticks([])
            a.margins(x=0)
            a.xaxis.set_major_locator(MaxNLocator(nbins=3))  # narrow panels: few, readable ticks
            if r == 0:
                mark = "" if np.isclose(observed, s).any() else " (model)"
                a.set_title(f"{time_key} {tinfo.label(s)}{mark}", fontsize="medium")
            if c == 0:
                a.set_ylabel(label)
            for side in ("top", "right", "left"):
                a.spines[side].set_visible(False)
        if len(ridge_t):
            a = axes[r, -1]
            curves = [_density(gen[float(s)][:, r], xs) for s in ridge_t]
            peak = max((np.nanmax(d) for d in curves if d is not None), default=1.0)
            height = 1.6 / peak
            for i in range(len(ridge_t) - 1, -1, -1):
                s, d = ridge_t[i], curves[i]
                if d is None:
                    continue
                a.fill_between(xs, i, i + d * height, color=tinfo.color(s), alpha=0.55, lw=0, zorder=2 * (len(ridge_t) - i))
                a.plot(xs, i + d * height, color=tinfo.color(s), lw=1.0, zorder=2 * (len(ridge_t) - i) + 1)
                hit = np.isclose(t_cells, s)
                if hit.any():
                    rd = _density(real[hit, r], xs)
                    if rd is not None:
                        a.plot(xs, i + rd * height, color="k", lw=0.9, ls="--", zorder=2 * (len(ridge_t) - i) + 1)
            ticks = [i for i, s in enumerate(ridge_t) if np.isclose(tinfo.times, s).any()]
            if len(ticks) > 8:
                ticks = ticks[:: int(np.ceil(len(ticks) / 8))]
            a.set_yticks(ticks, [tinfo.label(ridge_t[i]) for i in ticks], fontsize="small")
            a.set_ylim(-0.2, len(ridge_t) + 1.2)
            a.margins(x=0)
            for side in ("top", "right"):
                a.spines[side].set_visible(False)
            if r == 0:
                a.set_title("model over time", fontsize="medium")
    handles = [Patch(color="0.6", alpha=0.6, label="real cells"), Line2D([], [], color="0.2", lw=1.6, label="model")]
    if len(ridge_t):
        handles.append(Line2D([], [], color="k", lw=0.9, ls="--", label="real (ridge)"))
    constrained = fig.get_layout_engine() is not None and "Constrained" in type(fig.get_layout_engine()).__name__
    fig.legend(handles=handles, loc="outside lower center" if constrained else "lower center", ncols=len(handles),
               frameon=False, fontsize="small")
    fig.suptitle(f"WeightFlow marginals by {time_key}", fontsize="large")
    return finish(fig, axes, name="marginals", show=show, return_fig=return_fig, save=save)

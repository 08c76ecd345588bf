"""``wf.pl.trajectory`` and ``wf.pl.drift``: the fit drawn on a 2-D basis of the real cells."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from anndata import AnnData

from .. import _keys
from .._bridge import get_representation
from .._logging import get_logger
from ..tl._velocity_embedding import project_drift
from ._docs import figure_doc
from ._utils import Basis, TimeInfo, cell_times, finish, fit_record, load_model, new_axes, obs_colors, param, resolve_basis

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

log = get_logger(__name__)


def _default_size(n: int) -> float:
    """scanpy's default marker area for ``n`` cells."""
    return float(min(120000 / max(n, 1), 30.0))


def _real_cells(ax: Axes, fig: Figure, adata: AnnData, basis: Basis, t: np.ndarray, tinfo: TimeInfo, *,
                color: str | None, size: float, alpha: float, zorder: int = 1) -> None:
    """Scatter of the real cells coloured by time (default) or by an obs column, with its key."""
    from matplotlib.lines import Line2D

    order = np.argsort(t, kind="stable")  # later times on top
    xy = basis.coords[order]
    if color is None:
        ax.scatter(*xy.T, c=tinfo.color(t[order]), s=size, alpha=alpha, linewidths=0, zorder=zorder,
                   rasterized=len(xy) > 5000, label="real cells")
        return
    values, lut, kind = obs_colors(adata, color)
    if kind == "numeric":
        sc = ax.scatter(*xy.T, c=values[order], cmap="magma", s=size, alpha=alpha, linewidths=0, zorder=zorder,
                        rasterized=len(xy) > 5000, label="real cells")
        fig.colorbar(sc, ax=ax, pad=0.01, fraction=0.05).set_label(color)
    else:
        ax.scatter(*xy.T, c=values[order], s=size, alpha=alpha, linewidths=0, zorder=zorder,
                   rasterized=len(xy) > 5000, label="real cells")
        handles = [Line2D([], [], ls="", marker="o", color=c, label=name) for name, c in lut.items()]
        leg = ax.legend(handles=handles, title=color, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                        fontsize="small")
        ax.add_artist(leg)


def _style(ax: Axes, basis: Basis, title: str) -> None:
    ax.set_xlabel(basis.names[0])
    ax.set_ylabel(basis.names[1])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def _paths(adata: AnnData, paths: str | None, key: str, model, span: tuple[float, float], n: int, n_steps: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(grid, paths (len(grid), n, d))``: ``n`` stored paths of ``uns[paths]`` chosen at random, or
    ``n`` model cells of the first time moved by the transport map (NaN where a path has no point)."""
    from ..tl._moving import move_along, time_grid

    stored = adata.uns.get(paths) if paths else None
    if stored is not None and str(stored.get("format", "")) == _keys.TRAJECTORIES_FORMAT:
        cell, t, X = np.asarray(stored["cell"]).astype(str), np.asarray(stored["time"], float), np.asarray(stored["X"])
        grid, names = np.unique(t), np.unique(cell)
        chosen = rng.choice(names, size=min(int(n), len(names)), replace=False)
        out = np.full((len(grid), len(chosen), X.shape[1]), np.nan)
        rows = np.isin(cell, chosen)
        out[np.searchsorted(grid, t[rows]), np.searchsorted(np.sort(chosen), cell[rows])] = X[rows]
        return grid, out
    model = model or load_model(adata, key)
    times = model.times[(model.times > span[0]) & (model.times < span[1])]
    grid = time_grid(np.unique(np.concatenate([span, times])), max(int(n_steps), 1))
    x0 = model.sample(span[0], int(n), random_state=int(rng.integers(2**31)))
    return grid, move_along(model, x0, span[0], grid)


def _draw_paths(ax, b: Basis, tinfo: TimeInfo, grid: np.ndarray, cell_paths: np.ndarray, bounds) -> list:
    """Paths (coloured by time, a dot at the start, an arrow at the end); a path is cut where it leaves
    ``bounds`` and its end marked with a red cross. Returns the legend handles."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    far = np.isfinite(cell_paths).all(2) & ~((cell_paths >= bounds[0]) & (cell_paths <= bounds[1])).all(2)
    cut = far.any(0)
    cell_paths = np.where((np.cumsum(far, axis=0) > 0)[..., None], np.nan, cell_paths)
    T, n, _ = cell_paths.shape
    valid = np.isfinite(cell_paths).all(2)  # (T, n)
    pxy = np.full((T, n, 2), np.nan)
    pxy[valid] = b.projection.points(cell_paths[valid])
    seg = np.stack([pxy[:-1], pxy[1:]], axis=2)  # (T-1, n, 2, 2)
    seg_t = np.broadcast_to(((grid[:-1] + grid[1:]) / 2)[:, None], (T - 1, n))
    keep = valid[1:] & valid[:-1]
    ax.add_collection(LineCollection(seg[keep], colors="white", linewidths=3.2, zorder=3, capstyle="round"))
    ax.add_collection(LineCollection(seg[keep], colors=tinfo.color(seg_t[keep]), linewidths=1.6, zorder=4,
                                     capstyle="round", label="trajectories"))
    handles = [Line2D([], [], color="0.25", lw=1.6, marker="o", markevery=[0], ms=3, label="cell paths")]
    idx = np.arange(T)[:, None]
    first = np.where(valid, idx, T).min(0)
    last = np.where(valid, idx, -1).max(0)
    has = last >= 0
    ax.scatter(*pxy[first[has], np.flatnonzero(has)].T, s=14, c="k", zorder=5, linewidths=0)
    for i in np.flatnonzero(has & ~cut & (last > first)):
        ax.annotate("", xy=pxy[last[i], i], xytext=pxy[last[i] - 1, i], zorder=5,
                    arrowprops=dict(arrowstyle="-|>", color="k", lw=1.0, mutation_scale=9, shrinkA=0, shrinkB=0))
    if (cut & has).any():
        ends = pxy[last[cut & has], np.flatnonzero(cut & has)]
        ax.scatter(*ends.T, marker="x", s=25, c="crimson", linewidths=1.2, zorder=5)
        handles.append(Line2D([], [], ls="", marker="x", color="crimson", label="path left the data"))
        log.warning("%d of %d cell paths left the data and were cut there", int((cut & has).sum()), n)
    return handles


@figure_doc("trajectory")
def trajectory(
    adata: AnnData,
    *,
    basis: str = "pca",
    time_key: str | None = None,
    key: str = _keys.UNS,
    times: Sequence[float] | None = None,
    n_cells: int = 100,
    n_trajectories: int = 20,
    n_steps: int = 8,
    paths: str | None = _keys.TRAJECTORIES,
    color: str | None = None,
    components: Sequence[int] | str = (1, 2),
    n_neighbors: int = 15,
    cmap: str | Colormap = "viridis",
    size: float | None = None,
    random_state: int = 0,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
    save: bool | str | os.PathLike | None = None,
) -> Axes | Figure | None:
    """Real cells by time, the generated population moving through time, and sampled cell trajectories.

    Three layers on one basis: the real cells (filled dots, coloured by time), generated cells at a
    grid of times (small hollow circles in the same time colours) and the paths of a few generated
    cells carried along the model drift (lines coloured by time, a dot at the start and an arrow
    at the end).

    Generated cells and paths live in the fit's representation (``use_rep``) and are placed on the
    basis exactly when the basis is affine in it (the representation itself, some of its columns,
    or a PCA of it; detected by least squares on the real cells), and otherwise (UMAP, ...) at the
    mean basis position of their ``n_neighbors`` nearest real cells in the representation (kNN
    regression; see :mod:`wf_sc.pl._project`). The title says which.

    Paths are those stored by :func:`wf_sc.tl.trajectories` in ``adata.uns[paths]`` when there
    are any (``n_trajectories`` of them, chosen at random); otherwise ``n_trajectories`` cells
    sampled from the model at the first time are moved by its transport map to ``n_steps`` times
    per interval between fitted times (:func:`wf_sc.tl._moving.move_along`), in memory. A
    path that leaves the data far behind is cut there and its end marked with a red cross.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit`; only read.
    basis
        Basis to draw on: a key of ``adata.obsm`` with or without ``X_`` (``"pca"``, ``"umap"``,
        ...), the fit's representation, or ``"X"``.
    time_key
        Column of ``adata.obs`` with each cell's time; default: the one the fit used.
    key
        Namespace of the fit in ``adata.uns`` (the ``key_added`` of :func:`wf_sc.tl.fit`).
    times
        Times at which to draw generated cells (sampled anew, ``n_cells`` each); default: the
        populations stored by the fit (observed times and midpoints), no sampling. The paths span
        the range of these times.
    n_cells
        Generated cells drawn per time.
    n_trajectories
        Number of cell paths; 0 draws none.
    n_steps
        Path points per interval between consecutive fitted times (paths made here).
    paths
        Namespace of stored paths in ``adata.uns`` (``key_added`` of :func:`wf_sc.tl.trajectories`);
        ``None`` or absent: paths are made here.
    color
        Column of ``adata.obs`` to colour the real cells by instead of time (a categorical
        column gets a legend, a numeric one a colour bar).
    components
        The two basis components to draw, 1-based (``(1, 2)`` or ``"1,2"``).
    n_neighbors
        ``k`` of the kNN placement on non-linear bases.
    cmap
        Colour map of time.
    size
        Marker area of the real cells; default from the number of cells.
    random_state
        Seed of the generated cells and path starts.
    ax
        Axes to draw on; default: a new figure.
    {figure_params}

    Returns
    -------
    The axes, the figure with ``return_fig=True``, or None when shown.
    """
    from matplotlib.lines import Line2D

    rec = fit_record(adata, key)
    use_rep = str(param(rec, "use_rep", _keys.USE_REP))
    time_key = time_key or str(param(rec, "time_key", "time"))
    tinfo = TimeInfo(rec, time_key, cmap)
    t_cells = cell_times(adata, time_key)
    b = resolve_basis(adata, basis, use_rep, components, n_neighbors=n_neighbors)
    model = None
    rng = np.random.default_rng(random_state)

    if times is None:
        pops = rec[_keys.POPULATIONS]
        gen_t_all = np.asarray(pops["time"], dtype=float)
        gen_x_all = np.asarray(pops["X"], dtype=np.float64)
        keep = np.concatenate(
            [rng.permutation(np.flatnonzero(gen_t_all == s))[:n_cells] for s in np.unique(gen_t_all)]
        )
        gen_t, gen_x = gen_t_all[keep], gen_x_all[keep]
    else:
        grid_t = np.atleast_1d(np.asarray(times, dtype=float))
        if grid_t.ndim != 1 or len(grid_t) == 0:
            raise ValueError("times must be a non-empty 1-D sequence of numbers")
        model = load_model(adata, key)
        gen_x = np.concatenate([model.sample(s, n_cells, random_state=random_state + i) for i, s in enumerate(grid_t)])
        gen_t = np.repeat(grid_t, n_cells)
    t_lo, t_hi = float(gen_t.min()), float(gen_t.max())

    fig, ax = new_axes(ax, (6.4, 4.8))
    size = _default_size(adata.n_obs) if size is None else size
    _real_cells(ax, fig, adata, b, t_cells, tinfo, color=color, size=size, alpha=0.35)
    order = np.argsort(gen_t, kind="stable")
    gxy = b.projection.points(gen_x[order])
    ax.scatter(*gxy.T, s=max(size * 0.5, 4.0), facecolors="none", edgecolors=tinfo.color(gen_t[order]),
               linewidths=0.7, alpha=0.9, zorder=2, label="generated cells")

    handles = [
        Line2D([], [], ls="", marker="o", color="0.45", alpha=0.6, label="real cells"),
        Line2D([], [], ls="", marker="o", mfc="none", mec="0.25", label="generated cells"),
    ]
    if n_trajectories > 0 and t_hi > t_lo:
        grid, cell_paths = _paths(adata, paths, key, model, (t_lo, t_hi), n_trajectories, n_steps, rng)
        rep = get_representation(adata, use_rep)
        handles += _draw_paths(ax, b, tinfo, grid, cell_paths, (rep.min(0) - 0.5 * np.ptp(rep, 0), rep.max(0) + 0.5 * np.ptp(rep, 0)))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncols=len(handles), fontsize="small",
              frameon=False, handletextpad=0.3, columnspacing=1.0)
    ref = np.concatenate([b.coords, gxy])
    lo, hi = ref.min(0), ref.max(0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    tinfo.colorbar(fig, ax, pad=0.02, fraction=0.05)
    how = "" if b.exact else " (generated: kNN placement)"
    _style(ax, b, f"WeightFlow trajectories{how}")
    return finish(fig, ax, name="trajectory", show=show, return_fig=return_fig, save=save)


def embedded_velocity(adata: AnnData, rec, basis: Basis, basis_name: str, key: str,
                      comps: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Per-cell drift on the basis and where it came from (see :func:`drift`)."""
    vkey = str(rec.get("keys", {}).get("velocity", _keys.output_keys(key)[0]))
    ekey = _keys.velocity_basis(_keys.basis_key(basis_name), vkey)
    if ekey in adata.obsm:
        V = np.asarray(adata.obsm[ekey], dtype=np.float64)
        if V.ndim != 2 or V.shape[1] <= max(comps):
            raise ValueError(f"adata.obsm[{ekey!r}] has shape {V.shape}; it lacks components {tuple(c + 1 for c in comps)}")
        return V[:, list(comps)], f"obsm[{ekey!r}]"
    if vkey not in adata.obsm:
        raise KeyError(f"adata.obsm[{vkey!r}] (the per-cell drift of the fit) is missing; run wf.tl.fit again")
    if basis.exact:
        return basis.projection.vectors(np.asarray(adata.obsm[vkey])), f"obsm[{vkey!r}] (exact linear map)"
    # as scVelo's stream plot does: project in memory, write nothing
    X = get_representation(adata, str(param(rec, "use_rep", _keys.USE_REP))).astype(np.float64)
    V, used = project_drift(X, np.asarray(adata.obsm[vkey], dtype=np.float64), np.asarray(basis.coords, np.float64))
    return V, f"obsm[{vkey!r}] projected in memory ({used}; wf.tl.velocity_embedding stores it)"


@figure_doc("drift")
def drift(
    adata: AnnData,
    *,
    basis: str = "pca",
    time_key: str | None = None,
    key: str = _keys.UNS,
    times: Sequence[float] | None = None,
    color: str | None = None,
    components: Sequence[int] | str = (1, 2),
    n_grid: int = 40,
    smooth: float = 1.0,
    density: float = 1.2,
    cmap: str | Colormap = "viridis",
    size: float | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
    save: bool | str | os.PathLike | None = None,
) -> Axes | Figure | None:
    """Stream plot of the drift projected onto a 2-D basis, over the real cells.

    Per-cell drift on the basis, in this order:

    1. ``adata.obsm['wf_velocity_<basis>']`` (written by ``wf.tl.velocity_embedding``; scVelo's
       ``{vkey}_{basis}`` convention, ``{key}_velocity_<basis>`` for a fit with another key);
    2. when the basis is affine in the fit's representation (the representation itself, some of
       its columns, or a PCA of it; detected by least squares): ``obsm['wf_velocity'] A``, exact;
    3. otherwise projected in memory as ``wf.tl.velocity_embedding`` would (``"auto"``), without
       writing anything.

    The per-cell vectors are smoothed onto an ``n_grid x n_grid`` grid by a Gaussian kernel of
    ``smooth`` grid steps (see :func:`wf_sc.pl._project.velocity_grid`); grid points away from
    the cells are left empty. Line width grows with speed. Each cell's drift is taken at its own
    time, so the field mixes times; pass ``times`` to look at some time points only.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit`; only read.
    basis
        Basis to draw on: a key of ``adata.obsm`` with or without ``X_``, the fit's
        representation, or ``"X"``.
    time_key
        Column of ``adata.obs`` with each cell's time; default: the one the fit used.
    key
        Namespace of the fit in ``adata.uns``.
    times
        Only use the drift of cells observed at these times (all cells are still drawn).
    color
        Column of ``adata.obs`` to colour the cells by instead of time.
    components
        The two basis components to draw, 1-based (``(1, 2)`` or ``"1,2"``).
    n_grid
        Grid points per axis.
    smooth
        Gaussian kernel bandwidth, in grid steps.
    density
        Stream line density (:meth:`matplotlib.axes.Axes.streamplot`).
    cmap
        Colour map of time.
    size
        Marker area of the cells; default from the number of cells.
    ax
        Axes to draw on; default: a new figure.
    {figure_params}

    Returns
    -------
    The axes, the figure with ``return_fig=True``, or None when shown.
    """
    from ._project import velocity_grid

    rec = fit_record(adata, key)
    use_rep = str(param(rec, "use_rep", _keys.USE_REP))
    time_key = time_key or str(param(rec, "time_key", "time"))
    tinfo = TimeInfo(rec, time_key, cmap)
    t_cells = cell_times(adata, time_key)
    comps = _comps(components)
    b = resolve_basis(adata, basis, use_rep, components)
    V, source = embedded_velocity(adata, rec, b, basis, key, comps)
    sel = np.ones(adata.n_obs, dtype=bool)
    if times is not None:
        wanted = np.atleast_1d(np.asarray(times, dtype=float))
        sel = np.isclose(t_cells[:, None], wanted[None, :]).any(1)
        if not sel.any():
            raise ValueError(f"no cells at times {wanted.tolist()}; observed times are {np.unique(t_cells).tolist()}")
    x, y, U, W, _ = velocity_grid(b.coords[sel], V[sel], n_grid=n_grid, smooth=smooth)
    speed = np.sqrt(U**2 + W**2)
    top = np.nanpercentile(speed, 99) if np.isfinite(speed).any() else 1.0
    lw = np.nan_to_num(0.6 + 1.6 * np.clip(speed / max(top, 1e-12), 0, 1), nan=0.6)

    fig, ax = new_axes(ax, (6.4, 4.8))
    size = _default_size(adata.n_obs) if size is None else size
    _real_cells(ax, fig, adata, b, t_cells, tinfo, color=color, size=size, alpha=0.35)
    ax.streamplot(x, y, U, W, density=density, color="0.1", linewidth=lw, arrowsize=1.0, arrowstyle="-|>",
                  zorder=3, broken_streamlines=True)
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    if color is None:
        tinfo.colorbar(fig, ax, pad=0.02, fraction=0.05)
    log.info("drift on %r from %s", b.key, source)
    sub = "" if times is None else f" at {', '.join(tinfo.label(s) for s in np.atleast_1d(times))}"
    _style(ax, b, f"WeightFlow drift{sub}")
    return finish(fig, ax, name="drift", show=show, return_fig=return_fig, save=save)


def _comps(components: Sequence[int] | str) -> tuple[int, int]:
    from ._utils import parse_components

    return parse_components(components)

"""``wf.pl.weights`` (the weight-space path) and ``wf.pl.history`` (training curves)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from anndata import AnnData

from .. import _keys
from .._logging import get_logger
from ._docs import figure_doc
from ._utils import TimeInfo, finish, fit_record, load_model, new_axes, param

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

log = get_logger(__name__)


@figure_doc("weights")
def weights(
    adata: AnnData,
    *,
    key: str = _keys.UNS,
    n_times: int = 200,
    start: str = "nearest",
    annotate: bool = True,
    cmap: str | Colormap = "viridis",
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
    save: bool | str | os.PathLike | None = None,
) -> Axes | Figure | None:
    """The path of the backbone weights ``theta(t)`` through weight space, with its anchors.

    ``theta(t)`` (:meth:`~wf_sc.tl.WeightFlow.weights`) on ``n_times`` even times over the fitted
    range (plus the fitted times) and the Stage-1 anchors ``theta_k`` are projected onto the first
    two principal components of all these weight vectors together (centred, by SVD); the axes
    give the share of variance each component explains. The path is a line coloured by time; the
    anchors are black-edged dots labelled with their time.

    With ``start="nearest"`` (how the model answers queries) each interval is integrated from its
    own anchor, so the path restarts at every anchor; where the end of an interval misses the next
    anchor, a dotted grey line shows the jump (the Stage-2 fit error at that anchor). With
    ``start="first"`` the path is one integration from ``theta_0`` and shows how far the free-running
    dynamics drift from the later anchors.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit`; only read.
    key
        Namespace of the fit in ``adata.uns``.
    n_times
        Time points along the path.
    start
        ``"nearest"`` or ``"first"`` (see above).
    annotate
        Label the anchors with their times.
    cmap
        Colour map of time.
    ax
        Axes to draw on; default: a new figure.
    {figure_params}

    Returns
    -------
    The axes, the figure with ``return_fig=True``, or None when shown.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    if start not in ("nearest", "first"):
        raise ValueError(f"unknown start {start!r}, known are ['nearest', 'first']")
    rec = fit_record(adata, key)
    tinfo = TimeInfo(rec, str(param(rec, "time_key", "time")), cmap)
    model = load_model(adata, key)
    fitted = tinfo.times
    grid = np.unique(np.concatenate([np.linspace(fitted[0], fitted[-1], max(int(n_times), 2)), fitted]))
    anchors = model.weights(fitted, start="nearest")
    if start == "first":
        pieces = [(grid, model.weights(grid, start="first"))]
    else:
        pieces = []
        for k in range(len(fitted) - 1):
            lo, hi = fitted[k], fitted[k + 1]
            ts = grid[(grid >= lo) & (grid < hi)]
            ts = np.append(ts, hi - 1e-4 * (hi - lo))  # the left limit at the next anchor
            pieces.append((ts, model.weights(ts, start="nearest")))
    stacked = np.concatenate([anchors] + [w for _, w in pieces])
    mean = stacked.mean(0)
    _, sv, vt = np.linalg.svd(stacked - mean, full_matrices=False)
    share = sv**2 / max(float((sv**2).sum()), 1e-300)
    proj = vt[:2].T

    fig, ax = new_axes(ax, (5.6, 4.6))
    jumps = []
    for ts, w in pieces:
        xy = (w - mean) @ proj
        segs = np.stack([xy[:-1], xy[1:]], axis=1)
        ax.add_collection(LineCollection(segs, colors=tinfo.color((ts[:-1] + ts[1:]) / 2), linewidths=2.2, zorder=2))
        jumps.append(xy[-1])
    a_xy = (anchors - mean) @ proj
    handles = [Line2D([], [], color=tinfo.color(fitted.mean()), lw=2.2, label=r"$\theta(t)$")]
    if start == "nearest":
        for k, end in enumerate(jumps):
            target = a_xy[k + 1]
            ax.plot([end[0], target[0]], [end[1], target[1]], ls=":", color="0.5", lw=1.2, zorder=1)
        handles.append(Line2D([], [], ls=":", color="0.5", lw=1.2, label="miss at next anchor"))
    ax.scatter(*a_xy.T, c=tinfo.color(fitted), s=70, edgecolors="k", linewidths=1.0, zorder=4)
    handles.append(Line2D([], [], ls="", marker="o", mfc="w", mec="k", label="anchors (Stage 1)"))
    if annotate:
        for (x, y), t in zip(a_xy, fitted):
            ax.annotate(tinfo.label(t), (x, y), xytext=(6, 6), textcoords="offset points", fontsize="small",
                        bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="none", alpha=0.7), zorder=5)
    ax.autoscale_view()
    ax.margins(0.08)
    ax.set_xlabel(f"weight PC1 ({100 * share[0]:.0f}% var.)")
    ax.set_ylabel(f"weight PC2 ({100 * share[1]:.0f}% var.)" if len(share) > 1 else "weight PC2")
    ax.set_title(f"weight-space path ({anchors.shape[1]} weights)")
    ax.legend(handles=handles, loc="best", fontsize="small", framealpha=0.8)
    tinfo.colorbar(fig, ax, pad=0.02, fraction=0.05)
    return finish(fig, ax, name="weights", show=show, return_fig=return_fig, save=save)


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    import pandas as pd

    return pd.Series(y).rolling(window, center=True, min_periods=1).mean().to_numpy()


@figure_doc("history")
def history(
    adata: AnnData,
    *,
    key: str = _keys.UNS,
    stage: str = "both",
    smooth: int | None = None,
    cmap: str | Colormap = "viridis",
    ax: Axes | Sequence[Axes] | None = None,
    show: bool | None = None,
    return_fig: bool = False,
    save: bool | str | os.PathLike | None = None,
) -> Axes | np.ndarray | Figure | None:
    """Training curves of both stages, from ``adata.uns[key]['history']``.

    Stage 1: the validation NLL per cell (in ``use_rep`` units, as ``uns[key]['nll']``) of each
    anchor's density fit, against its optimizer steps, one line per time (the early-stopping
    checks; the chosen anchor is the marked minimum). Stage 2: one small panel per recorded loss
    term (``total`` first, then e.g. ``nll``, ``action``, ``weight``; terms never computed are
    skipped), raw per step (light) and as a moving average (dark); the y range follows the bulk
    of the steps, so rare single-batch spikes may run off the panel.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit`; only read.
    key
        Namespace of the fit in ``adata.uns``.
    stage
        ``"both"``, ``"stage1"`` or ``"stage2"``.
    smooth
        Moving-average window of the Stage-2 curves in steps; default: 1/25 of the steps.
    cmap
        Colour map of time (Stage-1 curves).
    ax
        Axes to draw into, one per panel (Stage 1, then one per Stage-2 term); a single Axes when
        there is one panel. Default: a new figure.
    {figure_params}

    Returns
    -------
    The axes (a single Axes for one panel, else an array), the figure with ``return_fig=True``,
    or None when shown.
    """
    import matplotlib.pyplot as plt

    if stage not in ("both", "stage1", "stage2"):
        raise ValueError(f"unknown stage {stage!r}, known are ['both', 'stage1', 'stage2']")
    rec = fit_record(adata, key)
    hist = rec.get(_keys.HISTORY)
    if hist is None or "stage1" not in hist or "stage2" not in hist:
        raise KeyError(f"adata.uns[{key!r}] has no training history (stage1/stage2); was it written by wf.tl.fit?")
    tinfo = TimeInfo(rec, str(param(rec, "time_key", "time")), cmap)
    s2 = hist["stage2"]
    names = [n for n in ["total", *s2.keys()] if n in s2 and n != "seconds" and np.ndim(s2[n]) == 1]
    names = list(dict.fromkeys(n for n in names if np.isfinite(np.asarray(s2[n], dtype=float)).any()))
    panels = (["stage1"] if stage != "stage2" else []) + (names if stage != "stage1" else [])
    if not panels:
        raise ValueError("nothing to plot: the Stage-2 history holds no loss terms")

    if ax is None:
        n2 = len(panels) - (1 if "stage1" in panels else 0)
        if "stage1" in panels and n2:
            cols = 2 if n2 > 1 else 1
            rows = int(np.ceil(n2 / cols))
            mosaic = [["stage1", *names[r * cols : (r + 1) * cols]] for r in range(rows)]
            mosaic = [row + ["."] * (cols + 1 - len(row)) for row in mosaic]
            fig, axd = plt.subplot_mosaic(mosaic, figsize=(4.2 + 2.8 * cols, max(3.2, 2.2 * rows)), layout="constrained",
                                          width_ratios=[1.5] + [1] * cols)
        else:
            cols = min(len(panels), 3)
            rows = int(np.ceil(len(panels) / cols))
            fig, grid = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False, layout="constrained")
            for g in grid.ravel()[len(panels) :]:
                g.set_visible(False)
            axd = dict(zip(panels, grid.ravel()))
    else:
        given = [ax] if not isinstance(ax, (Sequence, np.ndarray)) else list(np.asarray(ax, dtype=object).ravel())
        if len(given) != len(panels):
            raise ValueError(f"ax must hold {len(panels)} axes ({panels}), got {len(given)}")
        axd = dict(zip(panels, given))
        fig = given[0].figure

    if "stage1" in panels:
        a = axd["stage1"]
        s1 = hist["stage1"]
        std = rec.get(_keys.STANDARDIZATION, {})
        shift = float(np.log(np.asarray(std["scale"], dtype=float)).sum()) if "scale" in std else 0.0
        curves, steps = s1.get("curves", {}), np.asarray(s1.get("steps", []), dtype=float)
        for k, t in enumerate(tinfo.times):
            c = np.asarray(curves.get(str(k), []), dtype=float) + shift
            if not len(c):
                continue
            last = steps[k] if k < len(steps) else len(c)
            x = last * np.arange(1, len(c) + 1) / len(c)  # checks every (steps / checks) steps
            a.plot(x, c, color=tinfo.color(t), lw=1.5, marker=".", ms=3, label=tinfo.label(t))
            best = int(np.argmin(c))
            a.plot(x[best], c[best], "o", color=tinfo.color(t), mec="k", ms=6)
        a.set_xlabel("step")
        a.set_ylabel("validation NLL per cell")
        a.set_title("stage 1: anchors")
        a.legend(title=tinfo.time_key, fontsize="small", ncols=1 if len(tinfo.times) <= 6 else 2, frameon=False)
    for n in names if stage != "stage1" else []:
        a = axd[n]
        y = np.asarray(s2[n], dtype=float)
        x = np.arange(1, len(y) + 1)
        w = smooth or max(1, len(y) // 25)
        colour = "k" if n == "total" else "C0"
        a.plot(x, y, color=colour, lw=0.7, alpha=0.3)
        a.plot(x, _smooth(y, w), color=colour, lw=1.6)
        finite = y[np.isfinite(y)]
        if len(finite) > 20:  # keep the view on the bulk: single-batch spikes would flatten the curve
            lo, hi = np.percentile(finite, [0.5, 98])
            lo, hi = min(lo, np.nanmin(_smooth(y, w))), max(hi, np.nanmax(_smooth(y, w)))
            pad = 0.08 * (hi - lo if hi > lo else 1.0)
            a.set_ylim(lo - pad, hi + pad)
        a.set_title(f"stage 2: {n}", fontsize="medium")
        a.set_xlabel("step")
    axes_out = np.array([axd[p] for p in panels], dtype=object)
    return finish(fig, axes_out[0] if len(axes_out) == 1 else axes_out, name="history", show=show,
                  return_fig=return_fig, save=save)

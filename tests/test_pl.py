"""wf.pl: every plot draws what it should, only reads the AnnData, saves, and fails clearly."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

import wf_sc as wf  # noqa: E402
from wf_sc.pl._project import affine_map, embedding_projection, velocity_grid  # noqa: E402

from conftest import TINY_FIT, make_tiny_adata  # noqa: E402




@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    """Tiny 3-D time course fitted on ``X`` (default key) and on ``X_pca`` (key ``'pcafit'``).

    ``X_pca`` is a linear map of ``X`` (exact projection); ``X_umap`` is a made-up non-linear
    embedding (kNN placement).
    """
    import scanpy as sc

    adata = make_tiny_adata(n_per_time=40, dim=3)
    sc.pp.pca(adata, n_comps=2)
    adata.obsm["X_pca"] = np.ascontiguousarray(adata.obsm["X_pca"])  # see report: negative strides break drift
    X = adata.X
    adata.obsm["X_umap"] = np.column_stack([np.sin(X[:, 0]) + X[:, 1] ** 2, np.tanh(X[:, 2]) * X[:, 0]]).astype(np.float32)
    fit_kw = dict(TINY_FIT)
    wf.tl.fit(adata, "time", use_rep="X", n_population_cells=30, **fit_kw)
    wf.tl.fit(adata, "time", use_rep="X_pca", key_added="pcafit", n_population_cells=30, **fit_kw)
    return adata


# --------------------------------------------------------------------------- read-only


def _assert_same(a, b, path="uns"):
    """Deep equality of nested uns-like trees (dicts, arrays, scalars)."""
    if hasattr(a, "keys"):
        assert hasattr(b, "keys") and set(a.keys()) == set(b.keys()), f"{path}: keys {set(a.keys())} != {set(b.keys())}"
        for k in a.keys():
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, f"{path}: {a.shape}/{a.dtype} != {b.shape}/{b.dtype}"
        if a.dtype.kind in "fc":
            np.testing.assert_array_equal(a, b, err_msg=path)
        else:
            assert (a == b).all(), path
    else:
        assert type(a) is type(b) and (a == b or (a != a and b != b)), f"{path}: {a!r} != {b!r}"


def assert_unchanged(before, after):
    np.testing.assert_array_equal(before.X, after.X)
    assert before.obs.equals(after.obs) and list(before.obs.columns) == list(after.obs.columns)
    assert before.var.equals(after.var)
    for attr in ("obsm", "varm", "layers", "obsp"):
        x, y = getattr(before, attr), getattr(after, attr)
        assert set(x.keys()) == set(y.keys()), f"{attr}: {set(x.keys())} != {set(y.keys())}"
        for k in x.keys():
            np.testing.assert_array_equal(np.asarray(x[k]), np.asarray(y[k]), err_msg=f"{attr}[{k!r}]")
    _assert_same(before.uns, after.uns)


CALLS = {
    "trajectory": dict(basis="pca", n_trajectories=3, n_steps=2),
    "trajectory_umap_color": dict(basis="umap", n_trajectories=2, n_steps=2, color="batch"),
    "drift": dict(basis="pca"),
    "marginals": dict(ridge=True, n_cells=60),
    "marginals_genes": dict(dims=["g0", "g2"], key="pcafit", n_cells=60),
    "weights": dict(n_times=20),
    "history": dict(),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_plots_return_axes_and_only_read_the_anndata(fitted, name):
    before = fitted.copy()
    func = getattr(wf.pl, name.split("_")[0])
    out = func(fitted, show=False, **CALLS[name])
    axes = np.atleast_1d(np.asarray(out, dtype=object)).ravel()
    assert len(axes) and all(isinstance(a, Axes) for a in axes), out
    assert_unchanged(before, fitted)
    fig = func(fitted, show=False, return_fig=True, **CALLS[name])
    assert isinstance(fig, Figure)
    assert_unchanged(before, fitted)


# --------------------------------------------------------------------------- what is drawn


def _paths(ax):
    return [c for c in ax.collections if type(c) is PathCollection]


def _lines(ax):
    return [c for c in ax.collections if type(c) is LineCollection]


def test_trajectory_draws_real_generated_and_paths(fitted):
    ax = wf.pl.trajectory(fitted, basis="pca", n_trajectories=4, n_steps=2, n_cells=10, show=False)
    real, gen, starts = _paths(ax)[:3]
    assert len(real.get_offsets()) == fitted.n_obs
    # stored populations: 5 times (observed + midpoints), 10 of the 30 stored cells each
    assert len(gen.get_offsets()) == 5 * 10
    assert np.allclose(gen.get_facecolors()[:, 3], 0) or len(gen.get_facecolors()) == 0  # hollow
    assert len(starts.get_offsets()) == 4
    under, paths = _lines(ax)
    # 2 intervals x 2 steps per path
    assert len(paths.get_segments()) <= 4 * 4 and len(paths.get_segments()) > 0
    assert "kNN" not in ax.get_title()  # X_pca is linear in X: exact
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"real cells", "generated cells", "cell paths"} <= set(labels)
    assert len(ax.figure.axes) == 2  # the time colour bar


def test_trajectory_samples_new_times_and_uses_knn_on_nonlinear_bases(fitted):
    ax = wf.pl.trajectory(fitted, basis="umap", times=[0.5, 1.5], n_cells=7, n_trajectories=0, show=False)
    assert len(_paths(ax)) == 2 and len(_paths(ax)[1].get_offsets()) == 14
    assert not _lines(ax)
    assert "kNN" in ax.get_title()
    assert ax.get_xlabel() == "UMAP1"


def test_trajectory_on_the_representation_itself(fitted):
    ax = wf.pl.trajectory(fitted, basis="X", components="2,3", n_trajectories=2, n_steps=1, show=False)
    assert ax.get_xlabel() == "g1" and ax.get_ylabel() == "g2"


def test_drift_is_a_stream_plot(fitted):
    ax = wf.pl.drift(fitted, basis="pca", show=False)
    streams = _lines(ax)
    assert len(streams) == 1 and len(streams[0].get_segments()) > 10
    assert any(isinstance(p, FancyArrowPatch) for p in ax.patches)
    ax = wf.pl.drift(fitted, basis="X", times=[0.0], show=False)
    assert "0" in ax.get_title()


def test_drift_on_a_nonlinear_basis_projects_in_memory_like_velocity_embedding(fitted):
    """Without a stored projection, pl.drift projects as wf.tl.velocity_embedding would and writes nothing."""
    from wf_sc.pl._embedding import embedded_velocity
    from wf_sc.pl._utils import fit_record, resolve_basis

    adata = fitted.copy()
    before = (set(adata.obsm), set(adata.uns))
    ax = wf.pl.drift(adata, basis="umap", show=False)
    assert len(_lines(ax)) == 1
    assert (set(adata.obsm), set(adata.uns)) == before
    rec = fit_record(adata, "weightflow")
    basis = resolve_basis(adata, "umap", str(rec["params"]["use_rep"]), (1, 2))
    in_memory, source = embedded_velocity(adata, rec, basis, "umap", "weightflow", (0, 1))
    assert "in memory" in source
    stored = wf.tl.velocity_embedding(adata, basis="umap", copy=True).obsm["wf_velocity_umap"]
    np.testing.assert_allclose(in_memory, stored[:, :2], rtol=1e-4, atol=1e-5)
    # a stored projection wins over the in-memory one
    adata.obsm["wf_velocity_umap"] = np.random.default_rng(0).normal(size=(adata.n_obs, 2))
    V, source = embedded_velocity(adata, rec, basis, "umap", "weightflow", (0, 1))
    np.testing.assert_array_equal(V, adata.obsm["wf_velocity_umap"])


def test_marginals_grid_and_ridge(fitted):
    axes = wf.pl.marginals(fitted, dims=[0, 2], n_cells=50, show=False)
    assert axes.shape == (2, 3)
    for a in axes.ravel():
        assert len(a.lines) == 1 and len(a.patches) == 1  # model line, real histogram
    assert [a.get_title() for a in axes[0]] == ["time 0", "time 1", "time 2"]
    axes = wf.pl.marginals(fitted, dims=1, ridge=True, n_cells=50, times=[0.0, 0.5], show=False)
    assert axes.shape == (1, 3)
    assert len(axes[0, 1].patches) == 0 and "(model)" in axes[0, 1].get_title()  # no real cells at 0.5
    ridge = axes[0, -1]
    # 5 times (observed + midpoints): one model line each, plus a dashed real line at the 3 observed times
    assert len(ridge.lines) == 5 + 3
    assert [t.get_text() for t in ridge.get_yticklabels()] == ["0", "1", "2"]


def test_marginals_of_genes_decode_through_interpolate(fitted):
    axes = wf.pl.marginals(fitted, dims=["g1"], key="pcafit", n_cells=40, show=False)
    assert axes.shape == (1, 3) and axes[0, 0].get_ylabel() == "g1"
    line = axes[0, 1].lines[0]
    assert np.isfinite(line.get_ydata()).all()
    axes = wf.pl.marginals(fitted, dims=["g1"], key="pcafit", n_cells=40, reconstruct=False, show=False)
    assert axes.shape == (1, 3)


def test_weights_marks_and_labels_the_anchors(fitted):
    ax = wf.pl.weights(fitted, n_times=15, show=False)
    anchors = _paths(ax)
    assert len(anchors) == 1 and len(anchors[0].get_offsets()) == 3
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2"]
    assert len(_lines(ax)) == 2  # one path piece per interval
    assert ax.get_xlabel().startswith("weight PC1")
    ax = wf.pl.weights(fitted, n_times=15, start="first", annotate=False, show=False)
    assert len(_lines(ax)) == 1 and not ax.texts


def test_history_panels(fitted):
    axes = wf.pl.history(fitted, show=False)
    terms = [k for k, v in fitted.uns["weightflow"]["history"]["stage2"].items()
             if k != "seconds" and np.isfinite(np.asarray(v, float)).any()]
    assert len(axes) == 1 + len(terms)
    s1 = axes[0]
    assert s1.get_title() == "stage 1: anchors"
    curves = [ln for ln in s1.lines if len(ln.get_xdata()) > 1 or ln.get_marker() == "."]
    assert len(curves) == 3  # one per time
    n_steps = TINY_FIT["config"].stage2_steps
    for a in axes[1:]:
        assert len(a.lines) == 2 and len(a.lines[0].get_xdata()) == n_steps  # raw + smoothed
    one = wf.pl.history(fitted, stage="stage1", show=False)
    assert isinstance(one, Axes)


# --------------------------------------------------------------------------- save / show


def test_save_to_a_path_and_to_scanpys_figdir(fitted, tmp_path):
    import scanpy as sc

    path = tmp_path / "sub" / "w.png"
    wf.pl.weights(fitted, n_times=10, show=False, save=path)
    assert path.stat().st_size > 1000
    old = sc.settings.figdir, sc.settings.file_format_figs
    sc.settings.figdir, sc.settings.file_format_figs = tmp_path, "pdf"
    try:
        wf.pl.history(fitted, show=False, save=True)
        wf.pl.history(fitted, show=False, save="_run1")
    finally:
        sc.settings.figdir, sc.settings.file_format_figs = old
    assert (tmp_path / "wf_history.pdf").exists() and (tmp_path / "wf_history_run1.pdf").exists()


def test_show_returns_none(fitted, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda *a, **k: shown.append(True))
    assert wf.pl.weights(fitted, n_times=10, show=True) is None
    assert shown == [True]


def test_after_h5ad_round_trip(fitted, tmp_path):
    import anndata as ad

    fitted.write_h5ad(tmp_path / "f.h5ad")
    back = ad.read_h5ad(tmp_path / "f.h5ad")
    wf.pl.history(back, show=False)
    wf.pl.weights(back, n_times=10, show=False)
    wf.pl.trajectory(back, basis="pca", n_trajectories=2, n_steps=1, show=False)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["trajectory", "drift", "marginals", "weights", "history"])
def test_missing_fit_is_a_clear_error(name):
    adata = make_tiny_adata()
    with pytest.raises(KeyError, match=r"wf\.tl\.fit"):
        getattr(wf.pl, name)(adata, show=False)


def test_wrong_key_names_the_fits_found(fitted):
    with pytest.raises(KeyError, match=r"fits found under \['weightflow', 'pcafit'\]"):
        wf.pl.weights(fitted, key="nope", show=False)


def test_unknown_basis_lists_the_available_ones(fitted):
    with pytest.raises(KeyError, match=r"unknown basis 'tsne'.*embeddings there: \[.*'umap'.*\].*sc.tl.tsne") as info:
        wf.pl.trajectory(fitted, basis="tsne", show=False)
    assert "wf_velocity" not in str(info.value)  # a drift is not an embedding to plot on
    with pytest.raises(ValueError, match="components"):
        wf.pl.drift(fitted, basis="pca", components=(1, 3), show=False)


def test_unknown_gene_and_bad_dims(fitted):
    with pytest.raises(KeyError, match="gene 'G1' not found.*did you mean 'g1'"):
        wf.pl.marginals(fitted, dims=["G1"], key="pcafit", show=False)
    with pytest.raises(IndexError, match="out of range"):
        wf.pl.marginals(fitted, dims=[5], show=False)
    fitted_x_pca_only = fitted.copy()
    del fitted_x_pca_only.varm["PCs"]
    with pytest.raises(ValueError, match="genes can only be shown"):
        wf.pl.marginals(fitted_x_pca_only, dims=["g1"], key="pcafit", show=False)


def test_bad_options(fitted):
    with pytest.raises(ValueError, match="unknown stage"):
        wf.pl.history(fitted, stage="stage3", show=False)
    with pytest.raises(ValueError, match="unknown start"):
        wf.pl.weights(fitted, start="last", show=False)
    with pytest.raises(KeyError, match="not a column of adata.obs"):
        wf.pl.trajectory(fitted, color="celltype", n_trajectories=0, show=False)
    with pytest.raises(ValueError, match="ax must hold"):
        wf.pl.history(fitted, ax=plt.subplots()[1], show=False)


# --------------------------------------------------------------------------- projection helpers


def test_affine_map_is_detected_and_nonlinear_maps_are_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    A = rng.normal(size=(4, 2))
    got = affine_map(X, X @ A + 3.0)
    assert got is not None and np.allclose(got[0], A) and np.allclose(got[1], 3.0)
    assert affine_map(X, np.column_stack([np.sin(2 * X[:, 0]), X[:, 1] ** 2])) is None
    assert affine_map(X[:12], X[:12, :2]) is None  # too few cells to tell


def test_knn_projection_is_the_mean_of_the_neighbours():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    E = np.column_stack([np.sin(X[:, 0]), np.cos(X[:, 1]) * X[:, 2]])
    proj = embedding_projection(X, E, n_neighbors=5)
    assert proj.method == "knn"
    q = rng.normal(size=(4, 3))
    idx = np.argsort(((q[:, None] - X[None]) ** 2).sum(-1), axis=1)[:, :5]
    np.testing.assert_allclose(proj.points(q), E[idx].mean(1))
    with pytest.raises(ValueError, match="velocity_embedding"):
        proj.vectors(q)


def test_velocity_grid_recovers_a_constant_field_and_masks_empty_space():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 1, size=(2000, 2))
    xy = xy[xy[:, 0] < 0.5]  # right half empty
    v = np.tile([1.0, -2.0], (len(xy), 1))
    x, y, U, V, mass = velocity_grid(xy, v, n_grid=20)
    inside = np.isfinite(U)
    assert np.allclose(U[inside], 1.0) and np.allclose(V[inside], -2.0)
    assert not inside[:, x > 0.75].any() and inside[:, (x > 0.1) & (x < 0.4)].all()

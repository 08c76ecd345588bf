"""``wf.tl.velocity_embedding``: exact and kNN projections, the scVelo keys, errors, and the real
scVelo / CellRank readers on our output."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import wf_sc as wf
from wf_sc import _keys
from wf_sc.tl._velocity_embedding import knn, linear_map, project_jacobian, project_transition

from conftest import TINY_FIT, make_tiny_adata

M = np.array([[1.0, 0.5], [-0.3, 2.0], [0.7, -1.0], [0.2, 0.1]])  # representation (4-D) -> basis (2-D)
B = np.array([3.0, -1.0])


def _warp(X: np.ndarray) -> np.ndarray:
    """A smooth non-linear 2-D embedding of the first two coordinates."""
    return np.c_[X[:, 0] + 0.3 * X[:, 1] ** 2, X[:, 1] + 0.5 * np.sin(X[:, 0])]


def _warp_velocity(X: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Chain rule through :func:`_warp`: d/dt warp(x(t)) for dx/dt = V."""
    return np.c_[V[:, 0] + 0.6 * X[:, 1] * V[:, 1], V[:, 1] + 0.5 * np.cos(X[:, 0]) * V[:, 0]]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _hand_built(n: int = 400, seed: int = 0) -> ad.AnnData:
    """A fit record by hand: X_pca (4-D), a known drift, an affine basis X_lin = X_pca M + B and a
    non-linear basis X_umap (only what velocity_embedding reads from a fit)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    V = rng.normal(size=(n, 4)).astype(np.float32)
    adata = ad.AnnData(X=np.zeros((n, 3), np.float32))
    adata.obsm["X_pca"] = X
    adata.obsm["wf_velocity"] = V
    adata.obsm["X_lin"] = (X.astype(np.float64) @ M + B).astype(np.float32)
    adata.obsm["X_umap"] = _warp(X.astype(np.float64)).astype(np.float32)
    adata.uns["weightflow"] = {"params": {"use_rep": "X_pca"}, "keys": {"velocity": "wf_velocity"}}
    return adata


def _snapshot(adata: ad.AnnData) -> dict:
    return {
        "obsm": {k: np.array(v) for k, v in adata.obsm.items()},
        "uns": set(adata.uns.keys()),
        "params": dict(adata.uns.get("wf_velocity_params", {})),
    }


def _assert_unchanged(adata: ad.AnnData, snap: dict) -> None:
    assert set(adata.obsm.keys()) == set(snap["obsm"])
    for k, v in snap["obsm"].items():
        np.testing.assert_array_equal(adata.obsm[k], v)
    assert set(adata.uns.keys()) == snap["uns"]
    assert dict(adata.uns.get("wf_velocity_params", {})) == snap["params"]


# --------------------------------------------------------------------------- exact (linear) path


def test_affine_basis_is_projected_exactly():
    adata = _hand_built()
    assert wf.tl.velocity_embedding(adata, "lin") is None
    expected = adata.obsm["wf_velocity"].astype(np.float64) @ M
    np.testing.assert_allclose(adata.obsm["wf_velocity_lin"], expected, rtol=1e-4, atol=1e-4)
    assert adata.obsm["wf_velocity_lin"].dtype == np.float32
    assert list(adata.uns["wf_velocity_params"]["embeddings"]) == ["lin"]
    assert adata.uns["wf_velocity_params"]["projection"] == {"lin": "linear"}


def test_representation_basis_gives_the_drift_itself():
    """basis='pca' with use_rep='X_pca': the first two components are those of the drift, exactly."""
    adata = _hand_built()
    wf.tl.velocity_embedding(adata, "pca", method="linear")
    np.testing.assert_array_equal(adata.obsm["wf_velocity_pca"], adata.obsm["wf_velocity"])
    np.testing.assert_array_equal(adata.obsm["wf_velocity_pca"][:, :2], adata.obsm["wf_velocity"][:, :2])
    wf.tl.velocity_embedding(adata, "X_pca")  # X_ prefix: same key, listed once
    assert list(adata.uns["wf_velocity_params"]["embeddings"]) == ["pca"]


def test_leading_pca_columns_are_detected_as_linear():
    adata = _hand_built()
    adata.obsm["X_pc12"] = adata.obsm["X_pca"][:, :2].copy()
    wf.tl.velocity_embedding(adata, "pc12")
    assert adata.uns["wf_velocity_params"]["projection"]["pc12"] == "linear"
    np.testing.assert_allclose(adata.obsm["wf_velocity_pc12"], adata.obsm["wf_velocity"][:, :2], atol=1e-5)


def test_linear_map_helper_recovers_the_map_and_rejects_non_linear_bases():
    adata = _hand_built()
    A, resid = linear_map(adata.obsm["X_pca"], adata.obsm["X_lin"])
    np.testing.assert_allclose(A, M, atol=1e-4)
    assert resid < 1e-5
    _, resid = linear_map(adata.obsm["X_pca"], adata.obsm["X_umap"])
    assert resid > 0.05
    assert linear_map(np.zeros((5, 4)), np.zeros((5, 2)))[1] == np.inf  # too few cells to tell


# --------------------------------------------------------------------------- kNN methods


@pytest.mark.parametrize("method", ["jacobian", "transition"])
def test_knn_methods_recover_the_direction_on_an_affine_basis(method):
    adata = _hand_built(n=600)
    wf.tl.velocity_embedding(adata, "lin", method=method, n_neighbors=30)
    got = adata.obsm["wf_velocity_lin"].astype(np.float64)
    truth = adata.obsm["wf_velocity"].astype(np.float64) @ M
    cos = _cos(got, truth)
    assert adata.uns["wf_velocity_params"]["projection"] == {"lin": method}
    if method == "jacobian":  # exact for an affine map up to the small ridge, in basis units
        assert np.median(cos) > 0.999
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(truth, axis=1), rtol=0.05)
    else:  # direction only, and biased where the map stretches unevenly (it averages unit steps):
        # the reason "auto" prefers the jacobian; magnitudes are bounded consistency scores
        assert np.median(cos) > 0.9 and np.quantile(cos, 0.1) > 0.4
        assert np.linalg.norm(got, axis=1).max() <= 2.0 + 1e-6


def test_auto_uses_the_jacobian_on_a_non_linear_basis_and_follows_the_chain_rule():
    adata = _hand_built(n=800)
    wf.tl.velocity_embedding(adata, "umap")
    assert adata.uns["wf_velocity_params"]["projection"] == {"umap": "jacobian"}
    X, V = (adata.obsm[k].astype(np.float64) for k in ("X_pca", "wf_velocity"))
    cos = _cos(adata.obsm["wf_velocity_umap"].astype(np.float64), _warp_velocity(X, V))
    assert np.median(cos) > 0.98 and np.quantile(cos, 0.1) > 0.9


def test_transition_formula_on_a_hand_computed_cell():
    """Recompute p_ij and the expected unit step minus the uniform baseline for one cell."""
    rng = np.random.default_rng(3)
    X, V, E = rng.normal(size=(30, 3)), rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    nb = knn(X, 5)
    got = project_transition(X, V, E, nb, temperature=0.1)
    i = 7
    d = X[nb[i]] - X[i]
    c = d @ V[i] / (np.linalg.norm(d, axis=1) * np.linalg.norm(V[i]))
    p = np.exp(c / 0.1) / np.exp(c / 0.1).sum()
    u = (E[nb[i]] - E[i]) / np.linalg.norm(E[nb[i]] - E[i], axis=1, keepdims=True)
    np.testing.assert_allclose(got[i], (p - 1 / 5) @ u, rtol=1e-10)
    # a cell with zero drift has no preferred neighbour: zero projection
    V[i] = 0
    np.testing.assert_allclose(project_transition(X, V, E, nb)[i], 0, atol=1e-12)


def test_jacobian_formula_on_a_hand_computed_cell():
    rng = np.random.default_rng(4)
    X, V, E = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    nb = knn(X, 8)
    i = 11
    dX, dE = X[nb[i]] - X[i], E[nb[i]] - E[i]
    lam = 1e-3 * np.sum(dX**2) / 8
    J = dE.T @ dX @ np.linalg.inv(dX.T @ dX + lam * np.eye(3))  # primal ridge form
    np.testing.assert_allclose(project_jacobian(X, V, E, nb, ridge=1e-3)[i], J @ V[i], rtol=1e-8)


def test_knn_excludes_the_cell_itself_even_with_duplicates():
    X = np.array([[0.0], [0.0], [1.0], [3.0]])
    nb = knn(X, 2)
    assert nb.shape == (4, 2)
    assert all(i not in row for i, row in enumerate(nb))
    assert set(nb[0]) == {1, 2} and set(nb[1]) == {0, 2}


# --------------------------------------------------------------------------- keys, copy, h5ad


def test_params_accumulate_and_keep_foreign_entries():
    adata = _hand_built()
    adata.uns["wf_velocity_params"] = {"mode": "something scvelo wrote"}
    wf.tl.velocity_embedding(adata, "lin")
    wf.tl.velocity_embedding(adata, "umap", method="transition")
    wf.tl.velocity_embedding(adata, "lin")
    params = adata.uns["wf_velocity_params"]
    assert params["mode"] == "something scvelo wrote"
    assert list(params["embeddings"]) == ["lin", "umap"]
    assert params["projection"] == {"lin": "linear", "umap": "transition"}


def test_key_names_follow_vkey_and_key_added():
    adata = _hand_built()
    adata.uns["other"] = {"params": {"use_rep": "X_pca"}, "keys": {"velocity": "other_velocity"}}
    adata.obsm["other_velocity"] = 2 * adata.obsm["wf_velocity"]
    wf.tl.velocity_embedding(adata, "lin", key="other")
    assert _keys.velocity_basis("lin", "other_velocity") == "other_velocity_lin"
    np.testing.assert_allclose(adata.obsm["other_velocity_lin"], 2 * adata.obsm["wf_velocity"] @ M, atol=1e-4)
    assert list(adata.uns["other_velocity_params"]["embeddings"]) == ["lin"]
    assert "wf_velocity_lin" not in adata.obsm and "wf_velocity_params" not in adata.uns


def test_copy_returns_a_new_anndata_and_leaves_the_input_alone():
    adata = _hand_built()
    snap = _snapshot(adata)
    out = wf.tl.velocity_embedding(adata, "umap", copy=True)
    assert isinstance(out, ad.AnnData) and out is not adata
    assert "wf_velocity_umap" in out.obsm and "wf_velocity_params" in out.uns
    _assert_unchanged(adata, snap)


def test_h5ad_round_trip_keeps_the_keys(tmp_path):
    adata = _hand_built()
    wf.tl.velocity_embedding(adata, "lin")
    wf.tl.velocity_embedding(adata, "umap")
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    for key in ("wf_velocity_lin", "wf_velocity_umap"):
        np.testing.assert_array_equal(back.obsm[key], adata.obsm[key])
    assert [str(b) for b in back.uns["wf_velocity_params"]["embeddings"]] == ["lin", "umap"]
    assert dict(back.uns["wf_velocity_params"]["projection"]) == {"lin": "linear", "umap": "jacobian"}
    # a read-back list (an ndarray) is extended, not replaced
    back.obsm["X_pc12"] = back.obsm["X_pca"][:, :2]
    wf.tl.velocity_embedding(back, "pc12")
    assert list(back.uns["wf_velocity_params"]["embeddings"]) == ["lin", "umap", "pc12"]
    back.write_h5ad(tmp_path / "b.h5ad")


# --------------------------------------------------------------------------- errors: clear and harmless


@pytest.mark.parametrize(
    "breakage, kwargs, error, words",
    [
        ("no_fit", {}, KeyError, ["wf.tl.fit", "adata.uns['weightflow']"]),
        ("no_rep", {}, KeyError, ["'X_pca'", "available", "X_umap"]),
        ("no_drift", {}, KeyError, ["'wf_velocity'", "available", "X_pca"]),
        ("none", {"basis": "tsne"}, KeyError, ["'X_tsne'", "available", "X_umap"]),
        ("none", {"method": "magic"}, ValueError, ["'magic'", "jacobian"]),
        ("none", {"method": "linear"}, ValueError, ["not an affine image", "jacobian"]),
        ("none", {"n_neighbors": 0}, ValueError, ["n_neighbors"]),
        ("bad_shape", {}, ValueError, ["shape"]),
        ("nan_basis", {}, ValueError, ["NaN/inf", "cells"]),
    ],
)
def test_errors_are_clear_and_modify_nothing(breakage, kwargs, error, words):
    adata = _hand_built()
    wf.tl.velocity_embedding(adata, "lin")  # something already there that must survive
    if breakage == "no_fit":
        del adata.uns["weightflow"]
    elif breakage == "no_rep":
        del adata.obsm["X_pca"]
    elif breakage == "no_drift":
        del adata.obsm["wf_velocity"]
    elif breakage == "bad_shape":
        adata.obsm["wf_velocity"] = adata.obsm["wf_velocity"][:, :3]
    elif breakage == "nan_basis":
        adata.obsm["X_umap"][0, 0] = np.nan
    kwargs = {"basis": "umap"} | kwargs
    snap = _snapshot(adata)
    with pytest.raises(error) as info:
        wf.tl.velocity_embedding(adata, kwargs.pop("basis"), **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    _assert_unchanged(adata, snap)


# --------------------------------------------------------------------------- on a real fit, and the real readers


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    """A tiny real fit on ``X_pca`` (2-D) with a non-linear ``X_umap`` of the same cells."""
    adata = make_tiny_adata(n_per_time=40)
    adata.obsm["X_pca"] = adata.X.copy()
    wf.tl.fit(adata, "time", **TINY_FIT)
    adata.obsm["X_umap"] = _warp(adata.obsm["X_pca"].astype(np.float64)).astype(np.float32)
    adata.obs["time_cat"] = adata.obs["time"].astype(str).astype("category")
    return adata


def test_on_a_real_fit(fitted):
    adata = fitted.copy()
    wf.tl.velocity_embedding(adata, "pca")
    np.testing.assert_array_equal(adata.obsm["wf_velocity_pca"], adata.obsm["wf_velocity"])
    wf.tl.velocity_embedding(adata, "umap", n_neighbors=15)
    V_umap = adata.obsm["wf_velocity_umap"]
    assert V_umap.shape == (adata.n_obs, 2) and np.isfinite(V_umap).all()
    X, V = (adata.obsm[k].astype(np.float64) for k in ("X_pca", "wf_velocity"))
    assert np.median(_cos(V_umap.astype(np.float64), _warp_velocity(X, V))) > 0.9


def test_scvelo_stream_plot_reads_our_keys_without_recomputing(fitted):
    """The real ``scvelo.pl.velocity_embedding_stream`` on our output (scVelo recomputes the
    projection -- needing its own velocity graph -- when the keys are not where it expects)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scvelo as scv
    from scvelo.plotting.utils import velocity_embedding_changed

    adata = fitted.copy()
    wf.tl.velocity_embedding(adata, "umap", n_neighbors=15)
    ours = adata.obsm["wf_velocity_umap"].copy()
    assert not velocity_embedding_changed(adata, basis="umap", vkey="wf_velocity")
    ax = scv.pl.velocity_embedding_stream(adata, vkey="wf_velocity", basis="umap", color="time_cat", show=False)
    try:
        assert ax is not None and len(ax.collections) > 0  # the scatter and the streamlines were drawn
    finally:
        plt.close("all")
    np.testing.assert_array_equal(adata.obsm["wf_velocity_umap"], ours)
    assert "wf_velocity_graph" not in adata.uns


def _knn_connectivities(X: np.ndarray, k: int = 10) -> sparse.csr_matrix:
    """A symmetric binary kNN graph (what CellRank needs from ``sc.pp.neighbors``), without numba."""
    nb = knn(X, k)
    rows = np.repeat(np.arange(len(X)), k)
    C = sparse.csr_matrix((np.ones(rows.size), (rows, nb.ravel())), shape=(len(X), len(X)))
    return ((C + C.T) > 0).astype(np.float64).tocsr()


def test_cellrank_velocity_kernel_reads_the_drift(fitted, monkeypatch):
    """CellRank is not in the test extra: its dependencies pin scipy<1.17 (pygam) and jinja2==3.0.3
    (pygpcca, which breaks Sphinx >= 8); this runs where it is installed."""
    cellrank = pytest.importorskip("cellrank", reason="cellrank is not installed (not in the test extra)")
    import inspect

    if "x" not in inspect.signature(np.testing.assert_array_equal).parameters:
        # cellrank <= 2.0.7 calls assert_array_equal(x=..., y=...), removed from numpy
        # (scverse/cellrank#1272, fixed by #1273 after 2.0.7): accept the old keywords
        original = np.testing.assert_array_equal

        def assert_array_equal(actual=None, desired=None, *args, x=None, y=None, **kwargs):
            return original(actual if x is None else x, desired if y is None else y, *args, **kwargs)

        monkeypatch.setattr(np.testing, "assert_array_equal", assert_array_equal)
    adata = fitted.copy()
    # what sc.pp.neighbors writes, built by hand (no numba compilation in the test)
    adata.obsp["connectivities"] = _knn_connectivities(adata.obsm["X_pca"])
    adata.obsp["distances"] = adata.obsp["connectivities"].copy()
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {"n_neighbors": 10, "method": "umap"},
    }
    vk = cellrank.kernels.VelocityKernel(adata, attr="obsm", xkey="X_pca", vkey="wf_velocity")
    vk.compute_transition_matrix(show_progress_bar=False)
    T = vk.transition_matrix
    T = T.toarray() if sparse.issparse(T) else np.asarray(T)
    assert T.shape == (adata.n_obs, adata.n_obs)
    assert (T >= 0).all()
    np.testing.assert_allclose(T.sum(1), 1.0, atol=1e-6)
    assert (T[adata.obsp["connectivities"].toarray() == 0] == 0).all()  # transitions along the graph only
    # and they follow the drift: the expected step points along it (cosine similarity; CellRank's
    # default, Pearson correlation across dimensions, is degenerate in this 2-D example)
    vk.compute_transition_matrix(similarity="cosine", show_progress_bar=False)
    T = vk.transition_matrix
    T = T.toarray() if sparse.issparse(T) else np.asarray(T)
    X, V = adata.obsm["X_pca"].astype(np.float64), adata.obsm["wf_velocity"].astype(np.float64)
    assert np.median(_cos(T @ X - X, V)) > 0.5
    # and GPCCA finds macrostates on it
    g = cellrank.estimators.GPCCA(vk)
    g.compute_schur(n_components=4, method="brandts")
    g.compute_macrostates(n_states=2)
    states = g.macrostates
    assert states.notna().sum() > 0 and len(states.cat.categories) == 2


def test_returns_section_lists_every_field_written():
    """STYLE (as ``test_conventions`` checks for fit/prepare): Returns names each field written."""
    adata = _hand_built()
    before = {attr: set(getattr(adata, attr).keys()) for attr in ("obs", "obsm", "varm", "uns", "layers", "obsp")}
    wf.tl.velocity_embedding(adata, "umap")
    returns = wf.tl.velocity_embedding.__doc__.split("Returns\n")[1].replace("<basis>", "umap")
    written = [(attr, key) for attr, keys in before.items() for key in getattr(adata, attr).keys() if key not in keys]
    assert written == [("obsm", "wf_velocity_umap"), ("uns", "wf_velocity_params")]
    for attr, key in written:
        assert f"adata.{attr}['{key}']" in returns, (attr, key)
    for sub in adata.uns["wf_velocity_params"]:
        assert f"``{sub}``" in returns, sub

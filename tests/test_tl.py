"""wf.tl on simulated time courses with known ground truth."""

import dataclasses

import anndata as ad
import numpy as np
import ot
import pytest
import torch

import wf_sc as wf

FAST = dict(config=wf.tl.Config(stage2_steps=80), progress=False)
HELD_OUT = 1.0


def w1(a, b):
    """Exact earth mover's distance with Euclidean cost and uniform weights (POT)."""
    return float(ot.emd2([], [], ot.dist(np.asarray(a, float), np.asarray(b, float), metric="euclidean")))


@pytest.fixture(scope="module")
def flow():
    return wf.datasets.GradientFlow(dim=2, random_state=0)


@pytest.fixture(scope="module")
def fitted(flow):
    """Gradient flow observed at 0, .5, 1.5, 2 (t = 1 held out), fitted once for the module."""
    adata = flow.sample(times=(0.0, 0.5, 1.5, 2.0), n_cells=400, random_state=1)
    wf.tl.fit(adata, "time", use_rep="X", random_state=0, **FAST)
    return adata


def test_fit_writes_every_documented_field(fitted):
    rec = fitted.uns["weightflow"]
    for key in ("params", "times", "history", "nll", "standardization", "model", "populations", "keys"):
        assert key in rec, key
    assert rec["times"].tolist() == [0.0, 0.5, 1.5, 2.0]
    assert rec["params"]["time_key"] == "time" and rec["params"]["use_rep"] == "X"
    assert fitted.obsm["wf_velocity"].shape == (fitted.n_obs, 2)
    assert np.isfinite(fitted.obsm["wf_velocity"]).all()
    assert np.isfinite(fitted.obs["wf_log_density"]).all()
    pops = rec["populations"]
    # observed times and midpoints, 300 cells each by default
    assert sorted(set(pops["time"].tolist())) == [0.0, 0.25, 0.5, 1.0, 1.5, 1.75, 2.0]
    assert pops["X"].shape == (7 * 300, 2)
    assert len(rec["nll"]["validation"]) == 4
    assert len(rec["history"]["stage2"]["total"]) == FAST["config"].stage2_steps
    share = np.asarray(rec["history"]["bridge_share"])  # one per anchor interval
    assert share.shape == (3,) and np.all(share >= 0)


def test_held_out_population_beats_both_neighbouring_snapshots(fitted, flow):
    """The generated population at the unseen time is closer to the truth than either neighbour."""
    truth = flow.population(HELD_OUT, 600, random_state=7)
    gen = wf.tl.interpolate(fitted, HELD_OUT, n_cells=600, prediction="sample")
    obs = fitted.obs["time"].to_numpy()
    prev, nxt = fitted.X[obs == 0.5], fitted.X[obs == 1.5]
    d_model, d_prev, d_next = w1(gen.X, truth), w1(prev, truth), w1(nxt, truth)
    floor = w1(flow.population(HELD_OUT, 600, random_state=8), truth)
    assert d_model < min(d_prev, d_next), (d_model, d_prev, d_next, floor)
    # and the generated cells are at the right time in the generated AnnData
    assert np.all(gen.obs["time"] == HELD_OUT) and gen.n_obs == 600


def test_drift_agrees_with_the_true_velocity(fitted, flow):
    """Median cosine similarity of the drift with the known velocity -A(x - m) is >= 0.8."""
    v_true = fitted.obsm["velocity_true"]
    v = fitted.obsm["wf_velocity"]
    cos = (v * v_true).sum(1) / (np.linalg.norm(v, axis=1) * np.linalg.norm(v_true, axis=1))
    assert np.median(cos) >= 0.8, np.median(cos)
    rel = np.abs(np.linalg.norm(v, axis=1) / np.linalg.norm(v_true, axis=1) - 1)
    assert np.median(rel) < 0.5, np.median(rel)
    # the drift also holds at the unseen time, for cells drawn from the truth there
    model = wf.tl.WeightFlow.from_adata(fitted)
    x = flow.population(HELD_OUT, 300, random_state=3)
    v_mid, v_mid_true = model.drift(x, HELD_OUT), flow.velocity(x, HELD_OUT)
    cos_mid = (v_mid * v_mid_true).sum(1) / (np.linalg.norm(v_mid, axis=1) * np.linalg.norm(v_mid_true, axis=1))
    assert np.median(cos_mid) >= 0.8, np.median(cos_mid)


def test_moving_cells_along_the_drift_approaches_the_next_snapshot(fitted):
    obs = fitted.obs["time"].to_numpy()
    x0, x1 = fitted.X[obs == 0.5], fitted.X[obs == 1.5]
    moved = x0 + 1.0 * fitted.obsm["wf_velocity"][obs == 0.5]
    assert w1(moved, x1) < w1(x0, x1)


def test_transport_moves_observed_cells_along_the_drift(fitted, flow):
    """Transport is the integral of the drift: the identity for no time, invertible, a small step
    is the drift, and the observed neighbours moved to the unseen time land near the truth there."""
    model = wf.tl.WeightFlow.from_adata(fitted)
    obs = fitted.obs["time"].to_numpy()
    x0, x1 = fitted.X[obs == 0.5], fitted.X[obs == 1.5]
    np.testing.assert_allclose(model.transport(x0, 0.5, 0.5), x0, atol=1e-4)
    there = model.transport(x0, 0.5, HELD_OUT)
    back = model.transport(there, HELD_OUT, 0.5)
    assert np.median(np.abs(back - x0)) < 1e-4
    h = 1e-2
    step = (model.transport(there, HELD_OUT, HELD_OUT + h) - model.transport(there, HELD_OUT, HELD_OUT - h)) / (2 * h)
    v = model.drift(there, HELD_OUT)
    assert np.median(np.linalg.norm(step - v, axis=1) / np.linalg.norm(v, axis=1)) < 0.02
    truth = flow.population(HELD_OUT, 400, random_state=7)
    moved = np.concatenate([there[:200], model.transport(x1[:200], 1.5, HELD_OUT)])
    assert w1(moved, truth) < 0.5 * min(w1(x0, truth), w1(x1, truth))
    with pytest.raises(ValueError, match="one start time"):
        model.transport(x0, [0.5, 1.0], 1.0)
    with pytest.raises(ValueError, match="cells must be an array"):
        model.transport(x0[:, :1], 0.5, 1.0)


def test_interpolate_meets_cells_from_both_sides_and_names_them(fitted, flow, tmp_path):
    gen = wf.tl.interpolate(fitted, [HELD_OUT, 0.5], n_cells=400, random_state=3)
    mid, obs_time = gen[gen.obs["time"] == HELD_OUT], gen[gen.obs["time"] == 0.5]
    # between the observed 0.5 and 1.5 (s = 1/2): each cell pairs a real cell of 0.5 with one of 1.5
    assert (mid.obs["source_time"] == 0.5).all()
    obs = fitted.obs["time"].to_numpy()
    assert set(mid.obs["source_cell"]) <= set(fitted.obs_names[obs == 0.5])
    assert set(mid.obs["partner_cell"]) <= set(fitted.obs_names[obs == 1.5])
    # the met cell is the average of its two cells carried to t = 1 along the fitted flow
    model = wf.tl.WeightFlow.from_adata(fitted)
    a = model.transport(fitted[mid.obs["source_cell"]].X, 0.5, HELD_OUT)
    b = model.transport(fitted[mid.obs["partner_cell"]].X, 1.5, HELD_OUT)
    np.testing.assert_allclose(mid.X, 0.5 * a + 0.5 * b, atol=1e-4)
    # and the pairs are an optimal assignment between the two carried clouds
    paired_cost = float(((a - b) ** 2).sum(1).mean())
    assert paired_cost == pytest.approx(float(ot.emd2([], [], ot.dist(a.astype(float), b.astype(float)))), rel=1e-4)
    truth = flow.population(HELD_OUT, 400, random_state=7)
    assert w1(mid.X, truth) < 0.5 * min(w1(fitted.X[obs == 0.5], truth), w1(fitted.X[obs == 1.5], truth))
    # at an observed time the cells stay where they are and have no partner
    np.testing.assert_allclose(obs_time.X, fitted[obs_time.obs["source_cell"]].X, atol=1e-3)
    assert (obs_time.obs["partner_cell"] == "").all()
    assert gen.uns["wf_interpolate"]["prediction"] == "meet"
    gen.write_h5ad(tmp_path / "gen.h5ad")
    back = ad.read_h5ad(tmp_path / "gen.h5ad")
    assert back.obs["source_cell"].tolist() == gen.obs["source_cell"].tolist()
    assert back.obs["partner_cell"].tolist() == gen.obs["partner_cell"].tolist()
    with pytest.raises(ValueError, match="unknown prediction"):
        wf.tl.interpolate(fitted, HELD_OUT, prediction="magic")


def test_log_density_matches_the_true_gaussian(fitted, flow):
    """Model log-densities of real cells track the exact Gaussian log-density (correlation)."""
    obs = fitted.obs["time"].to_numpy()
    x = fitted.X[obs == 2.0]
    mean, cov = flow.mean(2.0), flow.cov(2.0)
    diff = x - mean
    true = -0.5 * np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff) - 0.5 * np.log(
        np.linalg.det(2 * np.pi * cov)
    )
    model = fitted.obs["wf_log_density"].to_numpy()[obs == 2.0]
    assert np.corrcoef(model, true)[0, 1] > 0.9
    assert abs(model.mean() - true.mean()) < 0.3


def test_h5ad_round_trip_keeps_every_field_and_the_model(fitted, tmp_path):
    path = tmp_path / "fit.h5ad"
    fitted.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.obsm["wf_velocity"], fitted.obsm["wf_velocity"])
    np.testing.assert_array_equal(back.obs["wf_log_density"], fitted.obs["wf_log_density"])
    rec, rec2 = fitted.uns["weightflow"], back.uns["weightflow"]
    assert set(rec) == set(rec2)
    np.testing.assert_array_equal(rec2["populations"]["X"], rec["populations"]["X"])
    np.testing.assert_array_equal(rec2["times"], rec["times"])
    for k, v in rec["model"]["state_dict"].items():
        np.testing.assert_array_equal(rec2["model"]["state_dict"][k], v)
    m1, m2 = wf.tl.WeightFlow.from_adata(fitted), wf.tl.WeightFlow.from_adata(back)
    np.testing.assert_array_equal(m1.sample(1.2, 200, random_state=4), m2.sample(1.2, 200, random_state=4))
    x = fitted.X[:50]
    t = fitted.obs["time"].to_numpy()[:50]
    np.testing.assert_allclose(m2.log_density(x, t), fitted.obs["wf_log_density"].to_numpy()[:50], rtol=1e-5)


def test_save_load_round_trip(fitted, tmp_path):
    model = wf.tl.WeightFlow.from_adata(fitted)
    model.save(tmp_path / "model.pt")
    back = wf.tl.WeightFlow.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(model.weights([0.3, 1.7]), back.weights([0.3, 1.7]))
    np.testing.assert_array_equal(model.sample(0.75, 100, random_state=2), back.sample(0.75, 100, random_state=2))
    assert back.times.tolist() == [0.0, 0.5, 1.5, 2.0]


def test_fit_is_reproducible_on_cpu(flow):
    adata = flow.sample(times=(0.0, 1.0, 2.0), n_cells=60, random_state=2)
    small = dict(config=wf.tl.Config(stage1_max_steps_first=150, stage1_max_steps=60, stage2_steps=8, hidden=8, width=16), progress=False)
    a = wf.tl.fit(adata, "time", use_rep="X", random_state=3, copy=True, device="cpu", **small)
    b = wf.tl.fit(adata, "time", use_rep="X", random_state=3, copy=True, device="cpu", **small)
    c = wf.tl.fit(adata, "time", use_rep="X", random_state=4, copy=True, device="cpu", **small)
    np.testing.assert_array_equal(a.obsm["wf_velocity"], b.obsm["wf_velocity"])
    np.testing.assert_array_equal(a.uns["weightflow"]["populations"]["X"], b.uns["weightflow"]["populations"]["X"])
    assert not np.array_equal(a.obsm["wf_velocity"], c.obsm["wf_velocity"])
    # fitting does not touch the global torch RNG
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    wf.tl.fit(adata, "time", use_rep="X", copy=True, **small)
    assert torch.equal(torch.rand(3), before)


def test_n_threads_applies_during_the_fit_and_is_restored(flow, monkeypatch):
    adata = flow.sample(times=(0.0, 1.0, 2.0), n_cells=60, random_state=2)
    small = dict(config=wf.tl.Config(stage1_max_steps_first=30, stage1_max_steps=10, stage2_steps=2, hidden=8, width=16), progress=False)
    import wf_sc._core.pipeline as pipeline

    seen = []
    real = pipeline.fit_weightflow

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr("wf_sc.tl._model.fit_weightflow", spy)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        wf.tl.fit(adata, "time", use_rep="X", copy=True, **small)  # default: one thread
        torch_setting = dataclasses.replace(small["config"], n_threads=None)
        wf.tl.fit(adata, "time", use_rep="X", copy=True, progress=False, config=torch_setting)
        assert seen == [1, 2]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
    with pytest.raises(ValueError, match="n_threads must be an integer >= 1, 'auto' or None"):
        wf.tl.Config(n_threads=0)


def test_auto_threads_keep_torch_setting_only_for_large_per_cell_queries(fitted, monkeypatch):
    from wf_sc.tl import _settings
    from wf_sc.tl._cell_queries import CellQueries

    assert _settings.resolve_threads("auto") == 1  # training
    assert _settings.resolve_threads("auto", _settings.AUTO_THREADS_CELLS - 1) == 1
    assert _settings.resolve_threads("auto", _settings.AUTO_THREADS_CELLS) is None
    assert _settings.resolve_threads(3, 10**6) == 3 and _settings.resolve_threads(None) is None
    model = wf.tl.WeightFlow.from_adata(fitted)
    assert model.config.n_threads == "auto"
    seen, real = [], CellQueries._grouped_body

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(CellQueries, "_grouped_body", spy)
    monkeypatch.setattr(_settings, "AUTO_THREADS_CELLS", 40)
    x = fitted.X[:60]
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        small, large = model.log_density(x[:39], 1.0), model.log_density(x, 1.0)
        assert seen == [1, 2] and torch.get_num_threads() == 2
        for name in ("transport", "sample"):  # the other per-cell queries pass their cell counts too
            real_fn = getattr(model.core, name)

            def counting(*args, real_fn=real_fn, **kwargs):
                seen.append(torch.get_num_threads())
                return real_fn(*args, **kwargs)

            monkeypatch.setattr(model.core, name, counting)
        seen.clear()
        model.transport(x[:39], 0.0, 0.5), model.transport(x, 0.0, 0.5)
        model.sample(0.5, n_cells=39), model.sample(0.5, n_cells=40)
        assert seen == [1, 2, 1, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
    np.testing.assert_allclose(large[:39], small, rtol=1e-5, atol=1e-5)  # the same values on either setting


def test_weights_path_passes_through_the_anchors(fitted):
    model = wf.tl.WeightFlow.from_adata(fitted)
    W = model.weights([0.0, 0.5, 1.5, 2.0])
    np.testing.assert_array_equal(W, model.core.anchors.numpy())


def test_interpolate_decodes_to_genes():
    """decode=True maps generated PCA coordinates back through varm['PCs'] + gene means."""
    import scanpy as sc

    rng = np.random.default_rng(0)
    n, genes = 240, 12
    t = np.repeat([0.0, 1.0, 2.0], n // 3)
    loadings = rng.normal(size=(2, genes))
    latent = rng.normal(size=(n, 2)) + t[:, None]
    X = (latent @ loadings + 5).astype(np.float32)
    adata = ad.AnnData(X=X)
    adata.obs["day"] = t
    sc.pp.pca(adata, n_comps=2)
    small = dict(config=wf.tl.Config(stage1_max_steps_first=150, stage1_max_steps=60, stage2_steps=5, hidden=8, width=16), progress=False)
    wf.tl.fit(adata, "day", **small)
    out = wf.tl.interpolate(adata, [0.5], n_cells=80, decode=True)  # as many as each snapshot holds
    assert out.shape == (80, genes) and list(out.var_names) == list(adata.var_names)
    Y = out.obsm["X_pca"]
    expect = Y @ adata.varm["PCs"].T + X.mean(0)
    np.testing.assert_allclose(out.X, expect, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def pca_fitted():
    """Rank-2 gene data (12 genes, one non-variable gene), scanpy PCA with 2 comps, a tiny fit on X_pca."""
    import scanpy as sc

    rng = np.random.default_rng(0)
    t = np.repeat([0.0, 1.0, 2.0], 60)
    latent = rng.normal(size=(len(t), 2)) + t[:, None]
    X = (latent @ rng.normal(size=(2, 12)) + rng.uniform(2, 8, size=12)).astype(np.float32)
    adata = ad.AnnData(X=X)
    adata.obs["day"] = t
    adata.layers["shifted"] = X + np.linspace(1, 4, 12, dtype=np.float32)  # other gene means, same loadings
    sc.pp.pca(adata, n_comps=2)
    small = dict(config=wf.tl.Config(stage1_max_steps_first=100, stage1_max_steps=50, stage2_steps=5, hidden=8, width=16))
    wf.tl.fit(adata, "day", progress=False, device="cpu", **small)
    return adata


@pytest.mark.parametrize("variant", ["default", "sparse", "layer", "no_zero_center", "mask_var"])
def test_decode_inverts_scanpy_pca(pca_fitted, variant):
    """decode=True is the inverse of scanpy's PCA for every way ``sc.pp.pca`` can have been called.

    Checked in two independent halves: scanpy's own encoding of the real cells is
    ``X_pca = (S - c) PCs`` (S the PCA's input, c its column means, or 0 without zero_center), and
    re-encoding the decoded genes the same way gives back the generated coordinates.
    """
    import scanpy as sc
    from scipy import sparse

    adata = pca_fitted.copy()
    source = np.asarray(adata.X, dtype=np.float64)
    kwargs = {}
    if variant == "sparse":
        adata.X = sparse.csr_matrix(adata.X)
    elif variant == "layer":
        kwargs["layer"] = "shifted"
        source = np.asarray(adata.layers["shifted"], dtype=np.float64)
    elif variant == "no_zero_center":
        kwargs["zero_center"] = False
    elif variant == "mask_var":
        adata.var["highly_variable"] = np.arange(adata.n_vars) < 10
    if variant != "default":  # recompute the PCA this way; the fit only provides generated coordinates
        sc.pp.pca(adata, n_comps=2, **kwargs)
    pcs = np.asarray(adata.varm["PCs"], dtype=np.float64)
    center = source.mean(0) if kwargs.get("zero_center", True) else np.zeros(adata.n_vars)
    if variant == "mask_var":
        assert (pcs[10:] == 0).all()
        center[10:] = 0  # genes outside the mask are not part of the encoding
    np.testing.assert_allclose((source - center) @ pcs, adata.obsm["X_pca"], atol=1e-3)  # scanpy's convention

    out = wf.tl.interpolate(adata, [0.5, 1.5], n_cells=50, decode=True)
    assert out.shape == (100, adata.n_vars) and list(out.var_names) == list(adata.var_names)
    Y = out.obsm["X_pca"].astype(np.float64)
    decoded = np.asarray(out.X, dtype=np.float64)
    np.testing.assert_allclose((decoded - center) @ pcs, Y, atol=1e-3)
    if variant == "mask_var":  # genes the PCA did not see decode to their mean
        np.testing.assert_allclose(decoded[:, 10:], np.broadcast_to(source[:, 10:].mean(0), (100, 2)), atol=1e-4)


def test_queries_accept_negative_stride_arrays(fitted):
    # scanpy can store X_pca as a view with negative strides; torch refuses those directly
    model = wf.tl.WeightFlow.from_adata(fitted)
    X = np.asarray(fitted.X[:50], dtype=np.float32)
    flipped = np.flip(np.flip(X, 1).copy(), 1)
    assert flipped.strides[1] < 0
    np.testing.assert_array_equal(model.drift(flipped, 1.0), model.drift(X, 1.0))
    np.testing.assert_array_equal(model.log_density(flipped, 1.0), model.log_density(X, 1.0))


def test_per_cell_outputs_in_chunks_equal_one_pass(fitted):
    """Drift, log-density and transport are computed chunk by chunk; the chunk size changes nothing
    beyond float32 rounding (batched matrix products sum in another order)."""
    model = wf.tl.WeightFlow.from_adata(fitted)
    X = np.asarray(fitted.X, dtype=np.float32)
    t = fitted.obs["time"].to_numpy()
    np.testing.assert_allclose(model.drift(X, t, chunk=7), model.drift(X, t, chunk=len(X)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.log_density(X, t, chunk=7), model.log_density(X, t, chunk=len(X)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.transport(X, 0.0, 1.0, chunk=7), model.transport(X, 0.0, 1.0, chunk=len(X)), atol=1e-5)


def test_the_interval_paths_are_integrated_once_until_the_field_changes(fitted, monkeypatch):
    """A drift query at many times integrates each anchor interval once on the query grid (for the
    bridge of its weights and of its velocities, and the weights themselves); a second query reuses
    them; any change of the field's values, however written, finds them anew."""
    model = wf.tl.WeightFlow.from_adata(fitted)
    core_type = type(model.core)
    X = np.asarray(fitted.X, dtype=np.float32)[:40]
    t = np.linspace(0.1, 1.9, 40)  # 40 times across the three intervals
    calls = []
    chain = core_type.integrate_from
    monkeypatch.setattr(core_type, "integrate_from", lambda self, k, targets, steps=None: calls.append(k) or chain(self, k, targets, steps))
    v = model.drift(X, t)
    assert calls == [0, 1, 2]
    np.testing.assert_array_equal(v, model.drift(X, t))
    assert len(calls) == 3
    weight = next(model.core.field.parameters())
    with torch.no_grad():
        weight.mul_(1.0)  # written in place, as an optimizer would, with the same values
    np.testing.assert_array_equal(v, model.drift(X, t))
    assert len(calls) == 3
    weight.data.add_(0.01)  # a write no version counter sees
    moved = model.drift(X, t)
    assert np.abs(moved - v).max() > 1e-4
    assert len(calls) == 6
    taus = torch.linspace(0.1, 0.9, 5, dtype=model.core.tau.dtype)
    with torch.no_grad():
        theta = model.core.weights(taus)
    with torch.inference_mode():  # tensors without version counters
        torch.testing.assert_close(model.core.weights(taus), theta, rtol=0, atol=0)
        assert len(calls) == 6
        model.core.anchors.mul_(1.5)
        assert (model.core.weights(taus) - theta).abs().max() > 1e-3
    assert len(calls) == 9


def test_drift_and_score_under_inference_mode(fitted):
    """Neither forward mode (the drift) nor backpropagation (the score) works in inference mode; both
    leave it for their own pass, with the same values, also on a model built in inference mode."""
    model = wf.tl.WeightFlow.from_adata(fitted)
    X = np.asarray(fitted.X, dtype=np.float32)[:30]
    v, s = model.drift(X, 1.0), model.score(X, 1.0)
    with torch.inference_mode():
        np.testing.assert_array_equal(model.drift(X, 1.0), v)
        np.testing.assert_array_equal(model.drift_and_log_density(X, 1.0)[0], v)
        np.testing.assert_array_equal(model.score(X, 1.0), s)
        built = wf.tl.WeightFlow.from_adata(fitted)
        np.testing.assert_array_equal(built.drift(X, 1.0), v)
        np.testing.assert_array_equal(built.score(X, 1.0), s)


def test_drift_and_log_density_from_one_pass_equal_the_separate_queries(fitted):
    """What ``wf.tl.fit`` writes comes from one pass; it equals the separate queries (the log-density up to
    float32 rounding: the head runs per coordinate instead of batched), with the drift 0 outside the
    fitted range as in :meth:`drift`."""
    model = wf.tl.WeightFlow.from_adata(fitted)
    X = np.asarray(fitted.X, dtype=np.float32)
    t = fitted.obs["time"].to_numpy().copy()
    t[:3] = t.max() + 10.0
    with pytest.warns(UserWarning, match="outside the fitted range"):
        v, log_d = model.drift_and_log_density(X, t, chunk=50)
    with pytest.warns(UserWarning, match="outside the fitted range"):
        np.testing.assert_array_equal(v, model.drift(X, t, chunk=50))
    with pytest.warns(UserWarning, match="outside the fitted range"):
        np.testing.assert_allclose(log_d, model.log_density(X, t, chunk=50), rtol=1e-5, atol=1e-5)
    assert not v[:3].any() and np.isfinite(log_d).all()
    np.testing.assert_allclose(fitted.obs["wf_log_density"], model.log_density(X, fitted.obs["time"].to_numpy()),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="no cells"):
        model.drift(X[:0], 1.0)

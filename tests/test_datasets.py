"""Tests for wf_sc.datasets: simulators (exact ground truth) and cached, hash-checked loaders."""

from __future__ import annotations

import io
import shutil
import urllib.request
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from wf_sc import datasets as wfd
from wf_sc.datasets import _fetch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _no_network(*args, **kwargs):
    raise AssertionError("network access attempted although the file is cached")


# ----------------------------------------------------------------------------- simulators


def test_gradient_flow_layout():
    adata = wfd.gradient_flow(dim=3, times=(0.0, 1.0, 2.5), n_cells=[10, 20, 30], diffusion=0.2)
    assert adata.shape == (60, 3)
    assert adata.X.dtype == np.float32
    assert list(adata.var_names) == ["x1", "x2", "x3"]
    assert adata.obs["time"].dtype == float
    assert adata.obs["time"].value_counts().sort_index().tolist() == [10, 20, 30]
    assert adata.obsm["velocity_true"].shape == (60, 3)
    assert adata.obs_names.is_unique
    sim = adata.uns["simulation"]
    assert sim["name"] == "gradient_flow" and sim["diffusion"] == 0.2
    assert np.asarray(sim["A"]).shape == (3, 3)


def test_toggle_switch_layout():
    adata = wfd.toggle_switch(times=(0, 2), n_cells=50)
    assert adata.shape == (100, 2)
    assert adata.X.dtype == np.float32
    assert list(adata.var_names) == ["gene_A", "gene_B"]
    assert (adata.X >= 0).all()
    assert adata.obsm["drift_true"].shape == (100, 2)
    assert adata.uns["simulation"]["name"] == "toggle_switch"


def test_simulations_survive_h5ad(tmp_path):
    for adata in (wfd.gradient_flow(n_cells=5), wfd.toggle_switch(n_cells=5)):
        path = tmp_path / f"{adata.uns['simulation']['name']}.h5ad"
        adata.write_h5ad(path)
        back = ad.read_h5ad(path)
        np.testing.assert_array_equal(back.X, adata.X)
        assert back.uns["simulation"]["name"] == adata.uns["simulation"]["name"]


@pytest.mark.parametrize("make", [wfd.gradient_flow, wfd.toggle_switch])
def test_same_seed_same_arrays(make):
    a, b = make(n_cells=30, random_state=3), make(n_cells=30, random_state=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, make(n_cells=30, random_state=4).X)
    key = "velocity_true" if "velocity_true" in a.obsm else "drift_true"
    np.testing.assert_array_equal(a.obsm[key], b.obsm[key])


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_cells"):
        wfd.gradient_flow(times=(0, 1), n_cells=[5, 5, 5])
    with pytest.raises(ValueError, match="positive definite"):
        wfd.GradientFlow(2, A=np.diag([1.0, -1.0]))
    with pytest.raises(ValueError, match="symmetric"):
        wfd.GradientFlow(2, A=np.array([[1.0, 0.5], [0.0, 1.0]]))


def test_default_A_spd_and_anisotropic():
    flow = wfd.GradientFlow(2)
    np.testing.assert_allclose(flow.A, flow.A.T)
    np.testing.assert_allclose(np.linalg.eigvalsh(flow.A), [0.5, 1.5])
    # the mean path from mu0 to m curves (the displacement is not an eigenvector of A)
    direction = flow.mean(0.5) - flow.mu0
    cosine = direction @ (flow.m - flow.mu0) / np.linalg.norm(direction) / np.linalg.norm(flow.m)
    assert cosine < 0.95


@pytest.mark.parametrize("diffusion", [0.0, 0.6])
def test_gradient_flow_samples_match_exact_marginals(diffusion):
    flow = wfd.GradientFlow(3, diffusion=diffusion, random_state=1)
    n = 20_000
    for t in (0.0, 0.7, 2.0):
        x = flow.population(t, n, random_state=5)
        cov = flow.cov(t)
        se = np.sqrt(np.diag(cov) / n)
        assert np.all(np.abs(x.mean(0) - flow.mean(t)) < 5 * se)
        # entries of a sample covariance have sd <= sqrt(2/n) * max variance
        tol = 6 * np.sqrt(2 / n) * np.diag(cov).max()
        assert np.abs(np.cov(x.T) - cov).max() < tol
    np.testing.assert_allclose(flow.mean(0.0), flow.mu0, atol=1e-12)
    np.testing.assert_allclose(flow.cov(0.0), flow.sigma0**2 * np.eye(3), atol=1e-12)


@pytest.mark.parametrize("diffusion", [0.0, 0.6])
def test_velocity_at_mean_is_mean_derivative(diffusion):
    flow = wfd.GradientFlow(4, diffusion=diffusion, random_state=2)
    h = 1e-5
    for t in (0.1, 1.0, 3.0):
        numeric = (flow.mean(t + h) - flow.mean(t - h)) / (2 * h)
        np.testing.assert_allclose(flow.velocity(flow.mean(t), t), numeric, rtol=1e-6, atol=1e-8)


def test_velocity_without_diffusion_is_drift():
    flow = wfd.GradientFlow(3, random_state=0)
    x = np.random.default_rng(0).standard_normal((7, 3))
    np.testing.assert_allclose(flow.velocity(x, 1.3), -(x - flow.m) @ flow.A)


def test_velocity_with_diffusion_transports_covariance():
    # the velocity is affine in x with Jacobian J; the flow it generates moves the covariance by
    # dSigma/dt = J Sigma + Sigma J^T, which must equal the derivative of the exact cov_t.
    flow = wfd.GradientFlow(3, diffusion=0.8, random_state=3)
    h = 1e-5
    for t in (0.2, 1.0, 2.5):
        eye = np.eye(3)
        base = flow.velocity(np.zeros(3), t)
        jac = np.stack([flow.velocity(e, t) - base for e in eye], axis=1)  # exact: v is affine
        cov = flow.cov(t)
        numeric = (flow.cov(t + h) - flow.cov(t - h)) / (2 * h)
        np.testing.assert_allclose(jac @ cov + cov @ jac.T, numeric, rtol=1e-5, atol=1e-8)


def test_velocity_true_matches_per_cell_times():
    flow = wfd.GradientFlow(2, diffusion=0.5)
    adata = flow.sample(times=(0.5, 1.5), n_cells=20)
    expected = flow.velocity(adata.X.astype(float), adata.obs["time"].to_numpy())
    np.testing.assert_allclose(adata.obsm["velocity_true"], expected, rtol=1e-5, atol=1e-5)


def test_toggle_switch_splits_into_two_branches():
    model = wfd.ToggleSwitch()
    saddle = model.x0
    np.testing.assert_allclose(model.drift(saddle), 0.0, atol=1e-12)
    start = model.population(0.0, 2000, random_state=0)
    late = model.population(4.0, 2000, random_state=0)
    diff_start, diff_late = start[:, 0] - start[:, 1], late[:, 0] - late[:, 1]
    assert np.mean(np.abs(diff_start) > 0.5) < 0.01  # one cloud at the saddle
    high_a, high_b = np.mean(diff_late > 0.5), np.mean(diff_late < -0.5)
    assert high_a > 0.3 and high_b > 0.3  # two branches, each a sizable fraction
    assert high_a + high_b > 0.8  # few cells left in between


# ------------------------------------------------------------------------------- loaders


@pytest.fixture
def shared_data(monkeypatch):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not found (real-data files are not shipped)")
    monkeypatch.setenv(_fetch.ENV_VAR, str(SHARED_DATA))
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    return SHARED_DATA


def _counts(adata):
    return adata.obs.groupby("time_label", observed=True).size().tolist()


def _check_common(adata):
    assert adata.X.dtype == np.float32
    assert adata.obs["time"].dtype == float
    assert isinstance(adata.obs["time_label"].dtype, pd.CategoricalDtype)
    assert adata.obs["time_label"].cat.ordered
    assert adata.obs_names.is_unique
    assert {"name", "url", "citation"} <= set(adata.uns["dataset"])
    assert np.isfinite(adata.X).all()


def test_registry_matches_shared_files(shared_data):
    assert len(_fetch.REGISTRY) == 8
    for relpath, (url, digest) in _fetch.REGISTRY.items():
        assert url.startswith("https://raw.githubusercontent.com/")
        assert _fetch.sha256(shared_data / relpath) == digest, relpath


def test_emt_10d(shared_data):
    adata = wfd.emt()
    _check_common(adata)
    assert adata.shape == (3133, 10)
    assert _counts(adata) == [577, 885, 788, 883]
    assert list(adata.obs["time_label"].cat.categories) == ["0d", "8h", "1d", "3d+7d"]
    assert sorted(adata.obs["time"].unique()) == [0.0, 1.0, 2.0, 3.0]
    assert adata.obs["sample_label"].value_counts()[["3d", "7d"]].tolist() == [754, 129]


def test_emt_3d(shared_data):
    adata = wfd.emt(dims=3)
    _check_common(adata)
    assert adata.shape == (3133, 3)
    assert _counts(adata) == [577, 885, 788, 754, 129]
    np.testing.assert_allclose(sorted(adata.obs["time"].unique()), [0, 1 / 3, 1, 3, 7])
    with pytest.raises(ValueError, match="dims"):
        wfd.emt(dims=5)


def test_hematopoiesis(shared_data):
    adata = wfd.hematopoiesis()
    _check_common(adata)
    assert adata.shape == (10998, 2)
    assert _counts(adata) == [1429, 3781, 5788]
    assert sorted(adata.obs["time"].unique()) == [2.0, 4.0, 6.0]


def test_dendritic_cells(shared_data):
    adata = wfd.dendritic_cells()
    _check_common(adata)
    assert adata.shape == (383, 821)
    assert sorted(adata.obs["time"].unique()) == [1.0, 2.0, 4.0, 6.0]
    assert _counts(adata) == [96, 96, 95, 96]
    assert adata.var_names.is_unique and "CLEC4E" in adata.var_names


def test_reprogramming(shared_data):
    adata = wfd.reprogramming()
    _check_common(adata)
    assert adata.shape == (4060 + 5619, 20)
    assert _counts(adata) == [4060, 5619]
    assert list(adata.var_names) == [f"DC{i}" for i in range(1, 21)]
    assert adata.obs["growth_score"].between(0, 1).all()


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(_fetch.ENV_VAR, raising=False)
    assert wfd.data_dir() == Path.home() / ".cache" / "wf_sc"
    monkeypatch.setenv(_fetch.ENV_VAR, str(tmp_path))
    assert wfd.data_dir() == tmp_path


def test_tampered_cache_raises(shared_data, monkeypatch, tmp_path):
    relpath = "tigon/Lineage.npy"
    (tmp_path / "tigon").mkdir()
    shutil.copy(shared_data / relpath, tmp_path / relpath)
    with open(tmp_path / relpath, "ab") as fh:
        fh.write(b"\0")
    monkeypatch.setenv(_fetch.ENV_VAR, str(tmp_path))
    with pytest.raises(_fetch.ChecksumError, match="delete it"):
        wfd.hematopoiesis()


def _serve(monkeypatch, payload: bytes) -> list[str]:
    requested: list[str] = []

    def fake_urlopen(url, timeout=None):
        requested.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return requested


def test_download_lands_and_verifies(shared_data, monkeypatch, tmp_path, caplog):
    relpath = "tigon/Lineage.npy"
    monkeypatch.setenv(_fetch.ENV_VAR, str(tmp_path))
    requested = _serve(monkeypatch, (shared_data / relpath).read_bytes())
    with caplog.at_level("INFO", logger="wf_sc.datasets._fetch"):
        adata = wfd.hematopoiesis()
    assert "Downloading" in caplog.text
    assert requested == [_fetch.REGISTRY[relpath][0]]
    assert adata.shape == (10998, 2)
    assert [p.name for p in (tmp_path / "tigon").iterdir()] == ["Lineage.npy"]
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    assert _fetch.fetch(relpath) == tmp_path / relpath  # second call: cached, no download


def test_corrupt_download_rejected(shared_data, monkeypatch, tmp_path):
    relpath = "wot_tests/days.csv.gz"
    monkeypatch.setenv(_fetch.ENV_VAR, str(tmp_path))
    _serve(monkeypatch, (shared_data / relpath).read_bytes() + b"x")
    with pytest.raises(_fetch.ChecksumError, match=_fetch.REGISTRY[relpath][1]):
        _fetch.fetch(relpath)
    assert list((tmp_path / "wot_tests").iterdir()) == []


def test_unknown_file():
    with pytest.raises(KeyError, match="Unknown data file"):
        _fetch.fetch("nope.csv")

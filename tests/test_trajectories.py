"""wf.tl.trajectories: exact paths against a simulator's true flow, fates, stochastic paths that keep
the fitted marginals, the stored layout through write_h5ad, and what the tool refuses."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.linalg import expm

import wf_sc as wf
from wf_sc.benchmark.metrics import w1

#: a linear gradient flow with a diagonal A: each coordinate moves on its own, so the true map from
#: one time to another is triangular and the model's Knothe-Rosenblatt transport can equal it
A = np.diag([0.6, 1.4])
M = np.array([2.0, 2.0])
TIMES = (0.0, 0.5, 1.0, 1.5, 2.0)
CONFIG = wf.tl.Config(stage1_max_steps_first=400, stage1_max_steps=150, stage2_steps=40)


def true_position(x0: np.ndarray, t0: float, t: float) -> np.ndarray:
    """The simulator's own path: x(t) = m + exp(-A (t - t0)) (x0 - m)."""
    return M + (x0 - M) @ expm(-A * (t - t0)).T


@pytest.fixture(scope="module")
def fitted() -> ad.AnnData:
    flow = wf.datasets.GradientFlow(dim=2, A=A, m=M)
    adata = flow.sample(times=TIMES, n_cells=300, random_state=1)
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    wf.tl.fit(adata, "time", use_rep="X", config=CONFIG, progress=False, device="cpu")
    return adata


def test_paths_follow_the_true_flow(fitted):
    adata = fitted.copy()
    start = adata.obs["time"].to_numpy() == 0.0
    points = wf.tl.trajectories(adata, cells=start, n_steps=2)
    x0 = np.asarray(adata.X)[start]
    for t in (0.25, 0.75, 1.5, 2.0):
        at = points[points.obs["time"] == t]
        # one point per moved cell, in the cells' order
        assert list(at.obs["source_cell"]) == list(adata.obs_names[start])
        truth = true_position(x0, 0.0, t)
        err = np.linalg.norm(np.asarray(at.X) - truth, axis=1)
        moved = np.linalg.norm(truth - x0, axis=1)
        assert np.median(err) < 0.1 * np.median(moved), (t, np.median(err), np.median(moved))
    end = adata.obsm["wf_trajectories_end"]
    assert np.isnan(end[~start]).all() and np.isfinite(end[start]).all()


def test_paths_are_the_transport_map_from_each_cells_own_time(fitted):
    adata = fitted.copy()
    cells = ["c0", "c350", "c700"]  # observed at 0, 0.5 and 1
    points = wf.tl.trajectories(adata, cells=cells, times=[0.0, 0.5, 1.0, 1.75])
    model = wf.tl.WeightFlow.from_adata(adata)
    for name in cells:
        t0 = float(adata.obs.loc[name, "time"])
        mine = points[points.obs["source_cell"] == name]
        assert (mine.obs["time"] >= t0).all() and mine.obs["time"].min() == t0  # nothing before its own time
        x0 = np.asarray(adata[name].X)
        np.testing.assert_allclose(mine.X[0], x0[0], atol=1e-6)  # starts where it was observed
        for t, x in zip(mine.obs["time"].iloc[1:], mine.X[1:]):
            np.testing.assert_allclose(x, model.transport(x0, t0, float(t))[0], rtol=1e-5, atol=1e-5)


def test_fates_match_the_fates_of_the_true_paths(fitted):
    adata = fitted.copy()
    last = adata.obs["time"].to_numpy() == 2.0
    X = np.asarray(adata.X)
    # clusters of the last snapshot: which side of its median the first coordinate is on
    split = np.median(X[last, 0])
    adata.obs["side"] = pd.Categorical(np.where(X[:, 0] > split, "right", "left"))
    adata.obs.loc[~last, "side"] = np.nan
    start = adata.obs["time"].to_numpy() == 1.0
    wf.tl.trajectories(adata, cells=start, groupby="side")
    true_end = true_position(X[start], 1.0, 2.0)
    truth = np.where(true_end[:, 0] > split, "right", "left")
    fate = adata.obs["wf_trajectories_fate"].to_numpy()[start]
    clear = np.abs(true_end[:, 0] - split) > 0.05  # cells near the border can go either way
    assert clear.mean() > 0.6
    assert (fate[clear] == truth[clear]).mean() > 0.95
    probs = adata.obsm["wf_trajectories_fate_probabilities"]
    assert list(probs.columns) == ["left", "right"]
    np.testing.assert_allclose(probs.to_numpy()[start].sum(1), 1.0)
    assert probs.to_numpy()[~start].size and np.isnan(probs.to_numpy()[~start]).all()
    assert adata.obs["wf_trajectories_fate"][~start].isna().all()


def test_stochastic_paths_keep_the_fitted_marginals(fitted):
    """With the score term the diffusing cells stay on the model's densities at an unobserved time;
    the same noise without it spreads them out."""
    adata = fitted.copy()
    model = wf.tl.WeightFlow.from_adata(adata)
    start = adata.obs["time"].to_numpy() == 0.0
    sigma, t = 0.6, 0.75
    points = wf.tl.trajectories(adata, cells=start, times=[0.0, 0.25, 0.5, t], sigma=sigma, random_state=3)
    moved = np.asarray(points[points.obs["time"] == t].X)
    exact = np.asarray(wf.tl.trajectories(adata.copy(), cells=start, times=[0.0, t]).X)[1::2]
    assert np.linalg.norm(moved - exact, axis=1).mean() > 0.2  # the paths really are noisy
    ref, other = model.sample(t, 300, random_state=1), model.sample(t, 300, random_state=2)
    floor = w1(ref, other)
    assert w1(moved, ref) < 1.6 * floor, (w1(moved, ref), floor)
    # control: drift plus noise without the score term
    rng = np.random.default_rng(3)
    x, s = np.asarray(adata.X)[start].astype(float), 0.0
    for s_next in np.linspace(0, t, 31)[1:]:
        x = x + model.drift(x, s) * (s_next - s) + sigma * np.sqrt(s_next - s) * rng.standard_normal(x.shape)
        s = s_next
    assert w1(x, ref) > 2 * floor


def test_outputs_survive_write_h5ad_and_a_rerun_replaces_its_own_keys(fitted, tmp_path):
    adata = fitted.copy()
    adata.obs["side"] = pd.Categorical(np.where(np.asarray(adata.X)[:, 0] > M[0], "right", "left"))
    wf.tl.trajectories(adata, cells=["c0", "c1"], groupby="side")
    path = tmp_path / "t.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    rec, rec2 = adata.uns["wf_trajectories"], back.uns["wf_trajectories"]
    assert list(rec2["cell"]) == list(rec["cell"]) and str(rec2["format"]) == "wf_sc.trajectories"
    np.testing.assert_array_equal(rec2["X"], rec["X"])
    np.testing.assert_array_equal(back.obsm["wf_trajectories_end"], adata.obsm["wf_trajectories_end"])
    pd.testing.assert_frame_equal(back.obsm["wf_trajectories_fate_probabilities"],
                                  adata.obsm["wf_trajectories_fate_probabilities"])
    assert back.obs["wf_trajectories_fate"].equals(adata.obs["wf_trajectories_fate"])
    # the stored paths are what pl.trajectory draws
    wf.pl.trajectory(back, basis="X", n_trajectories=2, show=False)
    # a rerun without groupby drops its earlier fates instead of leaving them stale
    wf.tl.trajectories(back, cells=["c0"])
    assert "wf_trajectories_fate" not in back.obs and "wf_trajectories_fate_probabilities" not in back.obsm


def test_bad_requests_are_refused_and_change_nothing(fitted):
    adata = fitted.copy()
    adata.uns["mine"] = {"a": 1}
    before = (set(adata.uns), set(adata.obsm), set(adata.obs.columns))
    with pytest.raises(ValueError, match="would overwrite adata.uns\\['mine'\\]"):
        wf.tl.trajectories(adata, key_added="mine")
    with pytest.raises(KeyError, match="not in adata.obs_names"):
        wf.tl.trajectories(adata, cells=["nope"])
    with pytest.raises(KeyError, match="groupby 'cluster'"):
        wf.tl.trajectories(adata, groupby="cluster")
    with pytest.raises(ValueError, match="sigma must be"):
        wf.tl.trajectories(adata, sigma=-1.0)
    with pytest.raises(ValueError, match="boolean cells mask"):
        wf.tl.trajectories(adata, cells=np.ones(3, bool))
    assert (set(adata.uns), set(adata.obsm), set(adata.obs.columns)) == before

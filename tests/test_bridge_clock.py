"""``Config(bridge_clock=True)``: the bridge grows along the pace clock; the fit keeps the clock's speeds."""

import dataclasses

import anndata as ad
import numpy as np
import torch
from conftest import TINY_FIT, make_tiny_adata

import wf_sc as wf


def _uneven():
    """A population that moves far in its first interval and little after: unequal interval speeds."""
    adata = make_tiny_adata(times=(0.0, 1.0, 3.0, 4.0), seed=2)
    t = adata.obs["time"].to_numpy()
    adata.X[:, 0] = np.where(t > 0, 3.0 + 0.1 * t, 0.0) + adata.X[:, 0] - t
    return adata


def test_a_clock_bridged_fit_keeps_its_speeds_and_survives_h5ad(tmp_path):
    plain, clocked = _uneven(), _uneven()
    wf.tl.fit(plain, "time", use_rep="X", **TINY_FIT)
    config = dataclasses.replace(TINY_FIT["config"], bridge_clock=True)
    wf.tl.fit(clocked, "time", use_rep="X", **{**TINY_FIT, "config": config})
    core = wf.tl.WeightFlow.from_adata(clocked).core
    speeds = core.pace_speeds
    assert speeds.shape == (3,) and float(speeds[0]) > 3 * float(speeds[1:].max())  # the first interval is fast
    assert not hasattr(wf.tl.WeightFlow.from_adata(plain).core, "pace_speeds")
    # Stage 1 is the same; the bridge, and so Stage 2 and every prediction inside an interval, are not
    np.testing.assert_array_equal(
        np.asarray(plain.uns["weightflow"]["history"]["stage1"]["train_nll"][0]),
        np.asarray(clocked.uns["weightflow"]["history"]["stage1"]["train_nll"][0]),
    )
    a = wf.tl.interpolate(plain, 0.5, n_cells=30, random_state=1)
    b = wf.tl.interpolate(clocked, 0.5, n_cells=30, random_state=1)
    assert np.abs(np.asarray(a.X) - np.asarray(b.X)).max() > 1e-3
    # the record carries the setting and the speeds
    clocked.write_h5ad(tmp_path / "c.h5ad")
    back = ad.read_h5ad(tmp_path / "c.h5ad")
    assert wf.tl.WeightFlow.from_adata(back).core.config.bridge_clock is True
    torch.testing.assert_close(wf.tl.WeightFlow.from_adata(back).core.pace_speeds, speeds, rtol=0, atol=0)
    c = wf.tl.interpolate(back, 0.5, n_cells=30, random_state=1)
    np.testing.assert_array_equal(np.asarray(c.X), np.asarray(b.X))

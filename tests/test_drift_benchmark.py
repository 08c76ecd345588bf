"""The drift-accuracy benchmark (python -m wf_sc.benchmark.drift): exact pieces and a smoke run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from wf_sc.benchmark.drift import barycentric_velocity, main, run, scores


def test_barycentric_velocity_of_a_shift_is_the_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    shift = np.array([0.3, -0.2, 0.1])
    # a small translation: the identity coupling is optimal for the squared cost
    v = barycentric_velocity(x, x + shift, h=0.5)
    np.testing.assert_allclose(v, np.broadcast_to(shift / 0.5, x.shape), atol=1e-9)


def test_scores_by_hand():
    true = np.array([[1.0, 0.0], [0.0, 2.0]])
    pred = np.array([[1.0, 1.0], [0.0, 2.0]])
    s = scores(pred, true)
    assert s["median_cosine"] == pytest.approx((2**-0.5 + 1) / 2)
    assert s["mean_cosine"] == pytest.approx((2**-0.5 + 1) / 2)
    assert s["relative_error"] == pytest.approx(1 / np.sqrt(5))


def test_smoke_run_and_report(tmp_path, monkeypatch):
    tiny = dict(stage1_max_steps_first=60, stage1_max_steps=30, stage2_steps=3, hidden=8, width=16)
    df = run(dims=(2,), seeds=(0,), n_cells=80, n_eval=40, **tiny)
    assert set(df["method"]) == {"transport", "transport_reversed", "ot_model", "ot_snapshots"}
    cos = df[(df["metric"] == "median_cosine")]
    assert cos["value"].between(-1, 1).all()
    # the data-only OT velocity needs a later snapshot: none at the last time
    assert not ((cos["method"] == "ot_snapshots") & (cos["time"] == 2.0)).any()
    monkeypatch.setattr("wf_sc.benchmark.drift.run", lambda dims, seeds: df)
    out = tmp_path / "drift.md"
    csv = tmp_path / "results" / "drift.csv"
    assert main(["--dims", "2", "--seeds", "0", "--threads", "2", "--out", str(out), "--csv", str(csv)]) == 0
    text = out.read_text()
    assert "[`drift.csv`](results/drift.csv)" in text and len(pd.read_csv(csv)) == len(df)
    assert "| transport |" in text and "python -m wf_sc.benchmark.drift" in text
    assert "## Results\n\n### gradient_flow_2d" in text  # no H1 -> H3 jump (Sphinx -W)
    assert torch.get_num_threads() == 1  # main's --threads 2 held only while it ran

"""benchmarks/scaling.py stays runnable: a tiny run writes its table, CSV and figure, and a run past
the time limit is stopped and not tried at larger sizes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("scaling", ROOT / "benchmarks" / "scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_writes_table_csv_and_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    scaling = _load()
    out, csv, png = tmp_path / "s.md", tmp_path / "s.csv", tmp_path / "s.png"
    args = ["--cells", "60", "120", "--dim", "2", "--times", "3", "--quick", "--methods", "ot_exact", "wf_sc",
            "--csv", str(csv), "--out", str(out), "--png", str(png)]
    assert scaling.main(args) == 0
    df = pd.read_csv(csv)
    assert list(df["status"]) == ["ok"] * 4 and (df["seconds"] > 0).all() and (df["peak_rss_mb"] > 0).all()
    assert set(df["method"]) == {"ot_exact", "wf_sc"} and df["cells"].tolist() == [180, 180, 360, 360]
    assert png.stat().st_size > 0 and "| wf_sc | 120 | 360 |" in out.read_text()


def test_a_run_past_the_time_limit_is_stopped_and_not_tried_larger(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    scaling = _load()
    csv = tmp_path / "s.csv"
    args = ["--cells", "60", "120", "--dim", "2", "--times", "3", "--methods", "wf_sc", "--time-limit", "0.5",
            "--csv", str(csv), "--out", str(tmp_path / "s.md"), "--png", str(tmp_path / "s.png")]
    assert scaling.main(args) == 0
    df = pd.read_csv(csv)
    assert len(df) == 1 and df["status"].iloc[0] == "stopped: over 0.5 s"


def test_gpu_check_runs_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.py falls back to the CPU: a tiny run reports agreement (identical on one
    device) and the scale part."""
    import json

    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "gpu.jsonl"
    args = ["--cells", "80", "--small", "60", "--dim", "3", "--times", "3", "--quick", "--device", "cpu", "--out", str(out)]
    assert module.main(args) == 0
    agreement, scale = (json.loads(line) for line in out.read_text().splitlines())
    assert agreement["max_abs_drift_diff"] == 0.0 and agreement["w1_between_samples"] == 0.0
    assert scale["cells"] == 240 and scale["seconds"] > 0 and scale["peak_gpu_mb"] is None


def test_profile_script_runs(capsys):
    spec = importlib.util.spec_from_file_location("profile_fit", ROOT / "benchmarks" / "profile_fit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--dim", "2", "--cells", "40", "--times", "3", "--top", "40", "--quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("total ") and "stage 2" in out and "fit_weightflow" in out


def test_accuracy_at_scale_script_writes_and_resumes(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("accuracy_at_scale", ROOT / "benchmarks" / "accuracy_at_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    csv = tmp_path / "a.csv"
    args = ["--dim", "2", "--cells", "60", "--times", "3", "--quick", "--csv", str(csv)]
    assert module.main(args) == 0
    df = pd.read_csv(csv)
    assert len(df) == 1 and df["w1"].iloc[0] > 0 and df["floor"].iloc[0] > 0 and df["fit_seconds"].iloc[0] > 0
    assert df["stage1_max_steps"].iloc[0] == 30 and len(str(df["stage1_steps"].iloc[0]).split()) == 2
    assert module.main(args) == 0  # already there: skipped
    assert len(pd.read_csv(csv)) == 1
    assert module.main([*args, "--stage1-max-steps", "40"]) == 0  # another cap: a row of its own
    assert pd.read_csv(csv)["stage1_max_steps"].tolist() == [30, 40]
    assert module.main([*args, "--stage2-steps", "4"]) == 0  # another Stage-2 budget: a row of its own
    df = pd.read_csv(csv)
    assert df["stage2_steps"].tolist() == [3, 3, 4] and df["stage1_max_steps"].tolist() == [30, 40, 30]


def test_bures_wasserstein_of_a_shifted_and_scaled_sample():
    import numpy as np

    spec = importlib.util.spec_from_file_location("accuracy_at_scale", ROOT / "benchmarks" / "accuracy_at_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.random.default_rng(0).standard_normal((200_000, 3))
    # N(0, I) against N(a, 4 I): W2^2 = |a|^2 + 3 (2 - 1)^2
    a = np.array([1.0, -2.0, 0.5])
    assert module.bures_wasserstein(x, a, 4 * np.eye(3)) == pytest.approx(np.sqrt(a @ a + 3), rel=1e-2)
    assert module.bures_wasserstein(x, np.zeros(3), np.eye(3)) < 0.02


@pytest.mark.slow
def test_compile_probe_runs_and_agrees(capsys):
    """The compiled step computes the eager loss (compiling takes minutes, hence slow)."""
    spec = importlib.util.spec_from_file_location("compile_probe", ROOT / "benchmarks" / "compile_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--dim", "3", "--cells", "16", "--reps", "2"]) == 0
    out = capsys.readouterr().out
    eager, compiled = (float(part.split("(loss ")[1].split(")")[0]) for part in out.split("compiled"))
    assert compiled == pytest.approx(eager, rel=1e-4)


def test_made_probe_is_autoregressive_and_runs(capsys):
    """The probe's MADE: conditional j reads only coordinates before j; the table has both backbones."""
    import torch

    spec = importlib.util.spec_from_file_location("made_probe", ROOT / "benchmarks" / "made_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.MADE(dim=5, hidden=16, n_components=3)
    theta = made.init(torch.Generator().manual_seed(0))
    x = torch.randn(4, 5, requires_grad=True)
    for j in range(5):
        (grad,) = torch.autograd.grad(sum(p[:, j].sum() for p in made.params(theta, x)), x)
        assert torch.all(grad[:, j:] == 0) and (j == 0 or grad[:, :j].abs().sum() > 0)
    assert module.main(["--dim", "3", "--cells", "8", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    assert "| 3 | GRU |" in out and "| 3 | MADE |" in out


def test_kernel_probe_rewrites_agree_with_the_code_they_would_replace(capsys):
    """The fused GRU and the dense attention of the probe compute what the package computes."""
    spec = importlib.util.spec_from_file_location("kernel_probe", ROOT / "benchmarks" / "kernel_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--only", "gru", "attention", "--reps", "1", "--dims", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0].split()[0] for line in lines] == ["gru", "attention"]
    for line in lines:
        assert float(line.split("max difference ")[1].rstrip(")")) < 1e-5


def test_growth_from_path_recovers_the_closed_form_split():
    """The probe's Wasserstein-Fisher-Rao split of a translating Gaussian: the relative growth
    D.(x - mu_t)/(delta^2 + s^2) and the mean motion delta^2/(delta^2 + s^2) D of the closed form."""
    spec = importlib.util.spec_from_file_location("growth_from_path", ROOT / "benchmarks" / "growth_from_path.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    r = module.case_gaussian(steps=300)
    assert r["corr"] > 0.97 and 0.85 < r["slope"] < 1.15
    assert abs(r["motion"] - r["motion_expected"]).max() < 0.15
    # no change at all: the potential is flat, no growth and no motion
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6 * 512, 2, generator=gen)
    t = torch.arange(6.0).repeat_interleave(512)
    phi = module.fit_potential(x, t, 1.0, steps=200, generator=gen)
    w = module.centred_growth(phi, x, t, 1.0, x, t)
    assert abs(w).mean() < 0.1


def test_kernel_probe_stage2_restores_the_package_layer(capsys, monkeypatch):
    """The Stage-2 comparison swaps the field's attention layer for the run and puts it back."""
    shared = ROOT.parent / "shared" / "data"
    if not shared.is_dir():
        pytest.skip(f"shared data folder {shared} not found (real-data files are not shipped)")
    monkeypatch.setenv("WF_SC_DATA_DIR", str(shared))
    from wf_sc._core import vector_field

    layer = vector_field.GraphAttention
    spec = importlib.util.spec_from_file_location("kernel_probe", ROOT / "benchmarks" / "kernel_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.stage2(reps=1, steps=2)
    line = capsys.readouterr().out.strip()
    assert line.startswith("stage2 emt10, 2 steps: dense ") and "TransformerConv" in line
    assert vector_field.GraphAttention is layer


def test_kernel_probe_queries_times_every_size_and_thread_count(capsys):
    spec = importlib.util.spec_from_file_location("kernel_probe", ROOT / "benchmarks" / "kernel_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import torch

    threads = torch.get_num_threads()
    try:
        assert module.main(["--only", "queries", "--reps", "1", "--dims", "2", "--cells", "5", "20",
                            "--threads", "1", "2"]) == 0
    finally:
        torch.set_num_threads(threads)  # main() sets one thread for its probes
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["queries d=2, 30 cells", "queries d=2, 120 cells"]
    assert all("1 thread(s)" in line and "2 thread(s)" in line for line in lines)


def test_error_budget_scores_a_fold_and_summarizes(tmp_path):
    """One gradient-flow fold with tiny budgets: every score is a W1 (positive, finite), the
    prediction is the benchmark's, and the summary's columns are the documented differences."""
    import math

    spec = importlib.util.spec_from_file_location("error_budget", ROOT / "benchmarks" / "error_budget.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from wf_sc.benchmark.methods import FitCache

    quick = {"stage1_max_steps_first": 20, "stage1_max_steps": 10, "stage2_steps": 2}
    row = module.fold("gradient_flow", 0, 2, FitCache(), max_cells=60, settings=quick)
    assert row["held_out"] == 1.0 and row["m"] == 60
    assert all(math.isfinite(row[k]) and row[k] > 0 for k in module.FIELDS[4:])
    rows = [dict(row, dataset="a"), dict(row, dataset="a", pred=row["pred"] + 1.0)]
    line = module.summary(rows).splitlines()[2]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:2] == ["a", "2"]
    # the table prints three significant digits
    assert float(cells[5]) == pytest.approx(row["pred"] + 0.5 - row["ot"], rel=6e-3)
    carry = (row["carry_fwd"] + row["carry_bwd"]) / 2 - (row["floor_prev"] + row["floor_next"]) / 2
    assert float(cells[8]) == pytest.approx(carry, rel=6e-3, abs=1e-6)

"""wf.tl.leave_one_out, the summary helpers and ``python -m wf_sc.benchmark --quick``."""

import itertools

import numpy as np
import pandas as pd
import pytest

import wf_sc as wf
from wf_sc.benchmark import summarize, to_markdown
from wf_sc.benchmark.__main__ import main
from wf_sc.tl._benchmark import COLUMNS, METHODS, METRICS

TINY_WF = dict(stage1_max_steps_first=100, stage1_max_steps=50, stage2_steps=5, hidden=8, width=16, device="cpu")
TINY_CFM = dict(steps=30, batch_size=32, ode_steps=5)




@pytest.fixture(scope="module")
def flow():
    return wf.datasets.GradientFlow(dim=2, random_state=0)


@pytest.fixture(scope="module")
def snapshots(flow):
    return flow.sample(times=(0.0, 1.0, 2.0), n_cells=60, random_state=1)


@pytest.fixture(scope="module")
def table(flow, snapshots):
    return wf.tl.leave_one_out(
        snapshots,
        "time",
        use_rep="X",
        seeds=(0, 1),
        weightflow_kwargs=TINY_WF,
        otcfm_kwargs=TINY_CFM,
        reference=flow.population,
        dataset="tiny",
    )


def test_tidy_table_has_every_method_metric_and_seed(table):
    assert list(table.columns) == list(COLUMNS)
    assert set(table["dataset"]) == {"tiny"} and set(table["held_out"]) == {1.0}
    combos = set(zip(table["method"], table["seed"], table["metric"]))
    expected = set(itertools.product(("floor", *METHODS), (0, 1), METRICS))
    assert combos == expected and len(table) == len(expected)
    assert np.isfinite(table["value"]).all() and (table["value"] >= 0).all()


def test_fit_seconds(table):
    assert (table.loc[table["method"] == "weightflow", "fit_seconds"] > 0).all()
    assert table.loc[table["method"] == "floor", "fit_seconds"].isna().all()
    assert (table.loc[table["method"] != "floor", "fit_seconds"] >= 0).all()


def test_floor_is_below_the_unmoved_snapshots(table):
    """Sanity on the gradient flow: sampling noise costs far less than not moving at all."""
    w1 = table[table["metric"] == "w1"].groupby("method")["value"].mean()
    assert w1["floor"] < 0.5 * min(w1["previous"], w1["next"]), w1.to_dict()


def test_halves_are_disjoint_and_deterministic(snapshots):
    """Without a reference the floor compares two halves of the real cells; same seed, same table."""
    kw = dict(use_rep="X", methods=("mixture", "ot"), seeds=(3,), metrics=("w1",))
    first = wf.tl.leave_one_out(snapshots, "time", **kw)
    second = wf.tl.leave_one_out(snapshots, "time", **kw)
    pd.testing.assert_frame_equal(first.drop(columns="fit_seconds"), second.drop(columns="fit_seconds"))
    floor = first.loc[first["method"] == "floor", "value"].item()
    assert floor > 0  # disjoint halves of continuous data never coincide
    assert first["dataset"].iloc[0] == "adata"


def test_bad_requests_are_refused(snapshots):
    with pytest.raises(ValueError, match="unknown methods"):
        wf.tl.leave_one_out(snapshots, "time", use_rep="X", methods=("magic",))
    with pytest.raises(ValueError, match="first or last"):
        wf.tl.leave_one_out(snapshots, "time", use_rep="X", held_out=2.0, methods=("next",))
    with pytest.raises(ValueError, match="not one of the time points"):
        wf.tl.leave_one_out(snapshots, "time", use_rep="X", held_out=0.5, methods=("next",))
    with pytest.raises(ValueError, match="random_state"):
        wf.tl.leave_one_out(snapshots, "time", use_rep="X", weightflow_kwargs={"random_state": 1})
    two = snapshots[snapshots.obs["time"] < 2].copy()
    with pytest.raises(ValueError, match="at least 3 time points"):
        wf.tl.leave_one_out(two, "time", use_rep="X", methods=("next",))


def test_transported_takes_each_neighbour_in_proportion_and_moves_it():
    """Hand-built: a stand-in model that shifts cells by the elapsed time; s = 1/4 of 8 cells -> 2
    from the later snapshot, moved back by 1.5, and 6 from the earlier one, moved on by 0.5."""
    from wf_sc.tl._benchmark import transported

    class Shift:
        def transport(self, x, t_from, t_to):
            return x + (t_to - t_from)

    x_prev, x_next = np.arange(20.0).reshape(10, 2), 100 + np.arange(20.0).reshape(10, 2)
    X, t = np.concatenate([x_prev, x_next]), np.repeat([0.0, 2.0], 10)
    out = transported(Shift(), X, t, 0.5, 8, np.random.default_rng(0))
    assert out.shape == (8, 2)
    head, tail = out[:6] - 0.5, out[6:] + 1.5
    assert {tuple(r) for r in head} <= {tuple(r) for r in x_prev} and len({tuple(r) for r in head}) == 6
    assert {tuple(r) for r in tail} <= {tuple(r) for r in x_next} and len({tuple(r) for r in tail}) == 2


def test_pinned_transport_ends_on_the_observed_cells_of_the_other_neighbour():
    """Hand-built, 1-D: the stand-in model moves cells by the elapsed time (a straight path), so the
    pinned prediction is the straight line between each cell and its OT partner, at u = s = 1/4 for
    the 6 earlier cells (the three smallest pair with 50, the others with 60) and u = 3/4 for the 2
    later ones (each paired with one of its three nearest earlier cells)."""
    from wf_sc.tl._benchmark import transported

    class Shift:
        def transport(self, x, t_from, t_to):
            return x + (t_to - t_from)

    x_prev, x_next = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]]), np.array([[50.0], [60.0]])
    X, t = np.concatenate([x_prev, x_next]), np.repeat([0.0, 2.0], [6, 2])
    for seed in range(5):
        rng = np.random.default_rng(seed)
        out = transported(Shift(), X, t, 0.5, 8, rng, pinned=True).ravel()
        np.testing.assert_allclose(np.sort(out[:6]), 0.75 * x_prev.ravel() + 0.25 * np.repeat([50.0, 60.0], 3))
        later = np.sort(out[6:])
        assert later[0] in 0.25 * 50 + 0.75 * np.array([0.0, 1.0, 2.0])
        assert later[1] in 0.25 * 60 + 0.75 * np.array([10.0, 11.0, 12.0])
    plain = transported(Shift(), X, t, 0.5, 8, np.random.default_rng(0))
    np.testing.assert_allclose(np.sort(plain[:6].ravel()), x_prev.ravel() + 0.5)


def test_sampled_ablation_shares_the_fit_and_equals_the_sample_prediction(snapshots, monkeypatch):
    fits = []
    original = wf.tl.WeightFlow.fit_arrays
    monkeypatch.setattr(wf.tl.WeightFlow, "fit_arrays", lambda self, *a, **k: fits.append(1) or original(self, *a, **k))
    kw = dict(use_rep="X", seeds=(0,), metrics=("w1",), max_cells=60)
    both = wf.tl.leave_one_out(snapshots, "time", methods=("weightflow", "wf_sampled"), weightflow_kwargs=TINY_WF, **kw)
    assert len(fits) == 1  # one fit, two predictions
    sampled = wf.tl.leave_one_out(
        snapshots, "time", methods=("weightflow",), weightflow_kwargs={**TINY_WF, "prediction": "sample"}, **kw
    )
    value = both.set_index("method")["value"]
    assert sampled.set_index("method").loc["weightflow", "value"] == value["wf_sampled"]
    assert value["weightflow"] != value["wf_sampled"]
    with pytest.raises(ValueError, match="unknown prediction"):
        wf.tl.leave_one_out(snapshots, "time", weightflow_kwargs={"prediction": "magic"}, **kw)


def test_per_cell_curvature_ablation_shares_the_fit(snapshots, monkeypatch):
    fits = []
    original = wf.tl.WeightFlow.fit_arrays
    monkeypatch.setattr(wf.tl.WeightFlow, "fit_arrays", lambda self, *a, **k: fits.append(1) or original(self, *a, **k))
    kw = dict(use_rep="X", seeds=(0,), metrics=("w1",), max_cells=60)
    df = wf.tl.leave_one_out(
        snapshots, "time", methods=("weightflow", "wf_pinned_per_cell"), weightflow_kwargs=TINY_WF, **kw
    )
    assert len(fits) == 1 and set(df["method"]) == {"floor", "weightflow", "wf_pinned_per_cell"}
    for bad in (0, 1.5, "all"):
        with pytest.raises(ValueError, match="curvature_neighbours"):
            wf.tl.leave_one_out(snapshots, "time", weightflow_kwargs={"curvature_neighbours": bad}, **kw)


def test_summarize_and_markdown_by_hand():
    rows = []
    common = dict(dataset="d", metric="w1")
    # method m: seed 0 has values 1, 3 at the two held-out times (mean 2), seed 1 has 4, 4 (mean 4)
    for seed, values in ((0, (1.0, 3.0)), (1, (4.0, 4.0))):
        for held, v in zip((1.0, 2.0), values):
            rows.append(dict(common, held_out=held, method="m", seed=seed, value=v, fit_seconds=2.0))
            rows.append(dict(common, held_out=held, method="floor", seed=seed, value=0.5, fit_seconds=np.nan))
    summary = summarize(pd.DataFrame(rows))
    m = summary[summary["method"] == "m"].iloc[0]
    assert m["mean"] == pytest.approx(3.0) and m["std"] == pytest.approx(np.sqrt(2.0))
    assert m["n_seeds"] == 2 and m["n_held_out"] == 2 and m["fit_seconds"] == pytest.approx(2.0)
    text = to_markdown(summary)
    assert "| method | W1 | fit (s) |" in text
    assert "| m | **3.00 ± 1.41** | 2.0 |" in text
    assert "| floor | 0.500 ± 0.000 | — |" in text


def test_cli_quick_writes_the_report(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert f"python -m wf_sc.benchmark --quick --out {out}" in text
    assert "| method | W1 | W2 | MMD² | fit (s) |" in text
    for method in ("floor", *METHODS):
        assert f"| {method} |" in text, method
    assert "torch" in text and "seeds: 0" in text
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert list(csv.columns) == list(COLUMNS) and set(csv["dataset"]) == {"gradient_flow"}
    assert "wrote" in capsys.readouterr().out

    # --resume takes the complete dataset from the CSV instead of fitting again: same rows
    assert main(["--quick", "--resume", "--out", str(out)]) == 0
    again = pd.read_csv(out.with_suffix(".csv"))
    pd.testing.assert_frame_equal(again, csv)
    assert "resumed run: the rows of gradient_flow (weightflow, previous" in out.read_text()

    # --rerun runs one method again and keeps every other row (the floor included) unchanged
    assert main(["--quick", "--resume", "--rerun", "mixture", "--out", str(out)]) == 0
    third = pd.read_csv(out.with_suffix(".csv"))
    # mixture is deterministic given its (seed, time, name) stream: same rows, only its timing is new
    pd.testing.assert_frame_equal(third.drop(columns="fit_seconds"), csv.drop(columns="fit_seconds"))
    assert "mixture" not in out.read_text().split("resumed run:")[1].split("\n")[0]


def test_cli_set_changes_weightflow_settings_and_says_so(tmp_path, capsys):
    default, changed = tmp_path / "default.md", tmp_path / "changed.md"
    assert main(["--quick", "--methods", "weightflow", "--out", str(default)]) == 0
    assert main(["--quick", "--methods", "weightflow", "--set", "bridge=false", "--out", str(changed)]) == 0
    assert "`bridge=False`" in changed.read_text() and "`bridge=False`" not in default.read_text()
    a, b = (pd.read_csv(p.with_suffix(".csv")) for p in (default, changed))
    wf_a, wf_b = (t.loc[t["method"] == "weightflow", "value"].to_numpy() for t in (a, b))
    assert not np.allclose(wf_a, wf_b)  # the free trajectory samples other cells than the bridged one
    floor_a, floor_b = (t.loc[t["method"] == "floor", "value"].to_numpy() for t in (a, b))
    np.testing.assert_array_equal(floor_a, floor_b)
    # bad settings are refused before any fit, with the reason
    capsys.readouterr()
    assert main(["--quick", "--set", "no_such_setting=1", "--out", str(changed)]) == 2
    assert "no_such_setting" in capsys.readouterr().err
    assert main(["--quick", "--set", "random_state=3", "--out", str(changed)]) == 2
    assert "chosen per fit" in capsys.readouterr().err
    assert main(["--quick", "--set", "bridge", "--out", str(changed)]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["--quick", "--set", "prediction=magic", "--out", str(changed)]) == 2
    assert "unknown prediction" in capsys.readouterr().err


def test_ablations_change_one_setting_and_run(snapshots):
    from wf_sc.tl._benchmark import ABLATIONS, _ablated

    base = {"loss_weights": {"action": 0.1}, "hidden": 8}
    assert _ablated(base, "wf_no_data_term") == {"loss_weights": {"action": 0.1, "nll": 0.0}, "hidden": 8}
    assert _ablated(base, "wf_linear") == {**base, "dynamics": "linear"}
    assert _ablated(base, "weightflow") == base
    # "no action" switches off both action terms; the linear-path ablation changes only the path
    assert _ablated(base, "wf_no_action")["loss_weights"] == {"action": 0.0, "ot_action": 0.0}
    assert _ablated(base, "wf_kr_action")["loss_weights"] == {"action": 0.05, "ot_action": 0.0}
    assert _ablated(base, "wf_kr_action")["bridge"] is False  # the transport-drift action needs the free path
    assert _ablated(base, "wf_linear_path") == {**base, "path": "linear"}
    assert _ablated(base, "wf_hidden64") == {**base, "hidden": 64}  # overrides the caller's backbone size
    assert _ablated(base, "wf_all_start") == {**base, "field_start": "all"}
    assert _ablated(base, "wf_no_bridge") == {**base, "bridge": False}
    assert _ablated(base, "wf_weak_action")["loss_weights"] == {"action": 0.1, "ot_action": 0.05}
    assert _ablated(base, "wf_constant_pace") == {**base, "pace": "constant"}
    assert set(ABLATIONS) >= {"wf_no_warm_start", "wf_ode", "wf_linear", "wf_no_data_term", "wf_complete_graph"}
    df = wf.tl.leave_one_out(
        snapshots, "time", use_rep="X", methods=("wf_linear",), seeds=(0,), metrics=("w1",), max_cells=60,
        weightflow_kwargs=dict(stage1_max_steps_first=60, stage1_max_steps=30, hidden=8, width=16),
    )
    assert list(df["method"]) == ["floor", "wf_linear"]
    assert np.isfinite(df["value"]).all()


def test_pinned_prediction_explains_coinciding_snapshot_means():
    """Two consecutive snapshots with the same mean give the spline no chord: a clear error that
    names the way out, and mean_bend='model' still predicts."""
    from wf_sc.tl._benchmark import transported

    class Shift:
        def transport(self, x, t_from, t_to):
            return x + (t_to - t_from)

    cloud = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
    X = np.concatenate([cloud, cloud, cloud + 3.0])
    t = np.repeat([0.0, 1.0, 2.0], 4)
    with pytest.raises(ValueError, match="coincide.*mean_bend='model'"):
        transported(Shift(), X, t, 0.5, 4, np.random.default_rng(0), pinned=True)
    out = transported(Shift(), X, t, 0.5, 4, np.random.default_rng(0), pinned=True, mean_bend="model")
    assert out.shape == (4, 2) and np.isfinite(out).all()

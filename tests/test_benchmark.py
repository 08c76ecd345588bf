"""The nested leave-one-out protocol, wf.tl.leave_one_out, the summaries and ``python -m wf_sc.benchmark``."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest

import wf_sc as wf
from wf_sc.benchmark import paired, summarize, to_markdown
from wf_sc.benchmark.__main__ import main
from wf_sc.benchmark.methods import ABLATIONS, METHODS, build
from wf_sc.benchmark.protocol import COLUMNS, METRICS, Method, TimeCourse, choose, leave_one_out

TINY_WF = dict(stage1_max_steps_first=100, stage1_max_steps=50, stage2_steps=5, hidden=8, width=16, device="cpu")
#: the same, as wf.tl.leave_one_out takes it
TINY_LOO = dict(config=wf.tl.Config(**{k: v for k, v in TINY_WF.items() if k != "device"}), device="cpu")
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
        methods=METHODS,
        seeds=(0, 1),
        **TINY_LOO,
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
    setting = table.groupby("method")["setting"].agg(set)
    from wf_sc.benchmark.methods import default_prediction

    assert setting["weightflow"] == {json.dumps(default_prediction())} and setting["mm_pchip"] == {'{"spline": "pchip"}'}
    assert setting["ot"] == {"{}"}


def test_fit_seconds(table):
    assert (table.loc[table["method"] == "weightflow", "fit_seconds"] > 0).all()
    assert table.loc[table["method"] == "floor", "fit_seconds"].isna().all()
    assert (table.loc[table["method"] != "floor", "fit_seconds"] >= 0).all()


def test_floor_is_below_the_unmoved_snapshots(table):
    """Sanity on the gradient flow: sampling noise costs far less than not moving at all."""
    w1 = table[table["metric"] == "w1"].groupby("method")["value"].mean()
    assert w1["floor"] < 0.5 * min(w1["previous"], w1["next"]), w1.to_dict()
    # with two training times the multi-marginal splines are OT interpolation itself (other draws)
    assert abs(w1["mm_cubic"] - w1["ot"]) < 0.1 * w1["ot"] and abs(w1["mm_pchip"] - w1["ot"]) < 0.1 * w1["ot"]


def test_weightflow_row_is_the_default_call(snapshots):
    """The benchmark's weightflow prediction is wf.tl.fit + wf.tl.interpolate on the training cells."""
    train = snapshots[snapshots.obs["time"] != 1.0].copy()
    wf.tl.fit(train, "time", use_rep="X", random_state=4, progress=False, **TINY_LOO)
    expected = wf.tl.interpolate(train, 1.0, n_cells=23, random_state=4).X
    method = build(["weightflow"], weightflow_kwargs=TINY_WF)["weightflow"]
    data = TimeCourse(np.asarray(train.X, dtype=float), train.obs["time"].to_numpy())
    got = method.predict(data, 1.0, 23, 4, np.random.default_rng(0), method.candidates[0])
    np.testing.assert_array_equal(got.astype(np.float32), expected)  # interpolate's cells are float32


class Spy(Method):
    """Stand-in method. ``leak``: returns the cells of the target time when its training data holds
    them (a perfect score) and cells far away otherwise; ``honest``: the previous snapshot. It
    records the training times of every call."""

    candidates = ({"how": "leak"}, {"how": "honest"})

    def __init__(self):
        self.calls = []

    def predict(self, train, t, n, seed, rng, setting):
        self.calls.append((tuple(train.times.tolist()), t))
        if setting["how"] == "leak":
            return train.at(t)[:n] if t in train.times else train.X[:n] + 1e3
        return train.at(train.neighbours(t)[0])[:n]


def test_inner_folds_never_see_the_outer_held_out_time():
    """Five times: each outer fold's choice runs on the training times only. Were the held-out time
    in any training set, the leaking candidate would score perfectly and be chosen."""
    rng = np.random.default_rng(0)
    times = np.repeat([0.0, 1.0, 2.0, 3.0, 4.0], 30)
    data = TimeCourse(rng.normal(size=(len(times), 2)) + times[:, None], times)
    spy = Spy()
    df = leave_one_out(data, {"spy": spy}, seeds=(0,), metrics=("w1",), max_cells=15)
    assert sorted(df["held_out"].unique()) == [1.0, 2.0, 3.0]
    chosen = df.loc[df["method"] == "spy", "setting"].map(json.loads)
    assert all(c == {"how": "honest"} for c in chosen)
    # every call: the predicted time is not among its training times; per outer fold 2 inner folds
    # x 2 candidates + 1 final prediction
    assert all(t not in train for train, t in spy.calls)
    assert len(spy.calls) == 3 * (2 * 2 + 1)
    for k, outer in enumerate((1.0, 2.0, 3.0)):
        fold = spy.calls[k * 5 : (k + 1) * 5]
        assert all(outer not in train for train, _ in fold), fold
        assert fold[-1][1] == outer and {t for _, t in fold[:-1]} == {1.0, 2.0, 3.0, 4.0} - {outer, 4.0} - {0.0}
    # the same stand-in scored with the held-out time in its training data would be perfect
    leaky = Spy().predict(data, 2.0, 15, 0, rng, {"how": "leak"})
    np.testing.assert_array_equal(leaky, data.at(2.0)[:15])


def test_choose_returns_the_first_setting_without_an_inner_fold():
    data = TimeCourse(np.arange(8.0).reshape(4, 2), np.array([0.0, 0.0, 1.0, 1.0]))
    assert choose(Spy(), data, "spy", 0, 10) == ({"how": "leak"}, [])


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
    with pytest.raises(TypeError, match="wf.tl.Config"):
        wf.tl.leave_one_out(snapshots, "time", use_rep="X", config={"hidden": 8})
    with pytest.raises(ValueError, match="effort must be one of"):
        wf.tl.leave_one_out(snapshots, "time", use_rep="X", methods=("weightflow",), effort="huge")
    with pytest.raises(ValueError, match="unknown metrics"):
        wf.tl.leave_one_out(snapshots, "time", use_rep="X", methods=("next",), metrics=("w7",))
    two = snapshots[snapshots.obs["time"] < 2].copy()
    with pytest.raises(ValueError, match="at least 3 time points"):
        wf.tl.leave_one_out(two, "time", use_rep="X", methods=("next",))


def test_prediction_variants_share_one_fit(snapshots, monkeypatch):
    fits = []
    original = wf.tl.WeightFlow.fit_arrays
    monkeypatch.setattr(wf.tl.WeightFlow, "fit_arrays", lambda self, *a, **k: fits.append(1) or original(self, *a, **k))
    kw = dict(use_rep="X", seeds=(0,), metrics=("w1",), max_cells=60)
    df = wf.tl.leave_one_out(snapshots, "time", methods=("weightflow", "wf_sample"), **TINY_LOO, **kw)
    assert len(fits) == 1  # one fit, two predictions
    value = df.set_index("method")["value"]
    assert value["wf_sample"] != value["weightflow"]


def test_ablations_change_one_setting(snapshots):
    from wf_sc.benchmark.methods import _merged

    base = {"loss_weights": {"nll": 0.5}, "hidden": 8}
    assert _merged(base, ABLATIONS["wf_no_action"]) == {
        "loss_weights": {"nll": 0.5, "ot_action": 0.0, "ot_accel": 0.0}, "hidden": 8
    }
    assert _merged(base, ABLATIONS["wf_linear"]) == {**base, "dynamics": "linear"}
    methods = build(["wf_linear", "wf_constant_pace"], weightflow_kwargs=base)
    assert methods["wf_linear"].settings == {**base, "dynamics": "linear"}
    assert methods["wf_constant_pace"].settings == {**base, "pace": "constant"}
    df = wf.tl.leave_one_out(
        snapshots, "time", use_rep="X", methods=("wf_linear",), seeds=(0,), metrics=("w1",), max_cells=60,
        config=wf.tl.Config(stage1_max_steps_first=60, stage1_max_steps=30, hidden=8, width=16), device="cpu",
    )
    assert list(df["method"]) == ["floor", "wf_linear"]
    assert np.isfinite(df["value"]).all()


def _rows(values: dict[str, dict[int, tuple[float, float]]]) -> pd.DataFrame:
    rows = []
    for method, per_seed in values.items():
        for seed, vals in per_seed.items():
            for held, v in zip((1.0, 2.0), vals):
                rows.append(dict(dataset="d", metric="w1", held_out=held, method=method, seed=seed, value=v,
                                 fit_seconds=np.nan if method == "floor" else 2.0, setting="{}"))
    return pd.DataFrame(rows)


def test_summarize_and_markdown_by_hand():
    # method m: seed 0 has values 1, 3 at the two held-out times (mean 2), seed 1 has 4, 4 (mean 4)
    df = _rows({"m": {0: (1.0, 3.0), 1: (4.0, 4.0)}, "floor": {0: (0.5, 0.5), 1: (0.5, 0.5)}})
    summary = summarize(df)
    m = summary[summary["method"] == "m"].iloc[0]
    assert m["mean"] == pytest.approx(3.0) and m["std"] == pytest.approx(np.sqrt(2.0))
    assert m["n_seeds"] == 2 and m["n_held_out"] == 2 and m["fit_seconds"] == pytest.approx(2.0)
    text = to_markdown(summary)
    assert "| method | W1 | fit (s) |" in text
    assert "| m | **3.00 ± 1.41** | 2.0 |" in text
    assert "| floor | 0.500 ± 0.000 | — |" in text


def test_paired_differences_by_hand():
    # per-seed means: weightflow 2, 4, 3; ot 3, 3, 5 -> differences -1, +1, -2
    df = _rows(
        {
            "weightflow": {0: (1.0, 3.0), 1: (4.0, 4.0), 2: (3.0, 3.0)},
            "ot": {0: (3.0, 3.0), 1: (2.0, 4.0), 2: (5.0, 5.0)},
            "floor": {0: (0.1, 0.1), 1: (0.1, 0.1), 2: (0.1, 0.1)},
        }
    )
    row = paired(df).set_index("baseline").loc["ot"]
    d = np.array([-1.0, 1.0, -2.0])
    assert row["diff"] == pytest.approx(d.mean()) and row["sd"] == pytest.approx(d.std(ddof=1))
    assert row["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert row["ahead"] == 2 and row["n_seeds"] == 3
    assert "floor" not in set(paired(df)["baseline"])



def test_behind_table_lists_only_baselines_ahead_by_two_standard_errors():
    from wf_sc.benchmark.report import behind_table

    # held out 1: ot is ahead on every seed by 1, 2, 3 (mean 2, SE 1/sqrt(3): 3.5 SE) -> listed;
    # held out 2: ot is ahead by 1, -1, 3 (mean 1, SE 2/sqrt(3): 0.87 SE) -> not listed; mixture is behind
    df = _rows(
        {
            "weightflow": {0: (5.0, 5.0), 1: (6.0, 5.0), 2: (7.0, 6.0)},
            "ot": {0: (4.0, 4.0), 1: (4.0, 6.0), 2: (4.0, 3.0)},
            "mixture": {0: (9.0, 9.0), 1: (9.0, 9.0), 2: (9.0, 9.0)},
            "wf_linear": {0: (0.0, 0.0), 1: (0.0, 0.0), 2: (0.0, 0.0)},  # a WeightFlow variant: never listed
            "floor": {0: (0.1, 0.1), 1: (0.1, 0.1), 2: (0.1, 0.1)},
        }
    )
    lines = behind_table(df).splitlines()
    assert len(lines) == 3
    assert lines[2] == "| d | 1 | ot | 4 | 6 | +2 ± 0.58 | 3/3 |"
    assert behind_table(df[df["method"] != "ot"]) == ""

def test_cli_quick_writes_the_report_and_resumes(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert f"python -m wf_sc.benchmark --quick --out {out}" in text
    assert "| method | W1 | W2 | MMD² | fit (s) |" in text
    assert "| **weightflow** |" in text and "weightflow − method" in text
    for method in ("floor", *METHODS):
        assert f"| {method} |" in text, method
    assert "torch" in text and "seeds: 0" in text and "Nested leave-one-timepoint-out" in text
    csv = pd.read_csv(out.with_suffix(".csv"))
    assert list(csv.columns) == list(COLUMNS) and set(csv["dataset"]) == {"gradient_flow"}
    assert "wrote" in capsys.readouterr().out

    # --resume runs nothing that the CSV has: same rows
    assert main(["--quick", "--resume", "--out", str(out)]) == 0
    again = pd.read_csv(out.with_suffix(".csv"))
    pd.testing.assert_frame_equal(again, csv)
    assert "kept (`--resume`)" in out.read_text()

    # --rerun runs one method again and keeps every other row unchanged
    assert main(["--quick", "--resume", "--rerun", "mixture", "--out", str(out)]) == 0
    third = pd.read_csv(out.with_suffix(".csv")).sort_values(["method", "metric"], ignore_index=True)
    # mixture is deterministic given its (seed, time, name) stream: same rows, only its timing is new
    pd.testing.assert_frame_equal(
        third.drop(columns="fit_seconds"), csv.sort_values(["method", "metric"], ignore_index=True).drop(columns="fit_seconds")
    )


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
    assert main(["--quick", "--methods", "magic", "--out", str(changed)]) == 2
    assert "unknown methods" in capsys.readouterr().err


def test_cli_fit_cache_and_report_only_run_no_fit_again(tmp_path, monkeypatch, capsys):
    """A second run with the same --fit-cache refits nothing and scores the same; --report-only
    rebuilds the report from the CSV without running anything."""
    cache, first, second = tmp_path / "fits", tmp_path / "a.md", tmp_path / "b.md"
    args = ["--quick", "--methods", "weightflow", "wf_sample", "--fit-cache", str(cache)]
    assert main([*args, "--out", str(first)]) == 0
    assert len(list(cache.glob("*.pt"))) == 1  # one fit serves both predictions

    def no_fit(self, *a, **k):
        raise AssertionError("fitted again")

    monkeypatch.setattr(wf.tl.WeightFlow, "fit_arrays", no_fit)
    assert main([*args, "--out", str(second)]) == 0
    a, b = (pd.read_csv(p.with_suffix(".csv")) for p in (first, second))
    pd.testing.assert_frame_equal(a.drop(columns="fit_seconds"), b.drop(columns="fit_seconds"))
    # a CSV kept elsewhere is linked from the report by its path relative to the report
    (tmp_path / "tables").mkdir()
    assert main([*args, "--out", str(tmp_path / "docs" / "c.md"), "--csv", str(tmp_path / "tables" / "c.csv")]) == 0
    assert "(../tables/c.csv)" in (tmp_path / "docs" / "c.md").read_text()

    rebuilt = tmp_path / "rebuilt.md"
    assert main(["--quick", "--report-only", "--csv", str(first.with_suffix(".csv")), "--methods", "weightflow",
                 "--title", "WeightFlow variants", "--out", str(rebuilt)]) == 0
    text = rebuilt.read_text()
    assert text.startswith("# WeightFlow variants") and "--report-only" in text and "| wf_sample |" not in text
    assert "| **weightflow** |" in text and "[`a.csv`](a.csv)" in text
    capsys.readouterr()
    assert main(["--report-only", "--csv", str(tmp_path / "none.csv"), "--out", str(rebuilt)]) == 2
    assert "needs the CSV" in capsys.readouterr().err


def test_rerun_replaces_only_the_rows_of_its_datasets(tmp_path):
    out = tmp_path / "b.md"
    base = ["--quick", "--methods", "mixture", "ot", "--out", str(out)]
    assert main([*base, "--datasets", "gradient_flow", "toggle_switch"]) == 0
    exact = dict(float_precision="round_trip")
    first = pd.read_csv(out.with_suffix(".csv"), **exact)
    assert main([*base, "--datasets", "gradient_flow", "--resume", "--rerun", "mixture"]) == 0
    second = pd.read_csv(out.with_suffix(".csv"), **exact)
    key = ["dataset", "held_out", "method", "seed", "metric"]
    assert len(second) == len(first) and not second.duplicated(key).any()
    # the rerun's rows are written back where they stood, so the file's diff is those rows only
    assert second[key].values.tolist() == first[key].values.tolist()
    keep = first[first["dataset"] == "toggle_switch"].drop(columns="fit_seconds").reset_index(drop=True)
    again = second[second["dataset"] == "toggle_switch"].drop(columns="fit_seconds").reset_index(drop=True)
    pd.testing.assert_frame_equal(again, keep, check_exact=True)  # kept rows keep every digit


def test_resume_completes_a_partial_method_without_duplicates():
    from wf_sc.benchmark import run_suite

    full = run_suite(["toggle_switch"], seeds=(0,), quick=True, methods=["mixture", "ot"])
    partial = full[~((full["method"] == "mixture") & (full["metric"] == "w2"))]
    again = run_suite(["toggle_switch"], seeds=(0,), quick=True, methods=["mixture", "ot"], done=partial)
    key = ["dataset", "held_out", "method", "seed", "metric"]
    assert not again.duplicated(key).any() and len(again) == len(full)
    merged = again.merge(full, on=key, suffixes=("", "_full"))
    np.testing.assert_allclose(merged["value"], merged["value_full"])


@pytest.mark.parametrize("name, field, values", [("wf_budget_nested", "stage1_max_steps", [None, 1500]),
                                                  ("wf_stage2_nested", "stage2_steps", [None, 600]),
                                                  ("wf_action_nested", "loss_weights", [None, {"ot_action": 2.0}]),
                                                  ("wf_accel_nested", "loss_weights", [None, {"ot_accel": 0.0}])])
def test_budget_candidates_change_the_fit_and_keep_the_prediction(snapshots, name, field, values):
    from wf_sc.benchmark.methods import default_prediction

    method = build([name], weightflow_kwargs=TINY_WF)[name]
    assert [c.get(field) for c in method.candidates] == values
    assert all(c["prediction"] == default_prediction()["prediction"] for c in method.candidates)
    seen = []

    class Model:
        def sample(self, t, n, random_state=None):
            return np.zeros((n, 2))

    method.cache.get = lambda train, seed, settings: seen.append(settings) or (Model(), 1.0)
    train = TimeCourse(snapshots.X, snapshots.obs["time"].to_numpy(float))
    for setting in method.candidates:
        method.predict(train, 1.0, 5, 0, np.random.default_rng(0), {**setting, "prediction": "sample"})
    assert seen == [dict(TINY_WF), {**TINY_WF, field: values[1]}]


def test_lineage_row_fits_on_redrawn_training_cells(snapshots):
    """wf_lineages fits on each training snapshot redrawn from its own cells (as many as it has)."""
    method = build(["wf_lineages"], weightflow_kwargs=TINY_WF)["wf_lineages"]
    train = TimeCourse(np.asarray(snapshots.X), snapshots.obs["time"].to_numpy(float)).without(1.0)
    seen, get = [], method.cache.get
    method.cache.get = lambda data, seed, settings: seen.append(data) or get(data, seed, settings)
    pred = method.predict(train, 1.0, 30, 0, np.random.default_rng(0), method.candidates[0])
    assert pred.shape == (30, 2) and np.isfinite(pred).all()
    (fitted,) = seen
    np.testing.assert_array_equal(np.sort(fitted.t), np.sort(train.t))
    for u in train.times:
        observed = {tuple(row) for row in train.at(u)}
        assert all(tuple(row) in observed for row in fitted.at(u))

"""Nothing silent: awkward inputs get a clear error or a visible warning, and no user key is overwritten.

Every error case checks the message (the problem and the fix) and, with a deep comparison, that the
AnnData is unchanged. ``docs/reliability.md`` lists the cases.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import wf_sc as wf
from wf_sc._bridge import check_representation
from wf_sc.tl import WeightFlow

from conftest import TINY_FIT as TINY
from conftest import make_tiny_adata
from test_errors import _assert_unchanged, _snapshot


@pytest.fixture(scope="module")
def fitted():
    adata = make_tiny_adata(times=(0.0, 1.0, 2.0))
    wf.tl.fit(adata, "time", use_rep="X", **TINY)
    return adata


def _refused(adata, exc, match, **kwargs):
    snap = _snapshot(adata)
    with pytest.raises(exc, match=match):
        wf.tl.fit(adata, "time", **{"use_rep": "X", **TINY, **kwargs})
    _assert_unchanged(adata, snap)


# --------------------------------------------------------------------------- keys a fit did not write


def test_fit_refuses_to_overwrite_scanpy_records():
    adata = make_tiny_adata(dim=4)
    sc.pp.pca(adata, n_comps=2)
    adata.uns["neighbors"] = {"params": {"n_neighbors": 15}}
    _refused(adata, ValueError, r"overwrite adata.uns\['pca'\].*key_added='weightflow'", key_added="pca")
    _refused(adata, ValueError, r"overwrite adata.uns\['neighbors'\]", key_added="neighbors")


def test_fit_refuses_to_overwrite_a_users_arrays():
    adata = make_tiny_adata()
    adata.obsm["X_velocity"] = np.ones((adata.n_obs, 2))
    adata.obs["X_log_density"] = 1.0
    _refused(adata, ValueError, r"obsm\['X_velocity'\], adata.obs\['X_log_density'\]", key_added="X")
    adata.obsm["wf_velocity"] = np.ones((adata.n_obs, 2))  # the default key, not written by a fit
    _refused(adata, ValueError, r"obsm\['wf_velocity'\].*key_added='weightflow_1'")


def test_a_fit_replaces_its_own_earlier_record(fitted):
    adata = fitted.copy()
    before = adata.uns["weightflow"]["model"]["config"]["random_state"]
    wf.tl.fit(adata, "time", use_rep="X", random_state=5, **TINY)
    assert adata.uns["weightflow"]["model"]["config"]["random_state"] == 5 != before


# --------------------------------------------------------------------------- times


def test_times_outside_the_fitted_range_are_held_with_a_warning(fitted):
    model = WeightFlow.from_adata(fitted)
    with pytest.warns(UserWarning, match=r"outside the fitted range \[0, 2\].*held at the nearest"):
        far = model.sample(10.0, 50, random_state=1)
    np.testing.assert_array_equal(far, model.sample(2.0, 50, random_state=1))
    x = fitted.X[:5]
    with pytest.warns(UserWarning, match="outside the fitted range"):
        drift = model.drift(x, 100.0)
    assert (drift == 0).all()
    with pytest.warns(UserWarning, match="outside the fitted range"):
        dens = model.log_density(x, 1e6)
    np.testing.assert_allclose(dens, model.log_density(x, 2.0))
    with pytest.warns(UserWarning, match=r"times \[-1.0\]"):
        out = wf.tl.interpolate(fitted, [-1.0, 1.0], n_cells=20)
    assert np.isfinite(out.X).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.sample(2.0 + 1e-9, 5)  # rounding at the end: no warning


def test_large_and_finely_spaced_times_are_handled_in_float64():
    adata = make_tiny_adata(times=(1e8, 1e8 + 1, 1e8 + 2))
    wf.tl.fit(adata, "time", use_rep="X", **TINY)
    model = WeightFlow.from_adata(adata)
    np.testing.assert_array_equal(model.times, [1e8, 1e8 + 1, 1e8 + 2])
    assert np.isfinite(model.sample(1e8 + 0.5, 10)).all()
    close = make_tiny_adata(times=(1.0, 1.0 + 1e-8))
    wf.tl.fit(close, "time", use_rep="X", **TINY)
    assert np.isfinite(close.obsm["wf_velocity"]).all()


def test_times_that_cannot_be_told_apart_are_refused():
    adata = make_tiny_adata(times=(0.0, 1.0, 1.0 + 1e-9))
    _refused(adata, ValueError, r"1\.0 and 1\.000000001.*cannot be told apart")


def test_ordinal_labels_are_spaced_evenly_with_a_warning():
    adata = make_tiny_adata(times=(0.0, 1.0, 2.0))
    labels = {0.0: "early", 1.0: "mid", 2.0: "late"}
    adata.obs["stage"] = pd.Categorical(
        adata.obs["time"].map(labels), categories=["early", "mid", "late"], ordered=True
    )
    with pytest.warns(UserWarning, match=r"ordinal labels.*evenly spaced.*time_key='day'"):
        wf.tl.fit(adata, "stage", use_rep="X", **TINY)
    np.testing.assert_array_equal(WeightFlow.from_adata(adata).times, [0.0, 1.0, 2.0])


def test_category_order_against_the_numbers_in_the_labels_warns():
    adata = make_tiny_adata(times=(0.0, 2.0, 10.0))
    adata.obs["day"] = pd.Categorical([f"day{int(t)}" for t in adata.obs["time"]], ordered=True)
    assert list(adata.obs["day"].cat.categories) == ["day0", "day10", "day2"]  # the lexicographic trap
    with pytest.warns(UserWarning, match=r"numbers in the labels say \['day0', 'day2', 'day10'\]"):
        wf.pp.prepare(adata, "day", use_rep="X")


# --------------------------------------------------------------------------- the representation


def test_constant_and_count_like_dimensions_warn():
    X = np.random.default_rng(0).normal(size=(50, 3))
    X[:, 1] = 4.0
    with pytest.warns(UserWarning, match=r"1 constant dimension\(s\) \(first: \[1\]\)"):
        check_representation(X, "X")
    counts = np.random.default_rng(0).poisson(0.5, size=(50, 20)).astype(float)
    with pytest.warns(UserWarning, match="raw counts.*log1p"):
        check_representation(counts, "X")
    with pytest.warns(UserWarning, match="modelling 101 dimensions"):
        check_representation(np.random.default_rng(0).normal(size=(20, 101)), "X")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_representation(np.random.default_rng(0).normal(size=(50, 3)), "X")


def test_a_fit_on_a_constant_column_warns_through_fit():
    adata = make_tiny_adata(dim=3)
    adata.X[:, 2] = 1.0
    with pytest.warns(UserWarning, match="constant dimension"):
        wf.tl.fit(adata, "time", use_rep="X", **TINY)


# --------------------------------------------------------------------------- arguments


def test_random_state_none_draws_a_recorded_seed():
    adata = make_tiny_adata()
    wf.tl.fit(adata, "time", use_rep="X", random_state=None, **TINY)
    seed = adata.uns["weightflow"]["params"]["random_state"]
    assert isinstance(int(seed), int)
    again = make_tiny_adata()
    wf.tl.fit(again, "time", use_rep="X", random_state=int(seed), **TINY)
    np.testing.assert_array_equal(adata.obsm["wf_velocity"], again.obsm["wf_velocity"])
    out = wf.tl.interpolate(adata, 0.5, n_cells=5, random_state=None)
    assert out.shape == (5, 2)


@pytest.mark.parametrize("bad", [-5, 0, 2.5, True])
def test_bad_cell_counts_are_refused(fitted, bad):
    snap = _snapshot(fitted)
    with pytest.raises(ValueError, match="n_cells must be a positive integer"):
        wf.tl.interpolate(fitted, 0.5, n_cells=bad)
    _assert_unchanged(fitted, snap)


def test_empty_population_times_are_refused_before_fitting(monkeypatch):
    adata = make_tiny_adata()
    monkeypatch.setattr(WeightFlow, "fit_arrays", lambda *a, **k: pytest.fail("fitted first"))
    _refused(adata, ValueError, "population_times must be a non-empty", population_times=[])
    _refused(adata, ValueError, "n_population_cells must be a positive integer", n_population_cells=-1)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("stage2_steps", -3), ("stage1_lr", 0.0), ("val_fraction", 1.5), ("stage1_batch_size", 0), ("hidden", 0)],
)
def test_bad_training_settings_are_refused(setting, value):
    """A bad expert setting is refused when the config is made, before any data is read."""
    with pytest.raises(ValueError, match=setting):
        wf.tl.Config(**{setting: value})


def test_effort_scales_every_step_budget_and_nothing_else(tiny_adata_factory):
    base = wf.tl.Config(stage1_max_steps_first=100, stage1_max_steps=40, stage2_steps=8, hidden=8, width=16)
    fast, default, thorough = (base.train_config(e) for e in ("fast", "default", "thorough"))
    assert (fast.stage1_max_steps_first, fast.stage1_max_steps, fast.stage2_steps) == (25, 10, 2)
    assert (thorough.stage1_max_steps_first, thorough.stage1_max_steps, thorough.stage2_steps) == (300, 120, 24)
    assert default == base.train_config() and default.stage2_lr == fast.stage2_lr == thorough.stage2_lr
    _refused(make_tiny_adata(), ValueError, "effort must be one of", effort="huge")
    adata = make_tiny_adata()
    wf.tl.fit(adata, "time", use_rep="X", progress=False, device="cpu", config=base, effort="fast")
    rec = adata.uns["weightflow"]
    assert len(rec["history"]["stage2"]["total"]) == 2 and int(rec["params"]["stage2_steps"]) == 2
    assert rec["params"]["effort"] == "fast"
    # the reloaded model carries the steps it was trained with
    assert wf.tl.WeightFlow.from_adata(adata).train.stage2_steps == 2


# --------------------------------------------------------------------------- a tampered record


@pytest.mark.parametrize(
    ("tamper", "match"),
    [
        (lambda m: m["state_dict"].__setitem__("anchors", np.full_like(m["state_dict"]["anchors"], np.nan)), "non-finite"),
        (lambda m: m["state_dict"].__setitem__("tau", m["state_dict"]["tau"][::-1].copy()), "unordered times"),
        (lambda m: m["config"]["core"].__setitem__("steps", 10_000_000), "invalid configuration.*steps"),
    ],
    ids=["nan-weights", "reversed-times", "huge-steps"],
)
def test_a_tampered_record_is_refused_on_load(fitted, tamper, match):
    adata = fitted.copy()
    tamper(adata.uns["weightflow"]["model"])
    with pytest.raises(ValueError, match=match):
        wf.tl.interpolate(adata, 0.5, n_cells=5)


# --------------------------------------------------------------------------- what a user sees


def test_a_default_fit_with_progress_bars_shows_no_warning(tmp_path):
    """A fresh interpreter with Python's default warning filters (what a script or notebook shows)."""
    code = (
        "import wf_sc as wf\n"
        "from conftest import make_tiny_adata, TINY_FIT\n"
        "adata = make_tiny_adata()\n"
        "wf.tl.fit(adata, 'time', use_rep='X', **{**TINY_FIT, 'progress': True})\n"
        "wf.tl.interpolate(adata, [0.5, 1.5], n_cells=20)\n"
    )
    tests = str(__import__("pathlib").Path(__file__).parent)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tests, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr, run.stderr


def test_the_command_line_speaks_in_options(tmp_path, capsys):
    from wf_sc.cli import main

    path = tmp_path / "in.h5ad"
    make_tiny_adata().write_h5ad(path)
    assert main(["fit", str(path), "--time-key", "day", "--use-rep", "X", "-q", "-o", str(tmp_path / "o.h5ad")]) == 2
    err = capsys.readouterr().err
    assert "--time-key" in err and "time_key=" not in err and "Traceback" not in err


def test_a_fit_touches_no_key_it_did_not_write():
    """scanpy's records, a user's arrays and columns: deep-equal after a fit beside them."""
    adata = make_tiny_adata(dim=4)
    sc.pp.pca(adata, n_comps=2)
    adata.obsm["X_velocity"] = np.ones((adata.n_obs, 2))
    adata.uns["neighbors"] = {"params": {"n_neighbors": 15}}
    snap = _snapshot(adata)
    wf.tl.fit(adata, "time", use_rep="X", **TINY)
    written = {"uns": {"weightflow"}, "obsm": {"wf_velocity"}, "obs": {"wf_log_density"}}
    assert set(adata.uns) - set(snap["uns"]) == written["uns"]
    assert set(adata.obsm) - set(snap["obsm"]) == written["obsm"]
    assert set(adata.obs.columns) - set(snap["obs"].columns) == written["obs"]
    del adata.uns["weightflow"], adata.obsm["wf_velocity"]
    adata.obs = adata.obs.drop(columns="wf_log_density")
    _assert_unchanged(adata, snap)


# --------------------------------------------------------------------------- cases a new user found


@pytest.mark.parametrize("key", ["", "my/fit"])
def test_key_added_that_h5ad_cannot_store_is_refused(key):
    _refused(make_tiny_adata(), ValueError, "key_added must be a non-empty name without '/'", key_added=key)


def test_saving_a_model_onto_a_folder_is_refused(fitted, tmp_path):
    with pytest.raises(ValueError, match="is a folder; give a file name"):
        WeightFlow.from_adata(fitted).save(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        WeightFlow.from_adata(fitted).save(tmp_path / "missing" / "m.pt")


def test_cli_output_folder_is_refused_before_fitting(tmp_path, capsys, monkeypatch):
    from wf_sc.cli import main

    monkeypatch.setattr(wf.tl, "fit", lambda *a, **k: pytest.fail("fitted first"))
    path = tmp_path / "in.h5ad"
    make_tiny_adata().write_h5ad(path)
    assert main(["fit", str(path), "--use-rep", "X", "-q", "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_refit_removes_the_projections_of_the_old_drift(fitted):
    adata = fitted.copy()
    adata.obsm["X_umap"] = np.asarray(adata.X[:, :2]) * 2.0
    wf.tl.velocity_embedding(adata, basis="umap")
    assert "wf_velocity_umap" in adata.obsm and "wf_velocity_params" in adata.uns
    wf.tl.fit(adata, "time", use_rep="X", random_state=3, **TINY)
    assert "wf_velocity_umap" not in adata.obsm and "wf_velocity_params" not in adata.uns
    assert "X_umap" in adata.obsm  # the embedding itself is the user's


def test_interpolate_takes_the_time_labels_of_an_ordinal_fit():
    adata = make_tiny_adata(times=(0.0, 1.0, 2.0))
    adata.obs["stage"] = pd.Categorical(
        adata.obs["time"].map({0.0: "early", 1.0: "mid", 2.0: "late"}), categories=["early", "mid", "late"], ordered=True
    )
    with pytest.warns(UserWarning, match="evenly spaced"):
        wf.tl.fit(adata, "stage", use_rep="X", **TINY)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ordinal warning was given at the fit, not again here
        by_label = wf.tl.interpolate(adata, ["mid"], n_cells=10, random_state=2)
    np.testing.assert_array_equal(by_label.X, wf.tl.interpolate(adata, 1.0, n_cells=10, random_state=2).X)
    with pytest.raises(ValueError, match=r"got 'D1'; the fit's time labels are \['early', 'mid', 'late'\]"):
        wf.tl.interpolate(adata, "D1", n_cells=10)


def test_the_suggested_fix_for_missing_nullable_times_works():
    adata = make_tiny_adata()
    adata.obs["time"] = adata.obs["time"].astype("Int64")
    adata.obs.iloc[0, adata.obs.columns.get_loc("time")] = pd.NA
    snap = _snapshot(adata)
    with pytest.raises(ValueError, match="without a finite time") as info:
        wf.tl.fit(adata, "time", use_rep="X", **TINY)
    _assert_unchanged(adata, snap)
    fix = str(info.value).split("e.g. ")[1].rstrip(".")
    namespace = {"adata": adata, "np": np}
    exec(fix, namespace)
    assert namespace["adata"].n_obs == adata.n_obs - 1


def test_values_beyond_float32_are_refused_with_the_fix():
    adata = make_tiny_adata()
    adata.X = np.asarray(adata.X, dtype=np.float64) * 1e39
    _refused(adata, ValueError, "beyond what float32 holds; rescale")


def test_more_dimensions_than_cells_in_a_snapshot_warn():
    adata = make_tiny_adata(n_per_time=12, times=(0.0, 1.0), dim=12)
    with pytest.warns(UserWarning, match="12 dimensions but the smallest time point has only 12 cells"):
        wf.tl.fit(adata, "time", use_rep="X", **TINY)


def test_prepare_warns_before_reducing_raw_counts():
    rng = np.random.default_rng(0)
    adata = ad.AnnData(
        X=__import__("scipy").sparse.csr_matrix(rng.poisson(0.4, size=(60, 30)).astype(np.float32)),
        obs=pd.DataFrame({"time": np.repeat([0.0, 1.0, 2.0], 20)}, index=[f"c{i}" for i in range(60)]),
    )
    with pytest.warns(UserWarning, match="raw counts.*normalize_total"):
        wf.pp.prepare(adata, "time", n_comps=3)


def test_a_continuous_time_column_is_named_as_such_briefly():
    adata = make_tiny_adata()
    adata.obs["pt"] = np.linspace(0, 1, adata.n_obs)
    snap = _snapshot(adata)
    with pytest.raises(ValueError, match="looks like a continuous time.*pd.cut") as info:
        wf.tl.fit(adata, "pt", use_rep="X", **TINY)
    assert len(str(info.value)) < 400
    _assert_unchanged(adata, snap)


def test_leave_one_out_takes_one_method_as_a_string():
    adata = make_tiny_adata()
    df = wf.tl.leave_one_out(adata, "time", use_rep="X", methods="ot", seeds=(0,), metrics="w1")
    assert set(df["method"]) == {"floor", "ot"}


def test_meeting_after_the_representation_changed_says_so(fitted):
    wider = np.concatenate([np.asarray(fitted.X), np.zeros((fitted.n_obs, 1), np.float32)], axis=1)
    adata = ad.AnnData(X=wider, obs=fitted.obs.copy(), uns=fitted.copy().uns)
    with pytest.raises(ValueError, match="has 3 columns now, but the fit used 2"):
        wf.tl.interpolate(adata, 0.5, n_cells=10, prediction="meet")


def test_interpolate_refuses_non_finite_times(fitted):
    with pytest.raises(ValueError, match="times must be finite"):
        wf.tl.interpolate(fitted, [0.5, float("nan")], n_cells=10)


def test_duplicate_cell_names_warn_when_naming_source_cells(fitted):
    adata = fitted.copy()
    adata.obs_names = ["c"] * adata.n_obs
    with pytest.warns(UserWarning, match="obs_names_make_unique"):
        wf.tl.interpolate(adata, 0.5, n_cells=10, prediction="meet")


def test_more_met_cells_than_a_snapshot_holds_warn_that_cells_repeat(fitted):
    """40 cells per snapshot: asking for 50 draws some twice, and says so; 40 or fresh samples do not."""
    with pytest.warns(UserWarning, match=r"n_cells=50 .* \(40 at time 0, 40 at time 1\).*at most 40") as record:
        out = wf.tl.interpolate(fitted, 0.5, n_cells=50)
    assert len(record) == 1 and out.obs["source_cell"].duplicated().any()
    # an observed time moves that snapshot's cells only; past the end, the last snapshot's
    with pytest.warns(UserWarning, match=r"\(40 at time 1\)"):
        wf.tl.interpolate(fitted, 1.0, n_cells=41)
    with warnings.catch_warnings(record=True) as record:  # past the end it also says it holds the end
        warnings.simplefilter("always")
        wf.tl.interpolate(fitted, 2.5, n_cells=41)
    assert any("(40 at time 2)" in str(w.message) for w in record)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = wf.tl.interpolate(fitted, [0.5, 1.5], n_cells=40)
        assert not out.obs["source_cell"][out.obs["time"] == 0.5].duplicated().any()
        wf.tl.interpolate(fitted, 0.5, n_cells=50, prediction="sample")


def test_a_short_later_snapshot_warns_and_its_cells_repeat_as_partners():
    adata = make_tiny_adata(times=(0.0, 1.0, 2.0), n_per_time=60)
    adata = adata[(adata.obs["time"] < 2).to_numpy() | (np.arange(adata.n_obs) < 150)].copy()  # 30 cells at 2
    wf.tl.fit(adata, "time", use_rep="X", **TINY)
    with pytest.warns(UserWarning, match=r"\(30 at time 2\).*partner_cell.*at most 30"):
        out = wf.tl.interpolate(adata, 1.5, n_cells=50)
    assert out.obs["partner_cell"].duplicated().any() and not out.obs["source_cell"].duplicated().any()


def test_unknown_loss_terms_are_refused_before_fitting():
    with pytest.raises(ValueError, match=r"unknown loss terms \['foo'\]"):
        wf.tl.Config(loss_weights={"foo": 1.0})


def test_a_basis_with_nan_names_the_cells(fitted):
    adata = fitted.copy()
    adata.obsm["X_umap"] = np.asarray(adata.X[:, :2], dtype=float)
    adata.obsm["X_umap"][3] = np.nan
    snap = _snapshot(adata)
    with pytest.raises(ValueError, match=r"NaN/inf in 1 cells \(first: \['cell3'\]\)"):
        wf.tl.velocity_embedding(adata, basis="umap")
    _assert_unchanged(adata, snap)


def test_a_record_without_exact_times_still_loads(fitted):
    """Records written before the training times were kept in float64 rebuild them from tau."""
    adata = fitted.copy()
    del adata.uns["weightflow"]["model"]["state_dict"]["times"]
    np.testing.assert_allclose(WeightFlow.from_adata(adata).times, [0.0, 1.0, 2.0], rtol=1e-6)

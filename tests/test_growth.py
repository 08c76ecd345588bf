"""wf.tl.growth against a simulator with known birth and death (wf.datasets.BirthDeath)."""

import dataclasses

import anndata as ad
import numpy as np
import pytest
import torch

import wf_sc as wf
from wf_sc._core.growth import growth_rates


def _centred_error(est: np.ndarray, true: np.ndarray) -> float:
    """Root mean square difference of two sets of rates, each centred on its mean."""
    return float(np.sqrt(np.mean(((est - est.mean()) - (true - true.mean())) ** 2)))


@pytest.fixture(scope="module")
def births():
    return wf.datasets.birth_death(times=(0.0, 0.5, 1.0, 1.5), n_cells=800, random_state=0)


def test_simulator_mass_follows_the_true_rates(births):
    """M(t) = E[exp(int g)]: growing from 1, and the snapshots tilt towards the proliferating side."""
    mass = births.uns["simulation"]["mass"]
    assert mass[0] == 1 and np.all(np.diff(mass) > 0)
    share = births.obs.groupby("time")["true_growth"].apply(lambda g: (g > 0).mean()).to_numpy()
    assert share[-1] > share[0] + 0.15


def test_rates_recover_the_true_birth_and_death(births):
    births = births.copy()
    wf.tl.growth(births, "time", use_rep="X")
    g, truth, t = births.obs["wf_growth"].to_numpy(), births.obs["true_growth"].to_numpy(), births.obs["time"].to_numpy()
    assert np.isnan(g[t == 1.5]).all() and np.isfinite(g[t < 1.5]).all()
    for t0 in (0.0, 0.5, 1.0):
        est, true = g[t == t0], truth[t == t0]
        assert np.corrcoef(est, true)[0, 1] > 0.85
        # relative rates: error well below the spread of the truth (predicting no growth errs by that spread)
        assert _centred_error(est, true) < 0.8 * true.std()
        # without a prior the mass is held: mean exp(g dt) = 1
        assert np.mean(np.exp(est * 0.5)) == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_allclose(births.uns["wf_growth"]["mass"], 1.0)


def test_a_prior_sets_the_mass_and_rates_stay_near_it(births):
    births = births.copy()
    wf.tl.growth(births, "time", use_rep="X", prior="true_growth")
    true_mass = births.uns["simulation"]["mass"]
    np.testing.assert_allclose(births.uns["wf_growth"]["mass"], true_mass, rtol=0.05)
    t = births.obs["time"].to_numpy()
    est, truth = births.obs["wf_growth"].to_numpy()[t < 1.5], births.obs["true_growth"].to_numpy()[t < 1.5]
    assert np.corrcoef(est, truth)[0, 1] > 0.9


def test_no_change_gives_no_growth():
    """Two draws of the same population: rates stay near 0 (sampling noise only)."""
    rng = np.random.default_rng(0)
    g = growth_rates(torch.as_tensor(rng.normal(size=(600, 2))), torch.as_tensor(rng.normal(size=(600, 2))), 1.0)
    assert abs(float(g.mean())) < 0.02 and float(g.std()) < 0.1


def test_rates_beyond_max_cells_extend_the_solved_plan():
    """Cells outside the solved subsample get the same rates as the full solve, up to sampling."""
    rng = np.random.default_rng(1)
    x = torch.as_tensor(np.concatenate([rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [4, 0]]))
    y = torch.as_tensor(np.concatenate([rng.normal(size=(150, 2)), rng.normal(size=(450, 2)) + [4, 0]]))
    full = growth_rates(x, y, 1.0, max_cells=1000)
    part = growth_rates(x, y, 1.0, max_cells=300, generator=torch.Generator().manual_seed(0))
    # the cluster that doubles its share grows, the other shrinks, in both
    for g in (full, part):
        assert float(g[300:].mean()) > 0.2 and float(g[:300].mean()) < -0.2
    assert float(np.corrcoef(full.numpy(), part.numpy())[0, 1]) > 0.95


def test_growth_round_trips_and_refuses_foreign_keys(births, tmp_path):
    births = births.copy()
    wf.tl.growth(births, "time", use_rep="X")
    births.write_h5ad(tmp_path / "g.h5ad")
    back = ad.read_h5ad(tmp_path / "g.h5ad")
    np.testing.assert_array_equal(back.obs["wf_growth"].to_numpy(), births.obs["wf_growth"].to_numpy())
    np.testing.assert_array_equal(back.uns["wf_growth"]["mass"], births.uns["wf_growth"]["mass"])
    wf.tl.growth(back, "time", use_rep="X")  # its own output: replaced
    back.obs["mine"] = 1.0
    with pytest.raises(ValueError, match="would overwrite"):
        wf.tl.growth(back, "time", use_rep="X", key_added="mine")
    assert (back.obs["mine"] == 1.0).all() and "mine" not in back.uns


def test_bad_input_is_refused_with_the_fix(births):
    with pytest.raises(ValueError, match="pass both"):
        wf.tl.growth(births.copy())
    with pytest.raises(KeyError, match="not a column"):
        wf.tl.growth(births.copy(), "time", use_rep="X", prior="proliferation")
    with pytest.raises(KeyError, match="time column"):
        wf.tl.growth(births.copy(), "day", use_rep="X")
    with pytest.raises(ValueError, match="tau"):
        wf.tl.growth(births.copy(), "time", use_rep="X", tau=(1.0,))


def _growing_cluster(rng, n=600):
    """Two fixed, well separated clusters at times 0 and 2; cluster A doubles against B (shares 1/2 -> 2/3)."""

    def draw(share):
        k = round(share * n)
        return np.concatenate([rng.normal(size=(k, 2)) * 0.3, rng.normal(size=(n - k, 2)) * 0.3 + [6.0, 0.0]])

    return np.concatenate([draw(0.5), draw(2 / 3)]), np.repeat([0.0, 2.0], n)


@pytest.mark.parametrize("s", [0.25, 0.5, 0.75])
def test_transported_cells_divide_on_the_way(s):
    """Static clusters, A doubling against B: with growth, either snapshot's cells of A make up
    2^s / (2^s + 1) at fraction s (the model here is the true, static flow)."""
    from wf_sc.tl._moving import growth_weights, source_cells

    class Static:
        def transport(self, x, t0, t1):
            return x

    X, t = _growing_cluster(np.random.default_rng(0))
    rng = np.random.default_rng(1)

    def weigh(rows, u, t_prev, t_next):
        return growth_weights(Static(), X[rows], u, 2 * s, X[t == t_prev], X[t == t_next], t_prev, t_next, rng)

    rows, from_times = source_cells(t, np.array([0.0, 2.0]), 2 * s, 20000, rng, weigh)
    in_a = X[rows, 0] < 3
    for u in (0.0, 2.0):
        assert in_a[from_times == u].mean() == pytest.approx(2**s / (2**s + 1), abs=0.02)
    rows, from_times = source_cells(t, np.array([0.0, 2.0]), 2 * s, 20000, np.random.default_rng(1))
    assert (X[rows, 0] < 3)[from_times == 0.0].mean() == pytest.approx(0.5, abs=0.02)  # without growth: as observed


def test_growth_weighted_transport_moves_the_weighted_cells(tiny_adata):
    """The benchmark's wf_growth: the model's transport of cells drawn by their growth weights."""
    from conftest import TINY_FIT

    from wf_sc.tl._moving import move_observed

    adata = tiny_adata.copy()
    wf.tl.fit(adata, "time", use_rep="X", **TINY_FIT)
    model = wf.tl.WeightFlow.from_adata(adata)
    X, t = np.asarray(adata.X, dtype=np.float64), adata.obs["time"].to_numpy(float)
    times = np.array([0.0, 1.0, 2.0])
    moved, rows, from_times = move_observed(model, X, t, times, 0.5, 200, np.random.default_rng(3), growth=True)
    plain_rows = move_observed(model, X, t, times, 0.5, 200, np.random.default_rng(3))[1]
    assert not np.array_equal(rows, plain_rows)
    early = from_times == 0.0
    np.testing.assert_allclose(moved[early], model.transport(X[rows[early]], 0.0, 0.5), rtol=1e-5, atol=1e-6)


def test_lineage_weights_remove_division_and_death():
    """Two static clusters whose shares change by growth alone (1/2, 2/3, 4/5): weighted by lineage,
    every snapshot is back to the first one's shares, and each snapshot's weights sum to 1."""
    from wf_sc._core.growth import lineage_weights

    rng = np.random.default_rng(0)
    snapshots = []
    for share in (0.5, 2 / 3, 0.8):
        k = round(share * 500)
        snapshots.append(torch.as_tensor(np.concatenate([rng.normal(size=(k, 2)) * 0.3,
                                                         rng.normal(size=(500 - k, 2)) * 0.3 + [6.0, 0.0]])))
    out = lineage_weights(snapshots, max_cells=400, generator=torch.Generator().manual_seed(0))
    first = float((snapshots[0][out[0][0], 0] < 3).double().mean())  # the drawn 400 cells' share
    for x, (idx, w) in zip(snapshots, out):
        assert len(idx) == 400 and len(set(idx.tolist())) == 400
        assert float(w.sum()) == pytest.approx(1.0)
        assert float(w[x[idx, 0] < 3].sum()) == pytest.approx(first, abs=0.01)
    assert float((snapshots[2][out[2][0], 0] < 3).double().mean()) > first + 0.2  # unweighted: growth shows


def test_rates_at_new_points_extend_the_same_plan():
    """``at=x`` repeats the rates of x; a point far behind the moving cloud dies faster than any cell,
    and one at the later cloud's centre grows."""
    rng = np.random.default_rng(0)
    x, y = torch.as_tensor(rng.normal(size=(300, 2))), torch.as_tensor(rng.normal(size=(300, 2)) + [1.0, 0.0])
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain = growth_rates(x, y, 1.0, generator=gen())
    torch.testing.assert_close(growth_rates(x, y, 1.0, generator=gen(), at=x), plain)
    far = growth_rates(x, y, 1.0, generator=gen(), at=torch.tensor([[-6.0, 0.0], [1.0, 0.0]], dtype=torch.float64))
    assert far[0] < plain.min() and far[1] > 0
    with pytest.raises(ValueError, match="no prior"):
        growth_rates(x, y, 1.0, torch.zeros(300), at=x)


@pytest.fixture(scope="module")
def path_fit(births):
    """A default fit with the growth field learned with the path (Config(growth=True))."""
    births = births.copy()
    wf.tl.fit(births, "time", use_rep="X", progress=False, random_state=0, config=wf.tl.Config(growth=True))
    return births


def test_growth_learned_with_the_path_recovers_birth_and_death(path_fit):
    adata = path_fit.copy()
    wf.tl.growth(adata, method="path")
    g, truth, t = adata.obs["wf_growth"].to_numpy(), adata.obs["true_growth"].to_numpy(), adata.obs["time"].to_numpy()
    assert np.isnan(g[t == 1.5]).all() and np.isfinite(g[t < 1.5]).all()
    for t0 in (0.0, 0.5, 1.0):
        est, true = g[t == t0], truth[t == t0]
        assert np.corrcoef(est, true)[0, 1] > 0.85
        assert _centred_error(est, true) < 0.85 * true.std()  # shrunk like unbalanced OT's rates, below the truth's spread
        assert est.mean() == pytest.approx(0.0, abs=1e-6)  # relative rates: each snapshot's mean rate is 0
    np.testing.assert_allclose(adata.uns["wf_growth"]["mass"], 1.0)
    assert adata.uns["wf_growth"]["params"]["method"] == "path"


def test_path_growth_takes_the_mean_rate_and_the_mass_from_the_prior(path_fit):
    """The prior's bookkeeping, whatever the field: each snapshot's mean rate is the prior's, the mass
    the trapezoid of those means (close to the simulator's true mass), and the cells keep the field's
    differences."""
    adata = path_fit.copy()
    wf.tl.growth(adata, method="path")
    relative = adata.obs["wf_growth"].to_numpy()
    wf.tl.growth(adata, method="path", prior="true_growth")
    t = adata.obs["time"].to_numpy()
    g, prior = adata.obs["wf_growth"].to_numpy(), adata.obs["true_growth"].to_numpy()
    means = [prior[t == t0].mean() for t0 in (0.0, 0.5, 1.0, 1.5)]
    for t0, m in zip((0.0, 0.5, 1.0), means):
        assert g[t == t0].mean() == pytest.approx(m, abs=1e-6)
        np.testing.assert_allclose(g[t == t0] - relative[t == t0], m, atol=1e-6)
    mass = np.cumprod([1.0] + [np.exp(0.25 * (a + b)) for a, b in zip(means[:-1], means[1:])])
    np.testing.assert_allclose(adata.uns["wf_growth"]["mass"], mass, rtol=1e-6)
    np.testing.assert_allclose(adata.uns["wf_growth"]["mass"], adata.uns["simulation"]["mass"], rtol=0.03)


def test_path_growth_is_per_unit_of_real_time(path_fit):
    """Differences of rates between cells are the field's (per normalized time) over the time span."""
    model = wf.tl.WeightFlow.from_adata(path_fit)
    core = model.core
    x = np.array([[0.5, -1.0], [0.5, 1.0]])
    g = model.growth_rate(x, 0.5)
    with torch.no_grad():
        xs = (torch.as_tensor(x, dtype=torch.float32) - core.x_mean) / core.x_scale
        raw = core.growth(xs, core.to_tau(torch.tensor(0.5)).float()).numpy()
    span = float(core.t_range[1] - core.t_range[0])
    assert span == 1.5
    assert (g[1] - g[0]) * span == pytest.approx(float(raw[1] - raw[0]), rel=1e-5)


def test_path_growth_is_a_function_of_state_and_time_and_survives_h5ad(path_fit, tmp_path):
    model = wf.tl.WeightFlow.from_adata(path_fit)
    x = np.array([[0.5, -1.0], [0.5, 0.0], [0.5, 1.0]])
    rates = model.growth_rate(x, 0.5)
    assert rates[0] < rates[1] < rates[2]  # the truth: gamma * tanh(x_2 / 0.5), rising in x_2
    assert np.isfinite(model.growth_rate(x, 0.75)).all()  # between snapshots too
    with pytest.warns(UserWarning, match="outside the fitted range"):
        np.testing.assert_array_equal(model.growth_rate(x, 3.0), 0.0)  # a held population
    path_fit.write_h5ad(tmp_path / "g.h5ad")
    back = wf.tl.WeightFlow.from_adata(ad.read_h5ad(tmp_path / "g.h5ad"))
    np.testing.assert_array_equal(back.growth_rate(x, 0.5), rates)


def test_the_growth_field_leaves_the_fit_unchanged(births):
    """The field is read off the path: the same fit, drift, densities and predictions, bit for bit."""
    from conftest import TINY_FIT

    plain, grown = births.copy(), births.copy()
    wf.tl.fit(plain, "time", use_rep="X", **TINY_FIT)
    config = dataclasses.replace(TINY_FIT["config"], growth=True)
    wf.tl.fit(grown, "time", use_rep="X", **{**TINY_FIT, "config": config})
    np.testing.assert_array_equal(grown.obsm["wf_velocity"], plain.obsm["wf_velocity"])
    np.testing.assert_array_equal(grown.obs["wf_log_density"], plain.obs["wf_log_density"])
    a = wf.tl.interpolate(plain, 0.75, n_cells=100, random_state=1)
    b = wf.tl.interpolate(grown, 0.75, n_cells=100, random_state=1)
    np.testing.assert_array_equal(np.asarray(a.X), np.asarray(b.X))
    assert len(grown.uns["weightflow"]["history"]["stage2"]["growth"]) == config.stage2_steps


def test_growth_with_stage2_early_stopping_and_refused_without_stage2(births):
    from conftest import TINY_FIT

    adata = births.copy()
    config = dataclasses.replace(TINY_FIT["config"], growth=True, stage2_validation=True, stage2_steps=30)
    wf.tl.fit(adata, "time", use_rep="X", **{**TINY_FIT, "config": config})
    history = adata.uns["weightflow"]["history"]["stage2"]
    assert len(history["growth"]) == len(history["total"]) <= 30
    wf.tl.growth(adata, method="path")
    assert np.isfinite(adata.obs["wf_growth"].to_numpy()[adata.obs["time"].to_numpy() < 1.5]).all()
    for change in ({"dynamics": "linear"}, {"stage2_steps": 0}):
        config = dataclasses.replace(TINY_FIT["config"], growth=True, **change)
        with pytest.raises(ValueError, match="learns the growth field in Stage 2"):
            wf.tl.fit(births.copy(), "time", use_rep="X", **{**TINY_FIT, "config": config})


def test_path_growth_needs_a_fit_with_a_growth_field(births):
    from conftest import TINY_FIT

    adata = births.copy()
    with pytest.raises(ValueError, match="pass both"):
        wf.tl.growth(adata, method="path")
    wf.tl.fit(adata, "time", use_rep="X", **TINY_FIT)
    with pytest.raises(ValueError, match="no growth field"):
        wf.tl.growth(adata, method="path")
    with pytest.raises(ValueError, match="fitted without a growth field"):
        wf.tl.WeightFlow.from_adata(adata).growth_rate(np.zeros((2, 2)), 0.5)
    with pytest.raises(ValueError, match="method must be"):
        wf.tl.growth(adata, method="lineage")
    assert "wf_growth" not in adata.obs and "wf_growth" not in adata.uns

"""Reparameterized Knothe-Rosenblatt samples and the minibatch-OT population action, balanced and unbalanced."""

import math

import numpy as np
import ot
import pytest
import torch

from wf_sc._core.backbone import GRUMDN, invert_mixture_cdf, mixture_cdf_pdf
from wf_sc._core.config import CoreConfig
from wf_sc._core.flow import WeightFlowCore
from wf_sc._core.growth_field import growth_split, unbalanced_step, within_time_spread
from wf_sc._core.objectives import Segment, action_populations, macro_points, minibatch_w2, population_ot_action


@pytest.fixture
def backbone_theta():
    backbone = GRUMDN(3, hidden=8, n_components=3)
    theta = backbone.init(torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    return backbone, theta


def test_quantile_inverts_the_conditional_cdfs(backbone_theta):
    backbone, theta = backbone_theta
    u = torch.rand(200, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = backbone.quantile(theta, u, tol=1e-14)
    torch.testing.assert_close(backbone.cdf(theta, x), u, atol=1e-10, rtol=0)


def test_quantile_of_uniforms_follows_the_density(backbone_theta):
    backbone, theta = backbone_theta
    gen = torch.Generator().manual_seed(3)
    u = torch.rand(20_000, 3, generator=gen, dtype=torch.float64)
    x_kr = backbone.quantile(theta, u)
    x_anc = backbone.sample(theta, 20_000, gen)
    # two independent samples of the same density: means and covariances agree to MC error
    torch.testing.assert_close(x_kr.mean(0), x_anc.mean(0), atol=0.05, rtol=0)
    torch.testing.assert_close(torch.cov(x_kr.T), torch.cov(x_anc.T), atol=0.08, rtol=0)


def test_reparameterized_gradient_matches_finite_differences(backbone_theta):
    backbone, theta = backbone_theta
    u = torch.rand(50, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x = backbone.quantile(theta, u, tol=1e-14)
    direction = torch.randn(theta.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    eps = 1e-6
    fd = (backbone.quantile(theta + eps * direction, u, tol=1e-14) - backbone.quantile(theta - eps * direction, u, tol=1e-14)) / (
        2 * eps
    )
    theta_r = theta.clone().requires_grad_()
    x_r = backbone.reparameterize(theta_r, x)
    assert torch.equal(x_r.detach(), x)  # values untouched
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    (grad,) = torch.autograd.grad((x_r * weights).sum(), theta_r)
    assert float(grad @ direction) == pytest.approx(float((fd * weights).sum()), rel=1e-5)


def test_minibatch_w2_of_shifted_and_permuted_clouds():
    x = torch.randn(40, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([0.3, -0.4], dtype=torch.float64)
    # a translated copy: the identity plan is optimal and W2^2 = |shift|^2 = 0.25
    assert float(minibatch_w2(x, x + shift)) == pytest.approx(0.25, rel=1e-9)
    assert float(minibatch_w2(x, x[torch.randperm(40)])) == pytest.approx(0.0, abs=1e-12)
    # the gradient in y of a shifted copy is 2 * (y - x) / n per cell
    y = (x + shift).requires_grad_()
    (grad,) = torch.autograd.grad(minibatch_w2(x, y), y)
    torch.testing.assert_close(grad, (2 * shift / 40).expand(40, 2))


def test_minibatch_w2_of_unequal_clouds_matches_the_full_plan():
    """Clouds of 7 and 5 cells: the optimal plan splits mass, and the value and gradient formed on
    its support equal ``sum_ij P_ij ||x_i - y_j||^2`` over every pair, differentiated at ``P``."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    plan = torch.as_tensor(ot.emd(ot.unif(7), ot.unif(5), cost.detach().numpy()))
    assert (plan > 0).sum() > 7  # some cell's mass is split
    full = (plan * cost).sum()
    value = minibatch_w2(x, y)
    assert float(value.detach()) == pytest.approx(float(full.detach()), rel=1e-12)
    for got, want in zip(torch.autograd.grad(value, (x, y)), torch.autograd.grad(full, (x, y))):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-15)


def _segment(core, k, targets):
    grid, states, index = core.integrate_from(k, core.tau[targets])
    return Segment(k, targets, grid, states, index)


def _core(steps=4):
    # bridge=False: these tests score the states they are given (the bridge is tested in test_graph_path_dynamics)
    core = WeightFlowCore(CoreConfig(dim=2, n_times=3, hidden=4, n_components=2, width=8, steps=steps, bridge=False))
    core.double()
    gen = torch.Generator().manual_seed(0)
    anchors = torch.stack([core.backbone.init(gen, dtype=torch.float64) for _ in range(3)])
    core.set_anchors(anchors)
    core.init_affine()
    return core


def test_macro_points_split_every_interval_in_halves():
    core = _core(steps=4)
    seg = _segment(core, 0, [1, 2])
    assert len(seg.grid) == 9
    assert macro_points(seg) == [0, 2, 4, 6, 8]
    seg = _segment(_core(steps=1), 0, [1, 2])
    assert macro_points(seg) == [0, 1, 2]


def test_macro_points_at_every_sub_step_or_only_the_anchors():
    seg = _segment(_core(steps=4), 0, [1, 2])
    assert macro_points(seg, 4) == list(range(9))
    assert macro_points(seg, 1) == [0, 4, 8]


def test_ot_action_is_zero_on_a_constant_path_and_positive_otherwise():
    core = _core()
    seg = _segment(core, 0, [1, 2])
    gen = torch.Generator().manual_seed(1)
    moving = population_ot_action(core, seg, 64, gen)
    assert float(moving.detach()) > 0
    (grad,) = torch.autograd.grad(moving, core.field.affine)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    still = seg.states[:1].expand_as(seg.states)
    frozen = Segment(seg.start, seg.targets, seg.grid, still, seg.index)
    # common random numbers: identical populations give exactly the same cells, cost 0
    assert float(population_ot_action(core, frozen, 64, gen).detach()) == pytest.approx(0.0, abs=1e-12)


def test_grid_has_no_near_duplicate_knots_in_float32():
    """a + (b - a) * steps / steps can miss b by one ulp; the grid must still hold each knot once."""
    from wf_sc._core.dynamics import interval_grid

    tau = (torch.tensor([0.0, 1.0, 3.0, 7.0]) - 0) / 7.0
    for k in range(3):
        for h in range(1, 4 - k):
            knots = tau[k : k + h + 1]
            grid = interval_grid(knots, 4)
            assert len(grid) == 4 * h + 1
            assert (grid[1:] - grid[:-1]).min() > 1e-3
            assert torch.equal(grid[::4], knots)


def test_minibatch_w2_of_identical_float32_clouds_is_exactly_zero():
    x = torch.randn(128, 10, generator=torch.Generator().manual_seed(0)) * 30
    assert float(minibatch_w2(x, x.clone())) == 0.0


def _bisect_mixture(log_pi, mu, log_sigma, u, iters=200):
    """Reference root of F(x) = u by plain bisection on a wide bracket (float64)."""
    lo = torch.full_like(u, -1e3)
    hi = torch.full_like(u, 1e3)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        below = mixture_cdf_pdf(log_pi, mu, log_sigma, mid)[0] < u
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


def test_newton_inversion_matches_bisection_on_hard_mixtures():
    """Well separated, very narrow and very wide components, levels in the far tails."""
    gen = torch.Generator().manual_seed(7)
    n, K = 4000, 5
    mu = torch.randn(n, K, generator=gen, dtype=torch.float64) * 10
    log_sigma = torch.rand(n, K, generator=gen, dtype=torch.float64) * 7 - 5  # sigma from e^-5 to e^2
    log_pi = torch.log_softmax(torch.randn(n, K, generator=gen, dtype=torch.float64) * 3, -1)
    u = torch.rand(n, generator=gen, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    u[:10] = 1e-6
    u[10:20] = 1 - 1e-6
    x = invert_mixture_cdf(log_pi, mu, log_sigma, u, max_iter=100, tol=1e-14)
    ref = _bisect_mixture(log_pi, mu, log_sigma, u)
    torch.testing.assert_close(mixture_cdf_pdf(log_pi, mu, log_sigma, x)[0], u, atol=1e-12, rtol=0)
    torch.testing.assert_close(x, ref, atol=1e-8, rtol=1e-8)


def test_newton_inversion_at_the_default_tolerance_is_float32_exact():
    """In float32 the default tolerance puts F(x) within float rounding of u."""
    gen = torch.Generator().manual_seed(8)
    n, K = 4000, 5
    mu = torch.randn(n, K, generator=gen) * 3
    log_sigma = torch.rand(n, K, generator=gen) * 4 - 3
    log_pi = torch.log_softmax(torch.randn(n, K, generator=gen), -1)
    u = torch.rand(n, generator=gen).clamp(1e-6, 1 - 1e-6)
    x = invert_mixture_cdf(log_pi, mu, log_sigma, u)
    ref = _bisect_mixture(log_pi.double(), mu.double(), log_sigma.double(), u.double())
    # float32 resolves F(x) = u to its rounding; x itself only where the density is not tiny
    cdf = mixture_cdf_pdf(log_pi.double(), mu.double(), log_sigma.double(), x.double())[0]
    torch.testing.assert_close(cdf, u.double(), atol=2e-6, rtol=0)  # float32 sums of K erf terms
    torch.testing.assert_close(x.double(), ref, atol=1e-3, rtol=1e-4)


def _growth_core(steps=4):
    """:func:`_core` with a growth field (same anchors and field)."""
    core = WeightFlowCore(
        CoreConfig(dim=2, n_times=3, hidden=4, n_components=2, width=8, steps=steps, bridge=False, growth=True)
    )
    core.double().load_state_dict({**_core(steps).state_dict(), **{f"growth.{k}": v for k, v in core.growth.state_dict().items()}})
    return core


def test_unbalanced_step_of_two_points_has_its_closed_form():
    """Cells at 0 and 1 with rates +c and -c: the grown masses (p, 1 - p) move p - 1/2 by a distance 1."""
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    c, dtau, dtau_motion, spread2 = 0.7, torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.3), torch.tensor(1.5)
    g = torch.tensor([c, -c], dtype=torch.float64, requires_grad=True)
    p = math.exp(c * 0.2) / (math.exp(c * 0.2) + math.exp(-c * 0.2))
    value = unbalanced_step(x, x.clone(), g, dtau, dtau_motion, spread2)
    assert float(value.detach()) == pytest.approx((p - 0.5) / 0.3 + 1.5 * 0.2 * c**2, rel=1e-6)
    (grad,) = torch.autograd.grad(value, g)
    assert float(grad[0]) > 0  # more growth at 0 means more mass to move, and more variance


def test_zero_growth_split_is_the_balanced_action_of_the_same_populations():
    core = _growth_core()
    torch.nn.init.zeros_(core.growth.net[-1].weight)
    seg = _segment(core, 0, [1, 2])
    pops = action_populations(core, seg, 64, torch.Generator().manual_seed(1))
    balanced = population_ot_action(core, seg, 64, None, populations=pops)
    assert float(growth_split(core.growth, pops).detach()) == pytest.approx(float(balanced.detach()), rel=1e-12)
    # drawing the populations inside gives the same action
    again = population_ot_action(core, seg, 64, torch.Generator().manual_seed(1))
    assert float(again.detach()) == float(balanced.detach())


def test_the_growth_split_trains_the_growth_field_only():
    """Near-zero, not zero, rates at the start: the masses are generic, so the transport's dual
    potentials, and with them the gradient, are unique and reach every layer of the growth field;
    the path's cells are detached, so nothing reaches the vector field."""
    core = _growth_core()
    seg = _segment(core, 0, [1, 2])
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert 0 < float(core.growth(x, torch.tensor(0.3)).detach().abs().max()) < 0.05
    split = growth_split(core.growth, action_populations(core, seg, 64, torch.Generator().manual_seed(1)))
    grads = torch.autograd.grad(split, list(core.growth.parameters()), retain_graph=True)
    assert all(float(g.abs().sum()) > 0 for g in grads)
    (field_grad,) = torch.autograd.grad(split, core.field.affine, allow_unused=True)
    assert field_grad is None


def test_within_time_spread_is_the_mean_squared_distance_to_each_snapshots_mean():
    a = torch.tensor([[0.0, 0.0], [2.0, 0.0]])  # E|x - mean|^2 = 1
    b = torch.tensor([[0.0, 0.0], [0.0, 4.0], [0.0, 8.0]])  # (16 + 0 + 16) / 3
    assert within_time_spread([a, b]) == pytest.approx((1.0 + 32 / 3) / 2)


def _populations(cells, clock):
    from wf_sc._core.objectives import Populations

    return Populations(cells, clock, clock)


def test_acceleration_is_zero_on_a_straight_constant_speed_path_and_exact_at_a_kink():
    from types import SimpleNamespace

    from wf_sc._core.objectives import population_acceleration

    core = SimpleNamespace(tau=torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64),
                           config=SimpleNamespace(dim=3))  # mean interval 1/3
    cloud = torch.randn(40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    b = torch.tensor([-0.2, 0.4, 0.1], dtype=torch.float64)
    clock = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    # the cloud translated at constant speed: no change of velocity
    straight = torch.stack([cloud, cloud + a, cloud + 2 * a])
    assert float(population_acceleration(core, _populations(straight, clock))) == pytest.approx(0.0, abs=1e-20)
    # a kink at the middle population: velocity 2a then 2b, the change |2b - 2a|^2 over a step of 0.5
    kinked = torch.stack([cloud, cloud + a, cloud + a + b])
    expected = (1 / 3) ** 2 / 3 * float(((2 * b - 2 * a) ** 2).sum()) / 0.5
    assert float(population_acceleration(core, _populations(kinked, clock))) == pytest.approx(expected, rel=1e-12)
    # the cells of each population in another order: the optimal assignments find the same paths
    shuffled = kinked.clone()
    shuffled[1] = kinked[1][torch.randperm(40, generator=torch.Generator().manual_seed(1))]
    assert float(population_acceleration(core, _populations(shuffled, clock))) == pytest.approx(expected, rel=1e-12)
    # two populations have no change of velocity to measure
    assert float(population_acceleration(core, _populations(kinked[:2], clock[:2]))) == 0.0


def test_optimal_assignment_is_the_cheapest_permutation_and_refuses_non_finite_costs():
    from itertools import permutations

    from wf_sc._core.objectives import optimal_assignment

    cost = np.random.default_rng(0).random((5, 5))
    best = min(permutations(range(5)), key=lambda p: sum(cost[i, j] for i, j in enumerate(p)))
    assert optimal_assignment(cost).tolist() == list(best)
    cost[1, 2] = np.nan  # POT would still return a permutation, silently
    with pytest.raises(ValueError, match="not all finite"):
        optimal_assignment(cost)
    with pytest.raises(ValueError, match="square"):
        optimal_assignment(np.ones((3, 4)))


def test_both_actions_share_one_plan_per_pair_and_non_finite_cells_are_refused():
    """The first- and second-order actions solve each consecutive pair's OT problem once (the plan is
    kept on the populations); the assignment the second uses is that plan's permutation, and cells
    that are not finite are refused before any plan is read."""
    from types import SimpleNamespace

    from wf_sc._core.objectives import optimal_assignment, population_acceleration, squared_distances

    core = SimpleNamespace(tau=torch.tensor([0.0, 1.0]), config=SimpleNamespace(dim=2))
    gen = torch.Generator().manual_seed(4)
    cells = torch.randn(3, 30, 2, generator=gen, dtype=torch.float64)
    clock = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    pops = _populations(cells, clock)
    population_ot_action(core, None, 30, gen, populations=pops)
    assert sorted(pops.plans) == [0, 1]
    kept = {m: pops.plans[m] for m in pops.plans}
    population_acceleration(core, pops)
    assert all(pops.plans[m] is kept[m] for m in kept)  # reused, not solved again
    for m in (0, 1):
        assert pops.plans[m].argmax(1).tolist() == optimal_assignment(squared_distances(cells[m], cells[m + 1])).tolist()
    bad = cells.clone()
    bad[2, 5, 1] = float("nan")
    with pytest.raises(ValueError, match="not all finite"):
        population_acceleration(core, _populations(bad, clock))

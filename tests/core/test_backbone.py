"""GRU mixture-density backbone: exact density, CDF, sampling, flat weights."""

import math

import numpy as np
import pytest
import torch

from wf_sc._core.backbone import GRUMDN


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_flat_layout_round_trip(gen):
    bb = GRUMDN(dim=4, hidden=6, n_components=3)
    theta = bb.init(gen)
    assert theta.shape == (bb.n_params,)
    # input map (1 + d + bias) x 3H, recurrent (H + 1) x 3H, head (H + 1) x 3K
    assert bb.n_params == 18 * 6 + 18 * 7 + 9 * 7
    mats = bb.unflatten(theta)
    assert [tuple(m.shape) for m in mats] == [(18, 6), (18, 7), (9, 7)]
    assert torch.equal(torch.cat([m.reshape(-1) for m in mats]), theta)


def test_density_integrates_to_one_1d(gen):
    bb = GRUMDN(dim=1, hidden=8, n_components=3)
    theta = bb.init(gen, dtype=torch.float64) * 4
    x = torch.linspace(-40, 40, 400001, dtype=torch.float64)[:, None]
    mass = torch.trapezoid(bb.log_prob(theta, x).exp(), x[:, 0])
    assert mass.item() == pytest.approx(1.0, abs=1e-6)


def test_density_integrates_to_one_2d(gen):
    bb = GRUMDN(dim=2, hidden=8, n_components=3)
    theta = bb.init(gen, dtype=torch.float64) * 3
    g = torch.linspace(-25, 25, 1201, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    p = bb.log_prob(theta, torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)).exp().reshape(xx.shape)
    mass = torch.trapezoid(torch.trapezoid(p, g, dim=1), g)
    assert mass.item() == pytest.approx(1.0, abs=1e-4)


def test_log_prob_matches_hand_computed_mixture(gen):
    """Recompute the first conditional's mixture from the head by hand."""
    bb = GRUMDN(dim=1, hidden=5, n_components=2)
    theta = bb.init(gen, dtype=torch.float64) * 2
    W_in, W_rec, W_head = bb.unflatten(theta)
    H, K = 5, 2
    gi = W_in[:, 1] + W_in[:, -1]  # x_prev = 0, one-hot e_0
    gh = W_rec[:, -1]  # h_0 = 0
    r = torch.sigmoid(gi[:H] + gh[:H])
    z = torch.sigmoid(gi[H : 2 * H] + gh[H : 2 * H])
    n = torch.tanh(gi[2 * H :] + r * gh[2 * H :])
    h = (1 - z) * n
    out = W_head[:, :-1] @ h + W_head[:, -1]
    pi = torch.softmax(out[:K], 0)
    mu = out[K : 2 * K]
    sigma = torch.exp(-1.0 + 3.0 * torch.tanh(out[2 * K :] / 3.0))
    x = torch.tensor([[0.3]], dtype=torch.float64)
    dens = (pi * torch.exp(-0.5 * ((0.3 - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))).sum()
    assert bb.log_prob(theta, x).item() == pytest.approx(math.log(dens.item()), rel=1e-10)


def test_cdf_is_the_integral_of_the_conditional_density(gen):
    bb = GRUMDN(dim=2, hidden=6, n_components=3)
    theta = bb.init(gen, dtype=torch.float64) * 3
    x0 = 0.7
    grid = torch.linspace(-30, 1.2, 200001, dtype=torch.float64)
    x = torch.stack([torch.full_like(grid, x0), grid], 1)
    # p(x2 | x1) = p(x1, x2) / p(x1)
    p1 = GRUMDN.log_prob(bb, theta, x).exp() / torch.exp(
        torch.logsumexp(bb.conditionals(theta, x[:1])[0][0, 0]
                        + (-0.5 * ((x0 - bb.conditionals(theta, x[:1])[1][0, 0]) / bb.conditionals(theta, x[:1])[2][0, 0].exp()) ** 2
                           - bb.conditionals(theta, x[:1])[2][0, 0] - 0.5 * math.log(2 * math.pi)), 0)
    )
    integral = torch.trapezoid(p1, grid)
    u = bb.cdf(theta, x[-1:])
    assert u[0, 1].item() == pytest.approx(integral.item(), abs=1e-6)
    assert ((u >= 0) & (u <= 1)).all()


def test_samples_follow_the_density(gen):
    """Sample moments agree with moments computed by quadrature of the exact density."""
    bb = GRUMDN(dim=1, hidden=8, n_components=3)
    theta = bb.init(gen, dtype=torch.float64) * 3
    xs = bb.sample(theta, 200000, gen)
    grid = torch.linspace(-40, 40, 400001, dtype=torch.float64)
    p = bb.log_prob(theta, grid[:, None]).exp()
    mean = torch.trapezoid(p * grid, grid)
    var = torch.trapezoid(p * (grid - mean) ** 2, grid)
    assert xs.mean().item() == pytest.approx(mean.item(), abs=4 * math.sqrt(var.item() / 200000))
    assert xs.var().item() == pytest.approx(var.item(), rel=0.02)
    # the CDF pushes samples to uniform
    u = bb.cdf(theta, xs[:20000])[:, 0].numpy()
    assert np.abs(np.sort(u) - np.linspace(0, 1, 20000)).max() < 0.015


def test_sampling_is_reproducible():
    bb = GRUMDN(dim=3, hidden=4, n_components=2)
    theta = bb.init(torch.Generator().manual_seed(1))
    a = bb.sample(theta, 50, torch.Generator().manual_seed(5))
    b = bb.sample(theta, 50, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_a_stack_of_weight_vectors_gives_each_vectors_own_result(gen):
    """``(M, P)`` weights with ``(M, n, d)`` or shared ``(n, d)`` cells: M single evaluations in one pass."""
    bb = GRUMDN(dim=5, hidden=7, n_components=3)
    theta = torch.stack([bb.init(gen, dtype=torch.float64) * s for s in (1.0, 2.0, 3.0)])
    x = torch.randn(3, 40, 5, generator=gen, dtype=torch.float64)
    u = torch.rand(40, 5, generator=gen, dtype=torch.float64)
    log_p, cdf, q = bb.log_prob(theta, x), bb.cdf(theta, x), bb.quantile(theta, u)
    r = bb.reparameterize(theta, q)
    assert log_p.shape == (3, 40) and cdf.shape == q.shape == r.shape == (3, 40, 5)
    for m in range(3):
        torch.testing.assert_close(log_p[m], bb.log_prob(theta[m], x[m]))
        torch.testing.assert_close(cdf[m], bb.cdf(theta[m], x[m]))
        torch.testing.assert_close(q[m], bb.quantile(theta[m], u))
        torch.testing.assert_close(r[m], bb.reparameterize(theta[m], q[m]))
    # the gradient of the stacked likelihood reaches each vector as if evaluated alone
    theta.requires_grad_(True)
    (grad,) = torch.autograd.grad(bb.log_prob(theta, x).sum(), theta)
    for m in range(3):
        (alone,) = torch.autograd.grad(bb.log_prob(theta[m], x[m]).sum(), theta)
        torch.testing.assert_close(grad[m], alone[m])


def test_one_pass_reparameterized_quantile_equals_the_two_passes(gen):
    """``quantile_reparameterized`` gives bit for bit the cells and gradient of ``reparameterize(quantile)``."""
    bb = GRUMDN(dim=6, hidden=8, n_components=3)
    theta = torch.stack([bb.init(gen) * s for s in (1.0, 2.5)])
    u = torch.rand(64, 6, generator=gen)
    u[0, 0], u[1, 2] = 0.0, 1.0  # clipped levels go through both paths alike
    weights = torch.randn(2, 64, 6, generator=gen)
    two = theta.clone().requires_grad_(True)
    x_two = bb.reparameterize(two, bb.quantile(two.detach(), u))
    (g_two,) = torch.autograd.grad((x_two * weights).sum(), two)
    one = theta.clone().requires_grad_(True)
    x_one = bb.quantile_reparameterized(one, u)
    (g_one,) = torch.autograd.grad((x_one * weights).sum(), one)
    assert torch.equal(x_one, x_two)
    assert torch.equal(g_one, g_two)
    assert g_one.abs().sum() > 0

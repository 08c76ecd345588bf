"""Transport drift: recomputed independently by finite differences of the inverse triangular map."""

import pytest
import torch

from wf_sc._core.backbone import GRUMDN
from wf_sc._core.drift import transport_drift


def _inverse_cdf(bb, theta, u, lo=-60.0, hi=60.0, iters=80):
    """Solve F_theta(x) = u coordinate by coordinate by bisection (independent of the drift code)."""
    n, d = u.shape
    x = torch.zeros(n, d, dtype=u.dtype)
    for j in range(d):
        a, b = torch.full((n,), lo, dtype=u.dtype), torch.full((n,), hi, dtype=u.dtype)
        for _ in range(iters):
            mid = (a + b) / 2
            trial = x.clone()
            trial[:, j] = mid
            below = bb.cdf(theta, trial)[:, j] < u[:, j]
            a, b = torch.where(below, mid, a), torch.where(below, b, mid)
        x[:, j] = (a + b) / 2
    return x


@pytest.mark.parametrize("dim", [1, 3])
def test_drift_equals_finite_difference_of_the_transport(dim):
    gen = torch.Generator().manual_seed(dim)
    bb = GRUMDN(dim=dim, hidden=6, n_components=3)
    theta = bb.init(gen, dtype=torch.float64) * 3
    theta_dot = torch.randn(bb.n_params, generator=gen, dtype=torch.float64)
    x = bb.sample(theta, 6, gen)
    u = bb.cdf(theta, x)
    h = 1e-5
    fd = (_inverse_cdf(bb, theta + h * theta_dot, u) - _inverse_cdf(bb, theta - h * theta_dot, u)) / (2 * h)
    v = transport_drift(bb, theta, theta_dot, x)
    assert torch.allclose(v, fd, atol=1e-6, rtol=1e-5)


def test_drift_is_linear_in_theta_dot_and_zero_when_still():
    gen = torch.Generator().manual_seed(0)
    bb = GRUMDN(dim=2, hidden=4, n_components=2)
    theta = bb.init(gen, dtype=torch.float64)
    a, b = torch.randn(2, bb.n_params, generator=gen, dtype=torch.float64)
    x = bb.sample(theta, 10, gen)
    va, vb = transport_drift(bb, theta, a, x), transport_drift(bb, theta, b, x)
    assert torch.allclose(transport_drift(bb, theta, 2 * a - b, x), 2 * va - vb, atol=1e-10)
    assert torch.allclose(transport_drift(bb, theta, torch.zeros_like(a), x), torch.zeros(10, 2, dtype=torch.float64))


def test_drift_is_differentiable_in_theta_dot():
    gen = torch.Generator().manual_seed(0)
    bb = GRUMDN(dim=2, hidden=4, n_components=2)
    theta = bb.init(gen)
    theta_dot = torch.randn(bb.n_params, generator=gen, requires_grad=True)
    x = bb.sample(theta, 8, gen)
    (transport_drift(bb, theta, theta_dot, x) ** 2).sum().backward()
    assert theta_dot.grad is not None and torch.isfinite(theta_dot.grad).all() and theta_dot.grad.abs().sum() > 0


def test_drift_pass_also_gives_the_exact_log_density():
    """``with_log_prob`` reads ``log p(x)`` off the drift's pass: the backbone's log-density, the same drift,
    finite far in the tails (where the mixture's density underflows) and without tangents."""
    gen = torch.Generator().manual_seed(1)
    bb = GRUMDN(dim=4, hidden=8, n_components=3)
    theta = bb.init(gen, dtype=torch.float64)
    theta_dot = torch.randn(bb.n_params, generator=gen, dtype=torch.float64)
    x = torch.cat([bb.sample(theta, 20, gen), torch.full((1, 4), 60.0, dtype=torch.float64)])
    v, log_p = transport_drift(bb, theta, theta_dot, x, with_log_prob=True)
    assert torch.equal(v, transport_drift(bb, theta, theta_dot, x))
    assert torch.allclose(log_p, bb.log_prob(theta, x), rtol=1e-12, atol=1e-10)
    assert torch.isfinite(log_p).all() and log_p[-1] < -100


def test_written_out_tangents_equal_forward_mode():
    """The drift's tangents of the mixture parameters and of the conditional CDF, written out, equal
    forward-mode differentiation of the backbone's own head and CDF (cells far in the tails too)."""
    import torch.autograd.forward_ad as fwAD

    from wf_sc._core.backbone import mixture_cdf_pdf
    from wf_sc._core.drift import mixture_cdf_tangent

    gen = torch.Generator().manual_seed(2)
    bb = GRUMDN(dim=3, hidden=4, n_components=4)
    out, out_dot = 2 * torch.randn(2, 50, 12, generator=gen, dtype=torch.float64)
    tails = torch.tensor([-40.0, -12.0, -7.0, 7.0, 12.0, 40.0], dtype=torch.float64)
    x = torch.cat([3 * torch.randn(44, generator=gen, dtype=torch.float64), tails])
    with fwAD.dual_level():
        dual = bb._mixture(fwAD.make_dual(out, out_dot))
        cdf, pdf = mixture_cdf_pdf(*dual, x)
        expected = [fwAD.unpack_dual(p).tangent for p in dual]
        cdf_dot, pdf_value = fwAD.unpack_dual(cdf).tangent, fwAD.unpack_dual(pdf).primal
    params = bb._mixture(out)
    tangents = bb._mixture_tangent(out, out_dot, params[0])
    for got, want in zip(tangents, expected):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    got_dot, got_pdf = mixture_cdf_tangent(*params, *tangents, x)
    assert torch.allclose(got_dot, cdf_dot, rtol=1e-10, atol=1e-14)
    assert torch.allclose(got_pdf, pdf_value, rtol=1e-12, atol=1e-300)
    # far in the tails the CDF does not move; in float32 too, where Phi rounds to 1 in the upper tail
    assert got_dot[[-6, -1]].abs().max() < 1e-12
    single = [p.float() for p in (*params, *tangents)]
    assert mixture_cdf_tangent(*single, x.float())[0][[-6, -1]].abs().max() < 1e-12


def test_drift_gradient_in_theta_and_theta_dot_is_exact():
    """The population action differentiates the drift in both arguments: its gradient equals finite differences."""
    gen = torch.Generator().manual_seed(3)
    bb = GRUMDN(dim=2, hidden=3, n_components=2)
    theta = bb.init(gen, dtype=torch.float64).requires_grad_(True)
    theta_dot = torch.randn(bb.n_params, generator=gen, dtype=torch.float64, requires_grad=True)
    x = bb.sample(theta.detach(), 4, gen)
    assert torch.autograd.gradcheck(lambda a, b: transport_drift(bb, a, b, x), (theta, theta_dot))

"""Knothe-Rosenblatt transport of cells between two weight vectors."""

import torch

from wf_sc._core.backbone import GRUMDN
from wf_sc._core.drift import transport_drift
from wf_sc._core.transport import kr_transport


def _model(dim=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    bb = GRUMDN(dim=dim, hidden=6, n_components=3)
    theta = bb.init(gen, dtype=torch.float64) * 3
    other = theta + 0.3 * torch.randn(bb.n_params, generator=gen, dtype=torch.float64)
    return bb, theta, other, gen


def test_transport_to_the_same_weights_is_the_identity():
    bb, theta, _, gen = _model()
    x = bb.sample(theta, 50, gen)
    assert torch.allclose(kr_transport(bb, theta, theta, x), x, atol=1e-8)


def test_transport_maps_quantiles_to_quantiles_and_inverts():
    """Cells with conditional quantiles u under theta land on the cells with quantiles u under the
    other weights (the defining property), and transporting back returns them."""
    bb, theta, other, gen = _model(seed=1)
    u = torch.rand(40, 3, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    x, y = bb.quantile(theta, u), bb.quantile(other, u)
    moved = kr_transport(bb, theta, other, x)
    assert torch.allclose(moved, y, atol=1e-7)
    assert torch.allclose(kr_transport(bb, other, theta, moved), x, atol=1e-7)


def test_a_small_transport_step_is_the_drift():
    """(T_{theta -> theta + h theta_dot}(x) - x) / h -> the transport drift as h -> 0."""
    bb, theta, other, gen = _model(seed=2)
    theta_dot = other - theta
    x = bb.sample(theta, 20, gen)
    h = 1e-4
    fd = (kr_transport(bb, theta, theta + h * theta_dot, x) - kr_transport(bb, theta, theta - h * theta_dot, x)) / (2 * h)
    assert torch.allclose(fd, transport_drift(bb, theta, theta_dot, x), atol=1e-5, rtol=1e-4)

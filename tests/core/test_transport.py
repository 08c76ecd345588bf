"""Knothe-Rosenblatt transport of cells between two weight vectors."""

import numpy as np
import pytest
import torch

from wf_sc._core.backbone import GRUMDN
from wf_sc._core.drift import transport_drift
from wf_sc._core.transport import departure, kr_transport, neighbour_mean, pin_to_observed


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


def test_pinning_starts_at_the_cell_ends_at_the_partner_and_keeps_the_curvature():
    x = np.array([[0.0, 0.0], [1.0, 2.0]])
    e = x + [4.0, 0.0]  # the model moves both cells 4 to the right by t_1 ...
    y = x + [1.0, 1.0]  # ... via a detour up at t (u = 1/4)
    z = np.array([[5.0, 1.0], [4.0, 2.0]])  # the observed partners at t_1
    c = departure(x, y, e, 0.25)
    np.testing.assert_allclose(c, [[0.0, 1.0], [0.0, 1.0]])  # 1 to the right is on the straight line
    # u = 0 and u = 1: no departure, the path starts at x and ends at z
    np.testing.assert_allclose(pin_to_observed(x, z, departure(x, x, e, 0.0), 0.0), x)
    np.testing.assert_allclose(pin_to_observed(x, z, departure(x, e, e, 1.0), 1.0), z)
    # the straight line x -> z at u = 1/4 plus the departure, = the moved cell minus 1/4 of its miss
    np.testing.assert_allclose(pin_to_observed(x, z, c, 0.25), [[1.25, 1.25], [1.75, 3.0]])
    np.testing.assert_allclose(pin_to_observed(x, z, c, 0.25), y + 0.25 * (z - e))
    with pytest.raises(ValueError, match="fraction travelled"):
        pin_to_observed(x, z, c, 1.5)
    with pytest.raises(ValueError, match="fraction travelled"):
        departure(x, y, e, -0.1)


def test_neighbour_mean_by_hand():
    x = np.array([[0.0], [1.0], [10.0], [12.0]])
    c = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 2.0], [7.0, 4.0]])
    np.testing.assert_array_equal(neighbour_mean(x, c, 1), c)
    # nearest other: 0 <-> 1, 10 <-> 12
    np.testing.assert_allclose(neighbour_mean(x, c, 2), [[2.0, 0.0], [2.0, 0.0], [6.0, 3.0], [6.0, 3.0]])
    # 0: {0, 1, 10}; 1: {1, 0, 10}; 10: {10, 12, 1}; 12: {12, 10, 1}
    np.testing.assert_allclose(
        neighbour_mean(x, c, 3), [[3.0, 2 / 3], [3.0, 2 / 3], [5.0, 2.0], [5.0, 2.0]]
    )
    np.testing.assert_allclose(neighbour_mean(x, c, 4), np.tile(c.mean(0), (4, 1)))
    np.testing.assert_allclose(neighbour_mean(x, c, 50), np.tile(c.mean(0), (4, 1)))
    # chunks give the same answer; a duplicated point still counts itself first
    np.testing.assert_allclose(neighbour_mean(x, c, 2, chunk=1), neighbour_mean(x, c, 2))
    dup = np.array([[0.0], [0.0], [5.0]])
    np.testing.assert_allclose(neighbour_mean(dup, np.array([[1.0], [2.0], [9.0]]), 1), [[1.0], [2.0], [9.0]])
    with pytest.raises(ValueError, match="at least 1"):
        neighbour_mean(x, c, 0)
    with pytest.raises(ValueError, match="4 points but 3 values"):
        neighbour_mean(x, c[:3], 2)


def test_neighbour_mean_keeps_a_smooth_field_and_removes_cell_noise():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(2000, 2))
    field = np.stack([np.sin(x[:, 0]), x[:, 1] ** 2], axis=1)  # a slowly varying bend
    noisy = field + rng.normal(scale=0.5, size=field.shape)  # plus per-cell noise
    smooth = neighbour_mean(x, noisy, 16)
    assert np.abs(smooth - field).mean() < 0.35 * np.abs(noisy - field).mean()

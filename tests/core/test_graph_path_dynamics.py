"""Weight graph, control path and CDE integration."""

import pytest
import torch

from wf_sc._core.backbone import GRUMDN
from wf_sc._core.control_path import anchor_codes, anchor_scale, build_path
from wf_sc._core.dynamics import anchor_grid, integrate, interval_grid, kinetic_energy
from wf_sc._core.config import CoreConfig
from wf_sc._core.flow import WeightFlowCore
from wf_sc._core.weight_graph import build_weight_graph


def test_every_weight_belongs_to_exactly_one_neuron():
    bb = GRUMDN(dim=3, hidden=5, n_components=2)
    g = build_weight_graph(bb)
    assert torch.equal(torch.sort(g.permutation).values, torch.arange(bb.n_params))
    assert g.weight_index["unit"].shape == (5, 3 * (3 + 2) + 3 * (5 + 1))
    assert g.weight_index["component"].shape == (2, 3 * (5 + 1))
    # unit k owns row k of the r gate of the input map: weights [0 .. d+1] of that row
    row = 2 * (3 + 2)
    assert g.weight_index["unit"][2, : 3 + 2].tolist() == list(range(row, row + 5))


def test_graph_edges():
    bb = GRUMDN(dim=2, hidden=4, n_components=3)
    conn = build_weight_graph(bb, "connectivity").edge_index
    comp = build_weight_graph(bb, "complete").edge_index
    n = 4 + 3
    assert comp.shape[1] == n * (n - 1)
    # connectivity: unit<->unit (12 ordered pairs) and unit<->component (2 * 12); no component<->component
    assert conn.shape[1] == 4 * 3 + 2 * 4 * 3
    assert not ((conn[0] >= 4) & (conn[1] >= 4)).any()
    assert not (conn[0] == conn[1]).any()
    with pytest.raises(ValueError, match="unknown graph"):
        build_weight_graph(bb, "star")


def test_spline_passes_through_anchor_codes():
    gen = torch.Generator().manual_seed(0)
    anchors = torch.randn(4, 30, generator=gen)
    center, scale = anchor_scale(anchors)
    codes = anchor_codes(anchors, center, scale, 2)
    assert codes.shape == (4, 2)
    assert torch.allclose(codes.max(0).values - codes.min(0).values, torch.ones(2))
    tau = torch.tensor([0.0, 0.1, 0.6, 1.0])
    path = build_path(tau, codes)
    assert torch.allclose(path.evaluate(tau), torch.cat([tau[:, None], codes], 1), atol=1e-6)


def test_interval_grid():
    grid = interval_grid(torch.tensor([0.0, 0.2, 1.0]), 4)
    assert torch.allclose(grid, torch.tensor([0.0, 0.05, 0.1, 0.15, 0.2, 0.4, 0.6, 0.8, 1.0]))
    back = interval_grid(torch.tensor([0.5, 0.0]), 2)
    assert back.tolist() == [0.5, 0.25, 0.0]
    # sub-steps finer than float32 resolves are kept once: the solver needs a strictly monotone grid
    short = interval_grid(torch.tensor([0.5, 0.5 + 1e-6, 1.0]), 1000)
    assert bool((short[1:] > short[:-1]).all()) and short[0] == 0.5 and short[-1] == 1.0


def test_anchor_grid_is_the_anchor_intervals_grid_cut_at_the_end():
    tau = torch.tensor([0.0, 0.2, 1.0], dtype=torch.float64)
    # inside the second interval: that interval's sub-steps up to the end, never the end itself
    assert anchor_grid(tau, 1, torch.tensor(0.7, dtype=torch.float64), 4).tolist() == pytest.approx([0.2, 0.4, 0.6])
    # from the first anchor across the second: both intervals' sub-steps
    assert anchor_grid(tau, 0, tau[2], 4).tolist() == pytest.approx([0, 0.05, 0.1, 0.15, 0.2, 0.4, 0.6, 0.8, 1.0])
    # past the last anchor, the last interval's sub-step (0.2) continues
    assert anchor_grid(tau, 2, torch.tensor(1.5, dtype=torch.float64), 4).tolist() == pytest.approx([1.0, 1.2, 1.4])
    # before the first anchor, backward with the first interval's sub-step (0.05)
    assert anchor_grid(tau, 0, torch.tensor(-0.12, dtype=torch.float64), 4).tolist() == pytest.approx([0, -0.05, -0.1])


def _constant_field_core(times, path="cubic", method="rk4"):
    # the free trajectory (bridge=False): what the constant field draws, with nothing added
    config = CoreConfig(
        dim=2, n_times=len(times), hidden=4, n_components=2, width=8, n_codes=1, path=path, method=method, bridge=False
    )
    core = WeightFlowCore(config)
    core.set_data(torch.zeros(2), torch.ones(2), torch.tensor(times))
    gen = torch.Generator().manual_seed(0)
    core.set_anchors(torch.randn(len(times), core.backbone.n_params, generator=gen))
    core.init_affine()
    return core


def test_constant_field_gives_the_exact_linear_path():
    """With the GNN correction at zero, theta(tau) = theta_k + s * B (Z(tau) - Z(tau_k)) exactly.

    dZ/dtau is quadratic between knots, so RK4 (Simpson's rule here) integrates it exactly.
    """
    core = _constant_field_core([0.0, 1.0, 3.0, 4.0])
    path, B, s = core.path, core.field.affine.detach(), core.field.scale
    q = torch.tensor([0.1, 0.5, 0.9])
    with torch.no_grad():
        got = core.weights(q)
    for i, tq in enumerate(q):
        k = int((core.tau <= tq).nonzero().max())
        expect = core.anchors[k] + s * (B @ (path.evaluate(tq) - path.evaluate(core.tau[k])))
        assert torch.allclose(got[i], expect, atol=1e-4)
    # start="first" integrates from theta_0 through the anchors and agrees too
    with torch.no_grad():
        first = core.weights(q, start="first")
    expect0 = core.anchors[0] + s * (B @ (path.evaluate(q[-1]) - path.evaluate(core.tau[0])))
    assert torch.allclose(first[-1], expect0, atol=1e-4)


@pytest.mark.parametrize("method", ["midpoint", "euler"])
def test_linear_control_path_with_constant_field_gives_straight_weight_lines(method):
    """Linear path, K - 1 codes: the least-squares constant field draws the straight anchor lines."""
    times = [0.0, 1.0, 3.0, 4.0]
    config = dict(dim=2, n_times=4, hidden=4, n_components=2, width=8)
    core = WeightFlowCore(CoreConfig(**config, method=method, path="linear"))  # n_codes=2 by default
    lines = WeightFlowCore(CoreConfig(**config, dynamics="linear"))
    anchors = torch.randn(4, core.backbone.n_params, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for c in (core, lines):
        c.double()
        c.set_data(torch.zeros(2), torch.ones(2), torch.tensor(times))
        c.set_anchors(anchors)
    core.init_affine()
    q = torch.tensor([-0.1, 0.0, 0.1, 0.25, 0.5, 0.9, 1.0, 1.2], dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(core.weights(q), lines.weights(q), atol=1e-10, rtol=0)
        torch.testing.assert_close(core.weights(q[2:], start="first"), lines.weights(q[2:]), atol=1e-10, rtol=0)
        # the drift's weight velocity at an anchor is the slope of the interval starting there
        slope = (anchors[2] - anchors[1]) / (core.tau[2] - core.tau[1])
        torch.testing.assert_close(core.weight_velocity(anchors[1], core.tau[1]), slope, atol=1e-10, rtol=0)


def test_rk4_needs_the_cubic_path():
    with pytest.raises(ValueError, match="rk4"):
        CoreConfig(dim=2, n_times=3, method="rk4", path="linear")


def test_integration_backward_before_the_first_anchor():
    core = _constant_field_core([0.0, 1.0, 2.0])
    with torch.no_grad():
        got = core.weights(torch.tensor([-0.25]))
    s, B, path = core.field.scale, core.field.affine.detach(), core.path
    expect = core.anchors[0] + s * (B @ (path.evaluate(torch.tensor(-0.25)) - path.evaluate(core.tau[0])))
    assert torch.allclose(got[0], expect, atol=1e-4)


def test_weights_at_anchor_times_are_the_anchors():
    core = _constant_field_core([0.0, 1.0, 2.0])
    with torch.no_grad():
        assert torch.equal(core.weights(core.tau), core.anchors)


def test_kinetic_energy_of_a_straight_path():
    theta0, theta1 = torch.zeros(3), torch.tensor([1.0, 2.0, 2.0])
    grid = torch.linspace(0, 0.5, 6)
    states = theta0 + (grid[:, None] / 0.5) * (theta1 - theta0)
    # 1/2 |dtheta/dtau|^2 * T / P = 1/2 * (3/0.5)^2 * 0.5 / 3
    assert kinetic_energy(states, grid, torch.ones(3)).item() == pytest.approx(0.5 * 36 * 0.5 / 3, rel=1e-5)


def test_integrate_rejects_unknown_method():
    core = _constant_field_core([0.0, 1.0])
    with pytest.raises(ValueError, match="unknown method"):
        integrate(core.field, core.path, core.anchors[0], torch.tensor([0.0, 1.0]), "dopri9")


def _core_with_anchors(dynamics: str, n_times: int = 4) -> WeightFlowCore:
    core = WeightFlowCore(CoreConfig(dim=2, n_times=n_times, hidden=4, n_components=2, width=8, dynamics=dynamics))
    core.set_data(torch.zeros(2), torch.ones(2), torch.tensor([0.0, 1.0, 3.0, 4.0]))  # tau 0, .25, .75, 1
    core.set_anchors(torch.randn(n_times, core.backbone.n_params, generator=torch.Generator().manual_seed(0)))
    return core


def test_linear_dynamics_are_straight_lines_between_anchors():
    core = _core_with_anchors("linear")
    a, tau = core.anchors, core.tau
    # between anchors 1 and 2 (tau .25 -> .75): a quarter of the way at tau = .375
    got = core.weights(torch.tensor([0.375, 0.25, 1.25]))
    torch.testing.assert_close(got[0], 0.75 * a[1] + 0.25 * a[2])
    torch.testing.assert_close(got[1], a[1])
    # beyond the last anchor the last segment is extended: tau 1.25 is one full segment length / 0.25 on
    torch.testing.assert_close(got[2], a[3] + 0.25 / (tau[3] - tau[2]) * (a[3] - a[2]))
    slope = (a[2] - a[1]) / 0.5
    torch.testing.assert_close(core.weight_velocity(got[0], torch.tensor(0.375)), slope)


def test_ode_dynamics_drive_the_field_by_time_alone():
    core = _core_with_anchors("ode")
    assert core.config.n_codes == 0
    assert core.path.evaluate(torch.tensor(0.5)).shape == (1,)  # the path is tau itself
    torch.testing.assert_close(core.path.derivative(torch.tensor(0.3)), torch.ones(1))
    with pytest.raises(ValueError, match="n_codes must be 0"):
        CoreConfig(dim=2, n_times=4, dynamics="ode", n_codes=2)
    with pytest.raises(ValueError, match="unknown dynamics"):
        CoreConfig(dim=2, n_times=4, dynamics="sde")


def test_time_only_start_is_one_time_driven_field():
    """``init_affine("time")``: the codes' columns start at 0 and the time column is the least-squares
    slope of the anchors in time, so anchors on a straight line in time are reproduced exactly."""
    times = [0.0, 1.0, 3.0, 4.0]
    core = WeightFlowCore(CoreConfig(dim=2, n_times=4, hidden=4, n_components=2, width=8)).double()
    gen = torch.Generator().manual_seed(0)
    theta0, slope = (torch.randn(core.backbone.n_params, generator=gen, dtype=torch.float64) for _ in range(2))
    core.set_data(torch.zeros(2), torch.ones(2), torch.tensor(times))
    core.set_anchors(theta0 + torch.tensor(times, dtype=torch.float64)[:, None] / 4 * slope)
    core.init_affine("time")
    B = core.field.affine.detach()
    assert B.shape[1] == 1 + core.config.n_codes and torch.equal(B[:, 1:], torch.zeros_like(B[:, 1:]))
    torch.testing.assert_close(core.field.scale * B[:, 0], slope, atol=1e-10, rtol=0)
    # the time-only start is not the through-the-anchors start when the anchors bend
    bent = core.anchors.clone()
    bent[1] += 1.0
    core.set_anchors(bent)
    core.init_affine("time")
    time_only = core.field.affine.detach().clone()
    core.init_affine()
    assert not torch.allclose(core.field.affine.detach(), time_only)
    with pytest.raises(ValueError, match="channels"):
        core.init_affine("codes")


def test_train_config_refuses_unknown_start_and_empty_action_grid():
    from wf_sc._core.pipeline import TrainConfig

    assert TrainConfig(field_start="time", action_points=4).action_points == 4
    with pytest.raises(ValueError, match="unknown field_start"):
        TrainConfig(field_start="codes")
    with pytest.raises(ValueError, match="action_points"):
        TrainConfig(action_points=0)


def _bent_core(bridge: bool, bridge_clock: bool = False):
    """Anchors off a straight line in time and a time-only start: the free trajectory misses them."""
    times = [0.0, 1.0, 3.0, 4.0]
    config = CoreConfig(dim=2, n_times=4, hidden=4, n_components=2, width=8, bridge=bridge, bridge_clock=bridge_clock)
    with torch.random.fork_rng():  # the field's initial weights, the same whatever ran before
        torch.manual_seed(0)
        core = WeightFlowCore(config).double()
    gen = torch.Generator().manual_seed(0)
    theta0, slope, bend = (torch.randn(core.backbone.n_params, generator=gen, dtype=torch.float64) for _ in range(3))
    core.set_data(torch.zeros(2), torch.ones(2), torch.tensor(times))
    anchors = theta0 + torch.tensor(times, dtype=torch.float64)[:, None] / 4 * slope
    anchors[1] += 0.5 * bend
    core.set_anchors(anchors)
    core.init_affine("time")
    return core


def test_bridge_ends_every_interval_at_the_next_anchor():
    free, bridged = _bent_core(False), _bent_core(True)
    with torch.no_grad():
        gaps = bridged.anchor_gaps()
    assert gaps.shape == (3, bridged.anchors.shape[1]) and float(gaps.abs().max()) > 1e-3
    eps = 1e-9
    with torch.no_grad():
        just_before = bridged.weights(bridged.tau[1:] - eps)
        torch.testing.assert_close(just_before, bridged.anchors[1:], atol=1e-6, rtol=0)
        # the free trajectory does not end there; at the anchors themselves both give the anchors
        assert float((free.weights(free.tau[1:] - eps) - free.anchors[1:]).abs().max()) > 1e-3
        torch.testing.assert_close(bridged.weights(bridged.tau), bridged.anchors)
        # inside an interval the bridge adds lambda * gap to the free trajectory
        tau = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
        k, lam = torch.tensor([0, 1, 2]), (tau - bridged.tau[:3]) / (bridged.tau[1:] - bridged.tau[:3])
        torch.testing.assert_close(bridged.weights(tau), free.weights(tau) + lam[:, None] * gaps[k])
        # beyond the last anchor there is nothing to bridge to
        late = torch.tensor([1.2], dtype=torch.float64)
        torch.testing.assert_close(bridged.weights(late), free.weights(late))


def test_a_time_gets_the_same_weights_whatever_else_is_queried():
    core = _bent_core(True)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for dec in core.field.decoders.values():  # a field that bends: discretization matters
            dec[-1].weight.copy_(torch.randn(dec[-1].weight.shape, generator=gen, dtype=torch.float64))
        # before the first anchor, inside each interval, on an anchor, past the last anchor
        taus = torch.tensor([-0.1, 0.03, 0.1, 0.2, 0.25, 0.5, 0.74, 0.9, 1.2], dtype=torch.float64)
        together = core.weights(taus)
        alone = torch.cat([core.weights(t[None]) for t in taus])
        assert torch.equal(together, alone)
        first = torch.cat([core.weights(t[None], start="first") for t in taus])
        assert torch.equal(core.weights(taus, start="first"), first)
        # a query on a point of the query grid is that point's state
        grid, states, _ = core.integrate_from(0, core.tau[[1, 2]], steps=core.config.query_steps)
        torch.testing.assert_close(core.free_weights(0, grid[3:40:5]), states[3:40:5], rtol=0, atol=1e-14)
        # and a short step away, its change is the field's velocity (the bridge's share included)
        h = 1e-7
        for tau in (0.1, 0.5, 0.9):
            a, b = core.weights(torch.tensor([tau, tau + h], dtype=torch.float64))
            v = core.weight_velocity(a, torch.tensor(tau, dtype=torch.float64))
            assert float(((b - a) / h - v).norm() / v.norm()) < 2e-3
        assert float((together[2] - together[3]).abs().max()) > 1e-3


def test_bridged_velocity_is_the_derivative_of_the_bridged_weights():
    core = _bent_core(True)
    h = 1e-6
    with torch.no_grad():
        for t in (0.0, 0.1, 0.6, 0.9):
            tau = torch.tensor(t, dtype=torch.float64)
            theta = core.weights(tau[None])[0]
            fd = (core.weights((tau + h)[None])[0] - core.weights((tau - h)[None] if t > 0 else tau[None])[0]) / (
                2 * h if t > 0 else h
            )
            torch.testing.assert_close(core.weight_velocity(theta, tau), fd, atol=1e-4, rtol=1e-4)


def test_bridged_segment_states_hit_every_anchor():
    from wf_sc._core.objectives import Segment, bridged_states

    core = _bent_core(True)
    with torch.no_grad():
        grid, states, index = core.integrate_from(0, core.tau[[1, 2, 3]])
        seg = Segment(0, [1, 2, 3], grid, states, index)
        out = bridged_states(core, seg)
        torch.testing.assert_close(out[[0, *index.tolist()]], core.anchors)
        # the first interval is the query-time bridge
        torch.testing.assert_close(out[2], core.weights(grid[2:3])[0])
        assert float((out - states).abs().max()) > 1e-3


#: interval speeds of a population that slows down, then speeds up: a clock warped in every interval
_SPEEDS = torch.tensor([4.0, 1.0, 2.0], dtype=torch.float64)


def test_clock_bridge_grows_along_the_pace_clock_and_ends_at_every_anchor():
    from wf_sc._core.pace import PaceClock

    core, linear = _bent_core(True, bridge_clock=True), _bent_core(True)
    core.set_pace(_SPEEDS)
    clock = PaceClock(core.tau, _SPEEDS)
    with torch.no_grad():
        gaps = core.anchor_gaps()
        torch.testing.assert_close(gaps, linear.anchor_gaps())  # the free trajectories are the same
        torch.testing.assert_close(core.weights(core.tau), core.anchors)
        torch.testing.assert_close(core.weights(core.tau[1:] - 1e-9), core.anchors[1:], atol=1e-6, rtol=0)
        tau = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
        k = torch.tensor([0, 1, 2])
        lam = (clock(tau) - core.tau[k]) / (core.tau[k + 1] - core.tau[k])
        lam_linear = (tau - core.tau[k]) / (core.tau[k + 1] - core.tau[k])
        assert float((lam - lam_linear).abs().min()) > 0.01  # the clock is warped in every interval
        free = _bent_core(False)
        torch.testing.assert_close(core.weights(tau), free.weights(tau) + lam[:, None] * gaps[k])
        # the clock's speeds are part of the model: a state dict carries them
        again = _bent_core(True, bridge_clock=True)
        again.load_state_dict(core.state_dict())
        torch.testing.assert_close(again.weights(tau), core.weights(tau), rtol=0, atol=0)
        # equal speeds: no warp, the linear bridge bit for bit
        core.set_pace(torch.ones(3, dtype=torch.float64))
        assert torch.equal(core.weights(tau), linear.weights(tau))


def test_clock_bridge_velocity_and_segment_states():
    from wf_sc._core.objectives import Segment, bridged_states

    core = _bent_core(True, bridge_clock=True)
    core.set_pace(_SPEEDS)
    h = 1e-6
    with torch.no_grad():
        for t in (0.1, 0.6, 0.9):  # inside sub-steps of the clock's grid: phi is linear there
            tau = torch.tensor(t, dtype=torch.float64)
            theta = core.weights(tau[None])[0]
            fd = (core.weights((tau + h)[None])[0] - core.weights((tau - h)[None])[0]) / (2 * h)
            torch.testing.assert_close(core.weight_velocity(theta, tau), fd, atol=1e-4, rtol=1e-4)
        grid, states, index = core.integrate_from(0, core.tau[[1, 2, 3]])
        out = bridged_states(core, Segment(0, [1, 2, 3], grid, states, index))
        torch.testing.assert_close(out[[0, *index.tolist()]], core.anchors)
        torch.testing.assert_close(out[2], core.weights(grid[2:3])[0])


def test_pace_clock_rate_is_the_slope_of_phi():
    from wf_sc._core.pace import PaceClock

    tau = torch.tensor([0.0, 0.25, 0.75, 1.0], dtype=torch.float64)
    clock = PaceClock(tau, _SPEEDS)
    t = torch.tensor([0.1, 0.6, 0.9], dtype=torch.float64)
    h = 1e-7
    torch.testing.assert_close(clock.rate(t), (clock(t + h) - clock(t - h)) / (2 * h), atol=1e-6, rtol=1e-6)
    # faster early in the first interval (speeds fall from 4 to 1): phi runs ahead of tau there
    assert float(clock(t[:1])) > 0.1 and float(clock.rate(t[:1])) > 1
    torch.testing.assert_close(clock.rate(torch.tensor([-0.5, 1.0, 2.0])), torch.ones(3))
    assert torch.equal(PaceClock(tau, torch.ones(3)).rate(t), torch.ones(3, dtype=torch.float64))


def test_bridge_refuses_the_transport_drift_action():
    from wf_sc._core.pipeline import TrainConfig, fit_weightflow

    x = [torch.randn(30, 2, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    with pytest.raises(ValueError, match="bridge=True"):
        fit_weightflow(
            x,
            torch.tensor([0.0, 1.0, 2.0]),
            CoreConfig(dim=2, n_times=3, bridge=True),
            TrainConfig(loss_weights={"action": 0.1}),
            torch.Generator().manual_seed(0),
        )


@pytest.mark.parametrize("graph_kind", ["connectivity", "complete"])
def test_dense_attention_is_torch_geometric_transformer_conv(graph_kind):
    """GraphAttention draws the same initial weights as TransformerConv under one seed and computes the
    same function and gradients on the weight graph; a node without in-neighbours gets 0 from both."""
    from torch_geometric.nn import TransformerConv

    from wf_sc._core.vector_field import GraphAttention

    graph = build_weight_graph(GRUMDN(4, 8, 3), graph_kind)
    # drop every edge into node 0: an isolated target, aggregated to 0
    edge_index = graph.edge_index[:, graph.edge_index[1] != 0]
    torch.manual_seed(0)
    dense = GraphAttention(16, 8, 2, edge_index, graph.n_nodes)
    torch.manual_seed(0)
    sparse = TransformerConv(16, 8, heads=2)
    assert dense.state_dict().keys() == sparse.state_dict().keys()
    for name, value in sparse.state_dict().items():
        assert torch.equal(dense.state_dict()[name], value), name
    h = torch.randn(graph.n_nodes, 16, requires_grad=True)
    out_dense, out_sparse = dense(h), sparse(h, edge_index)
    torch.testing.assert_close(out_dense, out_sparse, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out_dense[0], sparse.lin_skip(h)[0])
    (g_dense,) = torch.autograd.grad(out_dense.square().sum(), h)
    (g_sparse,) = torch.autograd.grad(out_sparse.square().sum(), h)
    assert torch.isfinite(g_dense).all()
    torch.testing.assert_close(g_dense, g_sparse, atol=1e-5, rtol=1e-4)


def test_bridge_share_says_how_much_the_field_leaves_to_the_bridge():
    """0 where the learned field reaches the next anchor by itself, 1 where it does not move at all."""
    bent = _bent_core(True)
    straight = _bent_core(True)
    times = torch.tensor([0.0, 1.0, 3.0, 4.0], dtype=torch.float64)
    straight.set_anchors(bent.anchors[0] + times[:, None] / 4 * (bent.anchors[3] - bent.anchors[0]) / 1.0)
    straight.init_affine("time")
    with torch.no_grad():
        torch.testing.assert_close(straight.bridge_share(), torch.zeros(3, dtype=torch.float64), atol=1e-6, rtol=0)
        share = bent.bridge_share()
        assert share.shape == (3,) and float(share[:2].min()) > 0.05  # the bend next to anchor 1 is left to the bridge
        bent.field.affine.zero_()  # the GNN decoder starts at zero: now the field is 0
        torch.testing.assert_close(bent.bridge_share(), torch.ones(3, dtype=torch.float64))


def test_records_name_query_steps_only_when_not_the_default():
    """Older versions read records without ``query_steps``; a record without it reads as 32."""
    assert "bridge_clock" not in CoreConfig(dim=2, n_times=3).to_dict()
    assert CoreConfig(dim=2, n_times=3, bridge_clock=True).to_dict()["bridge_clock"] is True
    with pytest.raises(ValueError, match="bridge_clock"):
        CoreConfig(dim=2, n_times=3, bridge_clock=1)
    for other in ({"bridge": False}, {"dynamics": "linear"}):  # nothing for it to shape
        with pytest.raises(ValueError, match="bridge_clock=True"):
            CoreConfig(dim=2, n_times=3, bridge_clock=True, **other)
    assert "query_steps" not in CoreConfig(dim=2, n_times=3).to_dict()
    assert CoreConfig(dim=2, n_times=3, query_steps=8).to_dict()["query_steps"] == 8
    old = CoreConfig(dim=2, n_times=3).to_dict()
    assert CoreConfig(**old).query_steps == 32

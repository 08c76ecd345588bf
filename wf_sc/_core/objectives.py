"""Stage-2 objective terms; the objective is a weighted sum of any of them (pluggable).

A training step integrates one *segment*: from anchor ``k`` at ``tau_k`` through anchors
``k+1..k+h`` (DESIGN §2.6). Each term maps the segment to a scalar:

``weight``   (paper)  mean_j mean_w ((theta_hat(tau_{k+j}) - theta_{k+j}) / s)^2
``energy``   (paper)  discrete weight-space kinetic energy int 1/2 ||d theta/d tau / s||^2 (per weight)
``nll``      (ours)   mean_j  -mean_{x in X_{k+j}} log p_{theta_hat(tau_{k+j})}(x) / d
``action``   (ours)   population kinetic energy int E_{x ~ p_theta(tau)} ||v(x, tau)||^2 / d dtau,
                      with ``v`` the transport drift; it upper-bounds the Wasserstein action but
                      its minimizer is not the least-action path (the KR velocity is not optimal).
``ot_action`` (ours)  dynamic-OT (Benamou-Brenier) action of the population path by minibatch OT,
                      sum_m W2^2(p_m, p_{m+1}) / |dtau_m| / d over half-interval points; its
                      minimum over paths with fixed ends is the displacement interpolation.
                      Its populations also train the growth field, if any
                      (:func:`wf_sc._core.growth_field.growth_split`).
``ot_accel`` (ours)   second-order action of the same populations: the squared change of velocity
                      along minibatch-OT paths through consecutive populations, across anchors too,
                      so the path may bend with its neighbouring intervals instead of being a
                      geodesic in each (a spline in Wasserstein space).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import ot
import torch
from scipy.spatial.distance import cdist
from torch import Tensor

from .dynamics import kinetic_energy

TERMS = ("weight", "energy", "nll", "action", "ot_action", "ot_accel")


@dataclass
class Segment:
    """One integrated stretch of the weight trajectory."""

    start: int  # anchor index k
    targets: list[int]  # anchors k+1..k+h reached
    grid: Tensor  # (G,) normalized times
    states: Tensor  # (G, P)
    index: Tensor  # (h,) position of each target anchor in grid


def weight_match(core, seg: Segment) -> Tensor:
    """Paper's weight regression, normalized per weight."""
    pred = seg.states[seg.index]
    true = core.anchors[seg.targets]
    return (((pred - true) / core.field.scale) ** 2).mean()


def weight_energy(core, seg: Segment) -> Tensor:
    """Paper's weight-space kinetic energy of the segment, per unit of normalized time."""
    span = (seg.grid[-1] - seg.grid[0]).abs().clamp_min(1e-12)
    return kinetic_energy(seg.states, seg.grid, core.field.scale) / span


def data_nll(core, seg: Segment, batches: list[Tensor]) -> Tensor:
    """NLL per coordinate of real cells of each reached snapshot under the predicted weights."""
    d = core.config.dim
    if len({len(x) for x in batches}) == 1:  # equal batches: all snapshots in one pass
        return -core.log_prob(seg.states[seg.index], torch.stack(batches)).mean() / d
    losses = [-core.log_prob(seg.states[i], x).mean() / d for i, x in zip(seg.index.tolist(), batches)]
    return torch.stack(losses).mean()


def bridged_states(core, seg: Segment) -> Tensor:
    """The segment's states bridged to hit every anchor it passes exactly: (G, P).

    On anchor interval ``j`` (grid points ``a..b``, anchors ``theta_j``, ``theta_{j+1}``):

    .. math:: \\tilde\\theta_i = \\hat\\theta_i + (1 - \\lambda_i)(\\theta_j - \\hat\\theta_a)
              + \\lambda_i(\\theta_{j+1} - \\hat\\theta_b), \\quad
              \\lambda_i = (\\tau_i - \\tau_a) / (\\tau_b - \\tau_a)

    (on the first interval ``hat theta_a`` is the anchor itself, so this is the bridge of
    :meth:`wf_sc._core.flow.WeightFlowCore.weights`, on training's grid instead of the query grid).
    With ``config.bridge_clock`` the times are read on the pace clock, ``phi(tau_i)`` for ``tau_i``.
    """
    knots = [0, *seg.index.tolist()]
    anchors = [seg.start, *seg.targets]
    clock = core.bridge_clock()
    grid = seg.grid if clock is None else clock(seg.grid)
    pieces = [seg.states[:1] + (core.anchors[seg.start] - seg.states[0])]
    for j, (a, b) in enumerate(zip(knots[:-1], knots[1:])):
        lam = ((grid[a + 1 : b + 1] - grid[a]) / (grid[b] - grid[a]))[:, None]
        start_gap = core.anchors[anchors[j]] - seg.states[a]
        end_gap = core.anchors[anchors[j + 1]] - seg.states[b]
        pieces.append(seg.states[a + 1 : b + 1] + (1 - lam) * start_gap + lam * end_gap)
    return torch.cat(pieces)


def population_action(
    core, seg: Segment, n_cells: int, n_times: int, generator: torch.Generator, sample_generator: torch.Generator
) -> Tensor:
    """Monte-Carlo ``int E_{p_theta(tau)} ||v||^2 / d dtau`` over random grid points of the segment.

    ``generator`` (CPU) picks the grid points, ``sample_generator`` (on the model's device) draws
    the cells. Cells are sampled from the model without gradient; ``v`` (the transport drift) carries the
    gradient to ``theta`` and to ``g_phi`` through ``d theta/d tau``.
    """
    G = len(seg.grid)
    pick = torch.randint(G - 1, (n_times,), generator=generator)
    span = (seg.grid[-1] - seg.grid[0]).abs()
    total = []
    for i in pick.tolist():
        theta = seg.states[i]
        x = core.sample(theta.detach(), n_cells, sample_generator)
        v = core.drift(theta, seg.grid[i], x)
        total.append((v**2).mean())
    return torch.stack(total).mean() * span


def macro_points(seg: Segment, per_interval: int = 2) -> list[int]:
    """Grid positions splitting every anchor interval of the segment into ``per_interval`` pieces.

    The grid holds ``steps`` equal sub-steps per interval (:func:`wf_sc._core.dynamics.interval_grid`);
    every ``steps // per_interval``-th point is kept, and the last point always.
    """
    knots = [0, *seg.index.tolist()]
    out = [0]
    for a, b in zip(knots[:-1], knots[1:]):
        stride = max((b - a) // per_interval, 1)
        out.extend(range(a + stride, b, stride))
        out.append(b)
    return list(dict.fromkeys(out))


def minibatch_w2(x: Tensor, y: Tensor, plan: np.ndarray | None = None) -> Tensor:
    """Exact squared 2-Wasserstein distance between two equal-weight point clouds (POT ``emd``).

    ``W2^2 = min_{P in U(1/n, 1/m)} sum_ij P_ij ||x_i - y_j||^2``; the gradient in ``x`` and ``y``
    flows through the cost at the optimal plan (envelope theorem), so the value is formed from the
    plan's support alone (at most ``n + m - 1`` pairs), summed in double precision. ``plan``: the
    optimal plan if already known (:func:`optimal_plan` of the same cells).
    """
    plan = optimal_plan(x, y) if plan is None else plan
    i, j = np.nonzero(plan)
    mass = torch.as_tensor(plan[i, j], device=x.device)
    i, j = torch.as_tensor(i, device=x.device), torch.as_tensor(j, device=x.device)
    pair_cost = ((x[i] - y[j]) ** 2).sum(-1)
    return (mass * pair_cost.double()).sum().to(x.dtype)


def optimal_plan(x: Tensor, y: Tensor) -> np.ndarray:
    """The exact OT plan (n, m) between the cells ``x`` and ``y``, uniform weights, squared
    Euclidean cost (POT ``emd`` on :func:`squared_distances`)."""
    return _uniform_plan(squared_distances(x, y))


def _uniform_plan(cost: np.ndarray) -> np.ndarray:
    """POT's exact ``emd`` plan for a cost matrix (n, m) between uniform weights."""
    return ot.emd(ot.unif(cost.shape[0]), ot.unif(cost.shape[1]), cost, numItermax=10_000_000)


def squared_distances(x: Tensor, y: Tensor) -> np.ndarray:
    """``||x_i - y_j||^2`` of every pair of cells (n, m), in double precision, without gradient.

    Summed from the coordinates' differences (:func:`scipy.spatial.distance.cdist`), not as
    ``|x|^2 + |y|^2 - 2 x.y`` (``ot.dist``), whose cancellation noise would not vanish for
    coinciding clouds and is divided by a small time step in the action.
    """
    return cdist(x.detach().double().cpu().numpy(), y.detach().double().cpu().numpy(), "sqeuclidean")


@dataclass
class Populations:
    """The model's populations at the action's points of one segment (:func:`action_populations`)."""

    cells: Tensor  # (M, n, d) reparameterized cells, drawn with common uniforms
    tau: Tensor  # (M,) their normalized times
    clock: Tensor  # (M,) the same times in the clock the action measures motion in
    #: optimal plans between consecutive populations, computed once (:meth:`plan`)
    plans: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def plan(self, m: int) -> np.ndarray:
        """:func:`optimal_plan` from population ``m`` to ``m + 1``; both actions share it."""
        if m not in self.plans:
            self.plans[m] = optimal_plan(self.cells[m], self.cells[m + 1])
        return self.plans[m]


def action_populations(
    core, seg: Segment, n_cells: int, sample_generator: torch.Generator, per_interval: int = 2, clock=None
) -> Populations:
    """Cells of the path at the points of :func:`macro_points` (``per_interval`` per anchor interval).

    Every population is drawn with the same uniforms ``u`` through the inverse Knothe-Rosenblatt
    map (common random numbers) and reparameterized, so gradients reach ``theta`` and ``g_phi``.
    ``clock``: :class:`wf_sc._core.pace.PaceClock`, or None (normalized time).
    """
    points = macro_points(seg, per_interval)
    tau = seg.grid[points]
    states = bridged_states(core, seg) if core.config.bridge else seg.states
    u = torch.rand(n_cells, core.config.dim, generator=sample_generator, dtype=seg.states.dtype,
                   device=seg.states.device)
    theta = states[points]  # (M, P): every population in one pass over the coordinates
    cells = core.backbone.quantile_reparameterized(theta, u)
    return Populations(cells, tau, tau if clock is None else clock(tau))


def population_ot_action(
    core, seg: Segment, n_cells: int, sample_generator: torch.Generator, per_interval: int = 2, clock=None,
    populations: Populations | None = None,
) -> Tensor:
    """Benamou-Brenier action of the model's population path from minibatch OT, per coordinate.

    .. math:: A = \\frac{1}{d} \\sum_m \\frac{W_2^2(p_{\\theta(\\tau_m)}, p_{\\theta(\\tau_{m+1})})}
              {|\\tau_{m+1} - \\tau_m|} \\;\\le\\; \\frac{1}{d}\\int \\mathbb E\\,\\|v\\|^2\\, d\\tau

    over the populations of :func:`action_populations` (drawn here unless ``populations`` are
    given). For fixed end populations ``A`` is smallest on the constant-speed Wasserstein geodesic
    (displacement interpolation), whatever the velocity field realizing it, unlike the
    transport-drift ``action``; common random numbers make the estimate 0 when consecutive
    populations agree. With a ``clock`` (:class:`wf_sc._core.pace.PaceClock`) the time steps are
    measured in its warped time, :math:`|\\varphi(\\tau_{m+1}) - \\varphi(\\tau_m)|`, so the
    smallest action moves at the neighbours' pace instead of at constant speed.
    """
    if populations is None:
        populations = action_populations(core, seg, n_cells, sample_generator, per_interval, clock)
    cells, times = populations.cells, populations.clock
    total = 0.0
    for m in range(len(times) - 1):
        dtau = (times[m + 1] - times[m]).abs().clamp_min(1e-12)
        total = total + minibatch_w2(cells[m], cells[m + 1], populations.plan(m)) / dtau
    return total / core.config.dim


def optimal_assignment(cost: np.ndarray) -> np.ndarray:
    """The permutation ``sigma`` minimizing ``sum_i cost[i, sigma(i)]`` for a square cost matrix:
    exact OT with uniform weights (POT ``emd``), whose optimal plan is a permutation matrix.

    Refuses non-finite costs and a plan that is not a permutation (the solver stopped early)."""
    n = len(cost)
    if cost.shape != (n, n):
        raise ValueError(f"an assignment needs a square cost matrix, got shape {cost.shape}")
    if not np.isfinite(cost).all():
        raise ValueError(_NOT_FINITE)
    return _permutation(_uniform_plan(cost))


_NOT_FINITE = "the cells to assign are not all finite (the fitted flow produced NaN or inf)"


def _permutation(plan: np.ndarray) -> np.ndarray:
    """The permutation of a uniform square plan that is a permutation matrix; refuses any other."""
    index = plan.argmax(1)
    if np.bincount(index, minlength=len(plan)).max() != 1:
        raise RuntimeError("the optimal assignment is not a permutation (the solver stopped early)")
    return index


def velocity_changes(populations: Populations) -> list[tuple[Tensor, Tensor]]:
    r"""Each cell's change of velocity at every inner population, along exact-assignment paths.

    .. math:: \delta^m_i = \frac{x^{m+1}_{\pi_m(i)} - x^m_i}{\Delta_m}
              - \frac{x^m_i - x^{m-1}_{\pi_{m-1}^{-1}(i)}}{\Delta_{m-1}}, \qquad m = 1 .. M-2,

    with :math:`\pi_m` the optimal assignment of :math:`x^m` to :math:`x^{m+1}` (fixed, no gradient)
    and :math:`\Delta_m` the clock steps. Returns, per inner population, :math:`\delta^m` (n, d) and
    :math:`(\Delta_{m-1} + \Delta_m) / 2`.
    """
    cells, times = populations.cells, populations.clock
    if not bool(torch.isfinite(cells).all()):
        raise ValueError(_NOT_FINITE)
    forward = [torch.as_tensor(_permutation(populations.plan(m)), device=cells.device) for m in range(len(times) - 1)]
    out = []
    for m in range(1, len(times) - 1):
        back = torch.argsort(forward[m - 1])  # pi_{m-1}^{-1}: a permutation's inverse
        d0 = (times[m] - times[m - 1]).abs().clamp_min(1e-12)
        d1 = (times[m + 1] - times[m]).abs().clamp_min(1e-12)
        change = (cells[m + 1][forward[m]] - cells[m]) / d1 - (cells[m] - cells[m - 1][back]) / d0
        out.append((change, (d0 + d1) / 2))
    return out


def population_acceleration(core, populations: Populations) -> Tensor:
    r"""Second-order action of the population path along minibatch-OT paths, per coordinate.

    With populations :math:`x^m` at clock times :math:`\varphi_m` (:func:`action_populations`),
    :math:`\pi_m` the optimal assignment of :math:`x^m` to :math:`x^{m+1}` and
    :math:`\Delta_m = |\varphi_{m+1} - \varphi_m|`,

    .. math:: B = \frac{\bar\Delta^2}{d} \sum_{m=1}^{M-2} \frac{1}{n} \sum_i
              \frac{\big\| (x^{m+1}_{\pi_m(i)} - x^m_i) / \Delta_m
              - (x^m_i - x^{m-1}_{\pi_{m-1}^{-1}(i)}) / \Delta_{m-1} \big\|^2}
              {(\Delta_{m-1} + \Delta_m) / 2}
              \;\approx\; \frac{\bar\Delta^2}{d} \int \mathbb E \|\ddot x\|^2 d\varphi,

    ``bar Delta`` the mean anchor interval in normalized time, which gives ``B`` the units of the
    first-order ``ot_action``. A constant-speed straight path costs 0, a kink at an anchor does not;
    the assignments are fixed (no gradient), the cells carry the gradient. A term scales like
    ``Delta^-3`` (``ot_action`` like ``Delta^-1``), so short steps of a strongly warped pace clock
    weigh more here than there.
    """
    cells = populations.cells
    if len(populations.clock) < 3:
        return cells.new_zeros(())
    total = cells.new_zeros(())
    for change, step in velocity_changes(populations):
        total = total + (change**2).sum(-1).mean() / step
    mean_interval = (core.tau[-1] - core.tau[0]) / (len(core.tau) - 1)
    return total * mean_interval**2 / core.config.dim

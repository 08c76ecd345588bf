"""Stage-2 objective terms; the objective is a weighted sum of any of them (pluggable).

A training step integrates one *segment*: from anchor ``k`` at ``tau_k`` through anchors
``k+1..k+h`` (DESIGN §2.6). Each term maps the segment to a scalar:

``weight``   (paper)  mean_j mean_w ((theta_hat(tau_{k+j}) - theta_{k+j}) / s)^2
``energy``   (paper)  discrete weight-space kinetic energy int 1/2 ||d theta/d tau / s||^2 (per weight)
``nll``      (ours)   mean_j  -mean_{x in X_{k+j}} log p_{theta_hat(tau_{k+j})}(x) / d
``action``   (ours)   population kinetic energy int E_{x ~ p_theta(tau)} ||v(x, tau)||^2 / d dtau,
                      with ``v`` the transport drift; it upper-bounds the Wasserstein action, so it
                      pulls unseen intermediate densities toward least-action transport.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .dynamics import kinetic_energy

TERMS = ("weight", "energy", "nll", "action")


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
    losses = [-core.log_prob(seg.states[i], x).mean() / d for i, x in zip(seg.index.tolist(), batches)]
    return torch.stack(losses).mean()


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

"""Stage 2: learn the vector field ``g_phi`` of the weight CDE.

Each step samples a start anchor ``k`` and a horizon ``h``, integrates ``theta`` from
``theta_k`` at ``tau_k`` over the absolute times ``tau_k .. tau_{k+h}`` and minimizes

.. math:: L = \\sum_{\\text{term}} \\lambda_{\\text{term}}\\, L_{\\text{term}}(\\text{segment})

with the terms of :mod:`wf_sc._core.objectives` (weights ``lambda`` from ``loss_weights``; a term
with weight 0 is not computed).
"""

from __future__ import annotations

import torch

from .flow import WeightFlowCore
from .objectives import (
    TERMS,
    Segment,
    data_nll,
    population_action,
    population_ot_action,
    weight_energy,
    weight_match,
)

DEFAULT_LOSS_WEIGHTS = {"weight": 1.0, "energy": 0.0, "nll": 1.0, "action": 0.0, "ot_action": 0.5}


def check_loss_weights(loss_weights: dict) -> dict:
    """Fill defaults and reject unknown terms or negative weights."""
    unknown = set(loss_weights) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown loss terms {sorted(unknown)}, known are {list(TERMS)}")
    out = {**DEFAULT_LOSS_WEIGHTS, **loss_weights}
    if any(v < 0 for v in out.values()):
        raise ValueError(f"loss weights must be >= 0, got {out}")
    return out


def sample_segment(core: WeightFlowCore, generator: torch.Generator, max_horizon: int | None) -> Segment:
    """Random start anchor and horizon; integrate the CDE over that stretch of absolute time."""
    K = len(core.tau) - 1
    k = int(torch.randint(K, (1,), generator=generator))
    h_max = K - k if max_horizon is None else min(max_horizon, K - k)
    h = int(torch.randint(1, h_max + 1, (1,), generator=generator))
    targets = list(range(k + 1, k + h + 1))
    grid, states, index = core.integrate_from(k, core.tau[targets])
    return Segment(k, targets, grid, states, index)


def train_field(
    core: WeightFlowCore,
    snapshots: list[torch.Tensor],
    *,
    generator: torch.Generator,
    sample_generator: torch.Generator | None = None,
    loss_weights: dict | None = None,
    n_steps: int = 300,
    lr: float = 3e-3,
    batch_size: int = 256,
    max_horizon: int | None = None,
    action_cells: int = 128,
    action_times: int = 2,
    action_points: int = 2,
    clock=None,
    progress=None,
) -> dict[str, list[float]]:
    """Optimize ``g_phi`` (AdamW, cosine schedule); returns the per-step history of every term.

    ``generator`` (CPU) drives segments and minibatches; ``sample_generator`` (on the model's
    device; default: ``generator``) draws model cells for the action term; ``clock``
    (:class:`wf_sc._core.pace.PaceClock`, optional) measures the ``ot_action`` in warped time.
    """
    sample_generator = generator if sample_generator is None else sample_generator
    weights = check_loss_weights(loss_weights or {})
    params = [p for p in core.field.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(n_steps, 1))
    history: dict[str, list[float]] = {name: [] for name in (*TERMS, "total")}
    for _ in range(n_steps):
        seg = sample_segment(core, generator, max_horizon)
        terms = {}
        if weights["weight"]:
            terms["weight"] = weight_match(core, seg)
        if weights["energy"]:
            terms["energy"] = weight_energy(core, seg)
        if weights["nll"]:
            batches = []
            for j in seg.targets:
                x = snapshots[j]
                idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=generator)
                batches.append(x[idx.to(x.device)])
            terms["nll"] = data_nll(core, seg, batches)
        if weights["action"]:
            terms["action"] = population_action(core, seg, action_cells, action_times, generator, sample_generator)
        if weights["ot_action"]:
            terms["ot_action"] = population_ot_action(core, seg, action_cells, sample_generator, action_points, clock)
        total = sum(weights[name] * value for name, value in terms.items())
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        for name in TERMS:
            history[name].append(float(terms[name].detach()) if name in terms else float("nan"))
        history["total"].append(float(total.detach()))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{history['total'][-1]:.4f}")
    return history

"""Stage 2: learn the vector field ``g_phi`` of the weight CDE.

Each step samples a start anchor ``k`` and a horizon ``h``, integrates ``theta`` from
``theta_k`` at ``tau_k`` over the absolute times ``tau_k .. tau_{k+h}`` and minimizes

.. math:: L = \\sum_{\\text{term}} \\lambda_{\\text{term}}\\, L_{\\text{term}}(\\text{segment})

with the terms of :mod:`wf_sc._core.objectives` (weights ``lambda`` from ``loss_weights``; a term
with weight 0 is not computed).
"""

from __future__ import annotations

import copy

import torch

from .anchors import mean_nll
from .flow import WeightFlowCore
from .growth_field import growth_split
from .objectives import (
    TERMS,
    Segment,
    action_populations,
    data_nll,
    population_acceleration,
    population_action,
    population_ot_action,
    weight_energy,
    weight_match,
)

DEFAULT_LOSS_WEIGHTS = {"weight": 1.0, "energy": 0.0, "nll": 1.0, "action": 0.0, "ot_action": 0.5, "ot_accel": 0.5}


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


@torch.no_grad()
def validation_nll(core: WeightFlowCore, held_out: list[torch.Tensor]) -> float:
    """Held-out NLL per coordinate where the field must carry the weights, one interval at a time.

    .. math:: V = \\operatorname{mean}_{k} \\Big[-\\frac{1}{d\\,|Y_{k+1}|} \\sum_{y \\in Y_{k+1}}
              \\log p_{\\hat\\theta_k(\\tau_{k+1})}(y)\\Big]

    with :math:`\\hat\\theta_k` the unbridged solution started at anchor ``k`` and :math:`Y_{k+1}`
    the held-out cells of snapshot ``k + 1`` (intervals whose end has none are skipped).
    """
    d, ends = core.config.dim, core.interval_ends()
    values = [mean_nll(core.backbone, end, y) / d for end, y in zip(ends, held_out[1:]) if len(y)]
    return sum(values) / len(values) if values else float("nan")


def _trained_state(core: WeightFlowCore) -> dict:
    """What Stage 2 trains: the field's state, and the growth field's if there is one."""
    growth = getattr(core, "growth", None)
    return {"field": core.field.state_dict(), "growth": None if growth is None else growth.state_dict()}


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
    held_out: list[torch.Tensor] | None = None,
    eval_every: int = 25,
    patience: int = 6,
    progress=None,
) -> dict:
    """Optimize ``g_phi`` (AdamW, cosine schedule); returns the per-step history of every term.

    With a growth field (``core.growth``), it is trained on the same steps by
    :func:`~wf_sc._core.growth_field.growth_split` on the transport action's populations, which
    changes nothing of the field's training; the history then holds ``growth``.
    ``generator`` (CPU) drives segments and minibatches; ``sample_generator`` (on the model's
    device; default: ``generator``) draws model cells for the action term; ``clock``
    (:class:`wf_sc._core.pace.PaceClock`, optional) measures the ``ot_action`` in warped time.
    With ``held_out`` (cells of each snapshot kept out of ``snapshots``), ``n_steps`` is a cap:
    every ``eval_every`` steps :func:`validation_nll` is scored, training stops after ``patience``
    scores without an improvement of 1e-4, and the field with the best score is kept; the history
    then holds ``validation`` (``every``, ``nll``, ``best_step``).
    """
    sample_generator = generator if sample_generator is None else sample_generator
    weights = check_loss_weights(loss_weights or {})
    params = [p for p in core.field.parameters() if p.requires_grad]
    growth = getattr(core, "growth", None)
    growth_params = [] if growth is None else list(growth.parameters())
    opt = torch.optim.AdamW(params + growth_params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(n_steps, 1))
    history: dict = {name: [] for name in (*TERMS, "total")}
    if growth is not None:
        history["growth"] = []
    if held_out is not None:
        best_state, best_step, curve, bad = copy.deepcopy(_trained_state(core)), 0, [], 0
        best = validation_nll(core, held_out)
    for step in range(1, n_steps + 1):
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
        pops = None
        if weights["ot_action"] or weights["ot_accel"] or growth is not None:
            pops = action_populations(core, seg, action_cells, sample_generator, action_points, clock)
        if weights["ot_action"]:
            terms["ot_action"] = population_ot_action(core, seg, action_cells, sample_generator, populations=pops)
        if weights["ot_accel"]:
            terms["ot_accel"] = population_acceleration(core, pops)
        total = sum(weights[name] * value for name, value in terms.items())
        split = None if growth is None else growth_split(growth, pops)  # reaches the growth field only
        opt.zero_grad()
        (total if split is None else total + split).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        if growth_params:
            torch.nn.utils.clip_grad_norm_(growth_params, 1.0)
        opt.step()
        sched.step()
        for name in TERMS:
            history[name].append(float(terms[name].detach()) if name in terms else float("nan"))
        history["total"].append(float(total.detach()))
        if split is not None:
            history["growth"].append(float(split.detach()))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{history['total'][-1]:.4f}")
        if held_out is not None and (step % eval_every == 0 or step == n_steps):
            curve.append(validation_nll(core, held_out))
            if curve[-1] < best - 1e-4:
                best_state, best_step, best, bad = copy.deepcopy(_trained_state(core)), step, curve[-1], 0
            else:
                bad += 1
                if bad >= patience:
                    break
    if held_out is not None:
        core.field.load_state_dict(best_state["field"])
        if growth is not None:
            growth.load_state_dict(best_state["growth"])
        history["validation"] = {"every": eval_every, "nll": curve, "best_step": best_step}
    return history

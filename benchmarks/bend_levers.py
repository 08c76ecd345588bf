"""Which lever bends the fitted path inside an interval? (a probe on EMT 10-D's fold at time 2)

Training times 0, 1 and 3 (three anchors), held-out time 2, seeds 3 and 4. Three modes (first
argument; an optional second argument is a folder of saved fits shared with the benchmark's
``--fit-cache``):

- ``settings``: fits with Stage 2's budget and the two actions' weights changed; for each, the met
  cells' W1 and centre distance (as the benchmark predicts) and the fresh cells' centre distance at
  time 2, and on seed 3 the change of velocity at the middle anchor (:func:`probe_folds.anchor_kink`);
- ``gradients``: on seed 3's default fit, the norm of each Stage-2 term's gradient on the field over
  10 draws of a segment across the middle anchor, how consistent it is from draw to draw, and the
  cosine between the second-order term's gradient and the others';
- ``oracle``: a check no real fit can have. Stage 2 also gets the likelihood of the held-out time's
  other half of cells (the floor's) at time 2, weighted 0, 1, 10 and 100, without anchoring them;
  fresh cells at time 2 are then scored against the reference. It asks whether the field can bend
  the path when pulled.

The output method.md cites is ``results/bend_levers.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/bend_levers.py settings [fit-cache]
"""
import sys

import torch
from probe_folds import anchor_kink, centre_distance, fit_cache, folds, met_cells, middle_anchor_segment

import wf_sc._core.stage2 as stage2
from wf_sc._core.objectives import (
    action_populations,
    bridged_states,
    data_nll,
    population_acceleration,
    population_ot_action,
    weight_match,
)
from wf_sc.benchmark.metrics import w1
from wf_sc.benchmark.weightflow_methods import make_weightflow

SETTINGS = (
    {},
    {"stage2_steps": 800},
    {"stage2_steps": 800, "loss_weights": {"ot_accel": 8.0}},
    {"loss_weights": {"ot_action": 0.0, "ot_accel": 0.5}},
    {"loss_weights": {"ot_action": 0.0, "ot_accel": 8.0}},
)
FOLDS = list(folds("emt10", seeds=(3, 4), held_out=2.0))


def settings_mode(cache):
    for f in FOLDS:
        for settings in SETTINGS:
            pred = met_cells(settings, cache, f)
            model, _ = cache.get(f.train, f.seed, settings)
            fresh = model.sample(f.t, 4000, random_state=f.seed)
            line = (f"seed {f.seed} {settings}: met cells W1 {w1(pred, f.ref):.4f}, centre {centre_distance(pred, f.ref):.4f}; "
                    f"fresh cells' centre {centre_distance(fresh, f.ref):.4f}")
            if f.seed == 3:
                e, mean = anchor_kink(model.core, f.seed)[1]
                line += f"; at the middle anchor E|dv|^2 {e:.1f}, |E dv|^2 {mean:.1f}"
            print(line, flush=True)


def gradients_mode(cache):
    f = FOLDS[0]
    core = cache.get(f.train, f.seed, {})[0].core
    params = [p for p in core.field.parameters() if p.requires_grad]
    gen = torch.Generator().manual_seed(0)
    snaps = [torch.as_tensor((f.train.at(t) - core.x_mean.numpy()) / core.x_scale.numpy(), dtype=torch.float32)
             for t in f.train.times]
    grads = {name: [] for name in ("weight", "nll", "ot_action", "ot_accel")}
    for _ in range(10):
        seg = middle_anchor_segment(core)
        pops = action_populations(core, seg, 128, gen, 2, None)
        batches = [snaps[j][torch.randint(len(snaps[j]), (256,), generator=gen)] for j in seg.targets]
        terms = {"weight": weight_match(core, seg), "nll": data_nll(core, seg, batches),
                 "ot_action": 0.5 * population_ot_action(core, seg, 128, gen, populations=pops),
                 "ot_accel": 0.5 * population_acceleration(core, pops)}
        for name, value in terms.items():
            g = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
            grads[name].append(torch.cat([x.reshape(-1) for x in g if x is not None]))
    accel = torch.stack(grads["ot_accel"])
    for name, gs in grads.items():
        G = torch.stack(gs)
        unit = G / G.norm(dim=1, keepdim=True)
        consistency = float(((unit @ unit.T).sum() - len(gs)) / (len(gs) * (len(gs) - 1)))
        against = float(((G * accel).sum(1) / (G.norm(dim=1) * accel.norm(dim=1))).mean())
        print(f"{name}: gradient norm {float(G.norm(dim=1).mean()):.4g}, mean cosine between draws {consistency:.3f}, "
              f"cosine with the second-order term's {against:.2f}", flush=True)
    others = sum(torch.stack(grads[name]) for name in ("weight", "nll", "ot_action"))
    cos = (others * accel).sum(1) / (others.norm(dim=1) * accel.norm(dim=1))
    print("cosine between the second-order term's gradient and the sum of the others':", [round(float(c), 2) for c in cos])


def oracle_mode():
    real_nll = stage2.data_nll
    for f in FOLDS:
        cells = torch.as_tensor(f.half_a, dtype=torch.float32)
        tau_mid = (f.t - f.train.times[0]) / (f.train.times[-1] - f.train.times[0])
        for weight in (0.0, 1.0, 10.0, 100.0):
            hits = []

            def with_oracle(core, seg, batches):
                out = real_nll(core, seg, batches)
                i = int(torch.argmin((seg.grid - tau_mid).abs()))
                if weight > 0 and abs(float(seg.grid[i]) - tau_mid) < 1e-5:
                    x = (cells[torch.randint(len(cells), (256,))] - core.x_mean) / core.x_scale
                    out = out + weight * (-core.log_prob(bridged_states(core, seg)[i], x).mean() / core.config.dim)
                    hits.append(1)
                return out

            stage2.data_nll = with_oracle
            try:
                model = make_weightflow(f.seed, {})
                model.fit_arrays(f.train.X, f.train.t, progress=False)
            finally:
                stage2.data_nll = real_nll
            pred = model.sample(f.t, len(f.ref), random_state=f.seed)
            print(f"seed {f.seed}, oracle weight {weight}: used on {len(hits)} of 200 steps; fresh cells at time 2: "
                  f"W1 {w1(pred, f.ref):.4f}, centre {centre_distance(pred, f.ref):.4f}", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "settings":
        settings_mode(fit_cache(2))
    elif mode == "gradients":
        gradients_mode(fit_cache(2))
    elif mode == "oracle":
        oracle_mode()
    else:
        raise SystemExit(f"unknown mode {mode!r}: settings, gradients or oracle")

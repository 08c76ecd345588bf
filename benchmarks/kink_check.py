"""Where the fitted path's change of velocity sits: at the anchor or inside the intervals (a probe).

On EMT 10-D, for both benchmark folds and seeds 3-5, the default fit on the training times (three
anchors) is integrated over both intervals, and the second-order action's populations (128 cells at
each anchor and interval midpoint, drawn 20 times) are paired by exact assignment as Stage 2 pairs
them. At each inner point (1: the first interval's midpoint, 2: the middle anchor, 3: the second
interval's midpoint) it prints the mean squared change of velocity per cell, ``E|dv|^2`` (normalized
time, no pace clock), and the squared change of the mean velocity, ``|E dv|^2``: the part a
spline through the populations' means would remove. Then, from the means of 512-cell populations
at four points per interval (10 draws), the angle by which the mean path turns at the middle anchor
(between the velocities just before and after it, in real time), inside each interval (first
against last quarter) and between the chords of the training snapshots' means: a piecewise
geodesic turns only at the anchor, a spline does not turn there. An optional argument is a folder of saved fits
shared with the benchmark's ``--fit-cache``. The output method.md cites is ``results/kink_check.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/kink_check.py [fit-cache]
"""
import sys

import numpy as np
import torch

from wf_sc.benchmark.datasets import DATASETS
from wf_sc.benchmark.weightflow_methods import FitCache
from wf_sc._core.objectives import Segment, action_populations, _assignment
cache = FitCache(directory=sys.argv[1] if len(sys.argv) > 1 else None)
ds = DATASETS["emt10"]; data = ds.time_course(); times = data.times
for k_out in (1, 2):
    train = data.without(times[k_out])
    for seed in (3, 4, 5):
        model, _ = cache.get(train, seed, {})
        core = model.core
        torch.manual_seed(0); gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            grid, states, index = core.integrate_from(0, core.tau[[1, 2]])
            seg = Segment(0, [1, 2], grid, states, index)
            res = []
            for rep in range(20):
                pops = action_populations(core, seg, 128, gen, 2, None)
                c, tt = pops.cells, pops.clock
                fwd = [_assignment(c[m], c[m + 1]) for m in range(len(tt) - 1)]
                for m in range(1, len(tt) - 1):
                    back = torch.argsort(fwd[m - 1])
                    d0 = (tt[m] - tt[m - 1]).abs(); d1 = (tt[m + 1] - tt[m]).abs()
                    ch = (c[m + 1][fwd[m]] - c[m]) / d1 - (c[m] - c[m - 1][back]) / d0
                    res.append((m, float((ch ** 2).sum(-1).mean()), float((ch.mean(0) ** 2).sum())))
        r = np.array(res)
        out = []
        for m in (1, 2, 3):
            s = r[r[:, 0] == m]
            out.append(f"point {m}: E|dv|^2 {s[:,1].mean():.3f}, |E dv|^2 {s[:,2].mean():.4f} ({100*s[:,2].mean()/s[:,1].mean():.1f}%)")
        print(f"held out {times[k_out]}, seed {seed}: " + "; ".join(out), flush=True)


def angle(a, b):
    """Degrees between two vectors."""
    return float(np.degrees(np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))))


for k_out in (1, 2):
    train = data.without(times[k_out])
    tt = train.times
    m = [train.at(t).mean(0) for t in tt]
    for seed in (3, 4, 5):
        model, _ = cache.get(train, seed, {})
        core = model.core
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            grid, states, index = core.integrate_from(0, core.tau[[1, 2]])
            seg = Segment(0, [1, 2], grid, states, index)
            pops = [action_populations(core, seg, 512, gen, 4, None) for _ in range(10)]
        means = np.mean([p.cells.mean(1).numpy() for p in pops], 0) * core.x_scale.numpy()
        real = tt[0] + pops[0].tau.numpy() * (tt[-1] - tt[0])
        v = np.diff(means, axis=0) / np.diff(real)[:, None]  # 4 steps per interval: v[3] ends at the anchor
        print(f"held out {times[k_out]}, seed {seed}: the fitted mean path turns {angle(v[3], v[4]):.0f} deg at the middle "
              f"anchor (speed {np.linalg.norm(v[3]):.3f} -> {np.linalg.norm(v[4]):.3f}), {angle(v[0], v[3]):.0f} and "
              f"{angle(v[4], v[7]):.0f} deg inside the intervals; the chords of the training means turn "
              f"{angle(m[1] - m[0], m[2] - m[1]):.0f} deg", flush=True)

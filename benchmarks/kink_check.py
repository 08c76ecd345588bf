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
import numpy as np
import torch
from probe_folds import anchor_kink, default_fits, fit_cache, middle_anchor_segment

from wf_sc._core.objectives import action_populations
from wf_sc.benchmark.datasets import DATASETS


def angle(a, b):
    """Degrees between two vectors."""
    return float(np.degrees(np.arccos(np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))))


if __name__ == "__main__":
    cache = fit_cache(1)
    data = DATASETS["emt10"].time_course()
    times = data.times
    for t_out, seed, _, model in default_fits(cache):
        out = [f"point {m}: E|dv|^2 {e:.3f}, |E dv|^2 {mean:.4f} ({100 * mean / e:.1f}%)"
               for m, (e, mean) in enumerate(anchor_kink(model.core, seed), start=1)]
        print(f"held out {t_out}, seed {seed}: " + "; ".join(out), flush=True)
    for k_out in (1, 2):
        train = data.without(times[k_out])
        tt = train.times
        m = [train.at(t).mean(0) for t in tt]
        for seed in (3, 4, 5):
            core = cache.get(train, seed, {})[0].core
            gen = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                seg = middle_anchor_segment(core)
                pops = [action_populations(core, seg, 512, gen, 4, None) for _ in range(10)]
            means = np.mean([p.cells.mean(1).numpy() for p in pops], 0) * core.x_scale.numpy()
            real = tt[0] + pops[0].tau.numpy() * (tt[-1] - tt[0])
            v = np.diff(means, axis=0) / np.diff(real)[:, None]  # 4 steps per interval: v[3] ends at the anchor
            print(f"held out {times[k_out]}, seed {seed}: the fitted mean path turns {angle(v[3], v[4]):.0f} deg at the middle "
                  f"anchor (speed {np.linalg.norm(v[3]):.3f} -> {np.linalg.norm(v[4]):.3f}), {angle(v[0], v[3]):.0f} and "
                  f"{angle(v[4], v[7]):.0f} deg inside the intervals; the chords of the training means turn "
                  f"{angle(m[1] - m[0], m[2] - m[1]):.0f} deg", flush=True)

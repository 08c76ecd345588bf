"""Is the fitted path between two snapshots the displacement interpolation of its own end densities?

For each benchmark fold (dataset, seed, held-out interior time ``t_k``), one default fit without
``t_k`` is scored by exact W1 against the benchmark's reference cells of ``t_k``:

- ``transport``: the default prediction before met cells (observed cells of both neighbours moved
  along the flow, not paired; the CSV was made with it);
- ``sample``: fresh cells of the fitted density at ``t_k``;
- ``ot_real``: exact-OT displacement interpolation between the real neighbouring snapshots;
- ``ot_model``: the same between cells drawn from the *fitted* densities at the neighbouring times;

and ``geodesic_gap``, the smallest W1 between ``sample`` and the displacement interpolation of the
fitted ends at a fraction ``s'`` in 0, 0.05, ..., 1 (``geodesic_s``, the fraction that attains it;
the time fraction of ``t_k`` is ``s``), beside ``floor``, two disjoint sets of real cells of
``t_k``. A ``geodesic_gap`` at the floor means the model's interior is the displacement
interpolation of its own ends, reached at its own pace, so it can beat OT interpolation only
through its end densities and its pace::

    OMP_NUM_THREADS=1 python benchmarks/geodesic_check.py --datasets emt10 emt3 gradient_flow --seeds 0 1 \\
        --csv benchmarks/results/geodesic_check.csv
"""

from __future__ import annotations

import argparse
import sys


def w1(p, q) -> float:
    import ot

    return float(ot.emd2([], [], ot.dist(p, q, metric="euclidean")))


def displacement(x, y, s: float, m: int, rng):
    """``m`` cells of the exact-OT displacement interpolation ``(1 - s) x + s y``, drawn by the plan's mass."""
    import numpy as np
    import ot

    plan = ot.emd([], [], ot.dist(x, y))
    i, j = np.nonzero(plan > 1e-12)
    pick = rng.choice(len(i), m, p=plan[i, j] / plan[i, j].sum())
    return (1 - s) * x[i[pick]] + s * y[j[pick]]


def fold(name: str, seed: int, k: int, data) -> dict:
    import anndata as ad
    import numpy as np

    import wf_sc as wf
    from wf_sc.benchmark.datasets import DATASETS
    from wf_sc.tl._moving import move_observed
    from wf_sc.benchmark.protocol import held_out_halves

    times = data.times
    t_k, t_prev, t_next = float(times[k]), float(times[k - 1]), float(times[k + 1])
    half_a, ref = held_out_halves(data.at(times[k]), t_k, k, seed, 1000, DATASETS[name].ground_truth())
    m = len(ref)
    train = data.without(times[k])
    adata = ad.AnnData(X=np.asarray(train.X, dtype=np.float32))
    adata.obs["time"] = np.asarray(train.t, dtype=float)
    # the fit of the CSV: the default before the second-order action (ot_accel 0)
    wf.tl.fit(adata, "time", use_rep="X", progress=False, random_state=seed,
              config=wf.tl.Config(loss_weights={"ot_accel": 0.0}))
    model = wf.tl.WeightFlow.from_adata(adata)
    rng = np.random.default_rng(seed)
    s = (t_k - t_prev) / (t_next - t_prev)
    real = [data.at(t) for t in (t_prev, t_next)]
    real = [x[rng.choice(len(x), min(1000, len(x)), replace=False)] for x in real]
    ends = [model.sample(t_prev, 1000, random_state=seed), model.sample(t_next, 1000, random_state=seed + 1)]
    sample = np.asarray(wf.tl.interpolate(adata, t_k, n_cells=m, prediction="sample", random_state=seed).X)
    gaps = {round(f, 2): w1(sample, displacement(*ends, f, m, rng)) for f in np.linspace(0, 1, 21)}
    best = min(gaps, key=gaps.get)
    return {
        "dataset": name, "seed": seed, "held_out": t_k, "s": s,
        "transport": w1(move_observed(model, train.X, train.t, train.times, t_k, m, np.random.default_rng(seed))[0], ref),
        "sample": w1(sample, ref), "ot_real": w1(displacement(*real, s, m, rng), ref),
        "ot_model": w1(displacement(*ends, s, m, rng), ref), "geodesic_gap": gaps[best], "geodesic_s": best,
        "floor": w1(half_a, ref),
    }


def main(argv: list[str] | None = None) -> int:
    import pandas as pd
    import torch

    from wf_sc.benchmark.datasets import DATASETS

    p = argparse.ArgumentParser(prog="python benchmarks/geodesic_check.py", description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["emt10"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--csv", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.datasets:
        data = DATASETS[name].time_course()
        for seed in args.seeds:
            for k in range(1, len(data.times) - 1):
                rows.append(fold(name, seed, k, data))
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    cols = ["transport", "sample", "ot_real", "ot_model", "geodesic_gap", "floor", "s", "geodesic_s"]
    print(table.groupby("dataset")[cols].mean().round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())

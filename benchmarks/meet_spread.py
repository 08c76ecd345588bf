"""How spread out each prediction of a held-out time is, against the real cells.

Met cells average two cells, so they may shrink the population. For every outer fold of the
leave-one-out (the benchmark's training cells, seeds and scored halves), this prints and saves the
mean squared distance of the cells to their centroid, ``mean_i ||x_i - mean(x)||^2``, for the real
held-out cells (half B), the default call's met cells, the transported cells of the default before
it (``wf_transport``) and exact-OT interpolation.

Examples
--------
::

    python benchmarks/meet_spread.py --fit-cache <folder of python -m wf_sc.benchmark --fit-cache>
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    from wf_sc.benchmark.baselines import ot_interpolation, time_fraction
    from wf_sc.benchmark.datasets import DATASETS
    from wf_sc.benchmark.methods import FitCache
    from wf_sc.benchmark.protocol import held_out_halves, held_out_indices
    from wf_sc.tl._moving import meet_observed, move_observed, spread

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["emt10", "dendritic30", "gradient_flow"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--fit-cache", default=None, help="reuse the benchmark's saved fits (else fit anew)")
    parser.add_argument("--csv", default=str(HERE / "results" / "meet_spread.csv"))
    args = parser.parse_args(argv)
    cache = FitCache(directory=args.fit_cache)
    rows = []
    for name in args.datasets:
        full = DATASETS[name].time_course(False)
        for seed in args.seeds:
            for k in held_out_indices(full.times, None):
                t_k = float(full.times[k])
                train = full.without(t_k)
                _, real = held_out_halves(full.at(t_k), t_k, k, seed, 1000)
                m = len(real)
                model, _ = cache.get(train, seed, {"loss_weights": {"ot_accel": 0.0}})  # the fits of the CSV: before the second-order action
                met = meet_observed(model, train.X, train.t, train.times, t_k, m, np.random.default_rng(seed))[0]
                moved = move_observed(model, train.X, train.t, train.times, t_k, m, np.random.default_rng(seed))[0]
                prev, nxt = train.neighbours(t_k)
                ot = ot_interpolation(train.at(prev), train.at(nxt), time_fraction(prev, nxt, t_k), m,
                                      np.random.default_rng(seed))
                rows.append({"dataset": name, "seed": seed, "held_out": t_k, "real": spread(real), "meet": spread(met),
                             "transport": spread(moved), "ot": spread(ot)})
    table = pd.DataFrame(rows)
    table.to_csv(args.csv, index=False)
    mean = table.groupby("dataset", sort=False)[["real", "meet", "transport", "ot"]].mean()
    print((mean.div(mean["real"], axis=0)).round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

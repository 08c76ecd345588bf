"""Where the default prediction's error comes from: the flow's landing error beside the benchmark's.

For every benchmark dataset, seed and held-out interior time ``t_k`` (the benchmark's folds), one
default fit without ``t_k`` (the same fit as the benchmark's ``weightflow`` row) is scored by exact
W1 in five ways:

- ``pred``: the prediction at ``t_k`` of the default before met cells (the transport of the
  neighbours' observed cells, the benchmark's ``wf_transport``; the CSV was made with it), against the benchmark's reference (so it equals the benchmark's
  value for the same seed and fold); ``ot``: exact-OT interpolation, against the same reference;
  ``floor``: the benchmark's floor;
- ``carry``: ``m`` observed cells of ``t_prev`` moved along the fitted flow all the way to
  ``t_next``, against ``m`` real cells of ``t_next`` (and back from ``t_next`` to ``t_prev``;
  the mean of both directions). OT interpolation lands on the real cells by construction; the
  fitted flow lands where its densities put them;
- ``sample``: ``m`` fresh cells of the fitted density at ``t_prev`` and ``t_next``, against the
  same real cells (how well the anchors fit the snapshots they were fitted to);
- ``floor_ends``: two disjoint sets of ``m`` real cells at ``t_prev`` and ``t_next``: what
  sampling noise alone costs there;
- ``mean_pred``, ``mean_ot``, ``mean_bend``: the distance from the mean of the reference to the mean
  of the default prediction, of exact-OT interpolation (the chord between the neighbours' means)
  and of ``ot_bend`` (the spline through all training means), ``mean_floor`` that of the floor's
  cells: how much of the error is the population's centre.

Each fold is appended to ``--csv`` as soon as it ends; folds already there are skipped
(resumable). ``--fit-cache`` shares the fits with ``python -m wf_sc.benchmark --fit-cache``::

    OMP_NUM_THREADS=1 python benchmarks/error_budget.py --seeds 0 1 2 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

FIELDS = ("dataset", "seed", "held_out", "m", "pred", "ot", "floor", "carry_fwd", "carry_bwd", "sample_prev",
          "sample_next", "floor_prev", "floor_next", "mean_pred", "mean_ot", "mean_bend", "mean_floor")


def fold(name: str, seed: int, k: int, cache, max_cells: int = 1000, settings: dict | None = None,
         data=None) -> dict:
    """The scores of one fold (module notes); ``settings``: WeightFlow settings other than the defaults;
    ``data``: the dataset's time course, if loaded already."""
    import numpy as np

    from wf_sc.benchmark.datasets import DATASETS
    from wf_sc.benchmark.methods import OTBend, Pairwise, WeightFlowMethod
    from wf_sc.benchmark.metrics import w1
    from wf_sc.benchmark.protocol import held_out_halves, stream

    dataset = DATASETS[name]
    data = dataset.time_course() if data is None else data
    times = data.times
    t_k = float(times[k])
    train = data.without(times[k])
    half_a, ref = held_out_halves(data.at(times[k]), t_k, k, seed, max_cells, dataset.ground_truth())
    # the fit of the CSV: the default before the second-order action (ot_accel 0)
    m, settings = len(half_a), {"loss_weights": {"ot_accel": 0.0}, **(settings or {})}
    # the benchmark's draws: the same streams as leave_one_out gives its "weightflow" and "ot" rows
    pred = WeightFlowMethod(settings, cache).predict(train, t_k, m, seed, np.random.default_rng(stream(seed, k, "weightflow")),
                                               {"prediction": "transport"})
    ot = Pairwise("ot").predict(train, t_k, m, seed, np.random.default_rng(stream(seed, k, "ot")), {})
    bend = OTBend().predict(train, t_k, m, seed, np.random.default_rng(stream(seed, k, "ot_bend")), {})
    row = {"dataset": name, "seed": seed, "held_out": t_k, "m": m, "pred": w1(pred, ref), "ot": w1(ot, ref),
           "floor": w1(half_a, ref)}
    for key, cells in (("pred", pred), ("ot", ot), ("bend", bend), ("floor", half_a)):
        row[f"mean_{key}"] = float(np.linalg.norm(cells.mean(0) - ref.mean(0)))
    model, _ = cache.get(train, seed, settings)
    t_prev, t_next = train.neighbours(t_k)
    rng = np.random.default_rng(stream(seed, k, "error_budget"))
    for side, (u_from, u_to) in (("fwd", (t_prev, t_next)), ("bwd", (t_next, t_prev))):
        src, dst = train.at(u_from), train.at(u_to)
        n = min(m, len(dst) // 2)
        perm = rng.permutation(len(dst))
        real, other = dst[perm[:n]], dst[perm[n : 2 * n]]
        moved = model.transport(src[rng.choice(len(src), n, replace=len(src) < n)], u_from, u_to)
        end = "next" if side == "fwd" else "prev"
        row[f"carry_{side}"] = w1(moved, real)
        row[f"sample_{end}"] = w1(model.sample(u_to, n, random_state=seed), real)
        row[f"floor_{end}"] = w1(other, real)
    return row


def summary(rows: list[dict]) -> str:
    """Per dataset, means over folds and seeds: the benchmark's gap and the flow's landing error."""
    import pandas as pd

    d = pd.DataFrame(rows)
    d["carry"] = (d.carry_fwd + d.carry_bwd) / 2
    d["sample"] = (d.sample_prev + d.sample_next) / 2
    d["floor_ends"] = (d.floor_prev + d.floor_next) / 2
    g = d.groupby("dataset", sort=False)
    lines = ["| dataset | folds | floor | pred | ot | pred − ot | floor at the ends | carry | carry − floor | "
             "sample | sample − floor | mean off: floor | pred | ot | ot_bend |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, x in g:
        lines.append(f"| {name} | {len(x)} | {x.floor.mean():.4g} | {x.pred.mean():.4g} | {x.ot.mean():.4g} | "
                     f"{(x.pred - x.ot).mean():+.3g} | {x.floor_ends.mean():.4g} | {x.carry.mean():.4g} | "
                     f"{(x.carry - x.floor_ends).mean():+.3g} | {x['sample'].mean():.4g} | "
                     f"{(x['sample'] - x.floor_ends).mean():+.3g} | {x.mean_floor.mean():.3g} | "
                     f"{x.mean_pred.mean():.3g} | {x.mean_ot.mean():.3g} | {x.mean_bend.mean():.3g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/error_budget.py", description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=None, help="benchmark datasets (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data-dir", default=None, help="where the real datasets are (WF_SC_DATA_DIR)")
    p.add_argument("--fit-cache", default=None, help="a folder of saved fits (shared with the benchmark's)")
    p.add_argument("--csv", type=Path, default=Path(__file__).parent / "results" / "error_budget.csv")
    p.add_argument("--report-only", action="store_true", help="print the summary of --csv, run nothing")
    args = p.parse_args(argv)
    if args.data_dir is not None:
        os.environ["WF_SC_DATA_DIR"] = str(Path(args.data_dir).expanduser())
    import pandas as pd
    import torch

    from wf_sc.benchmark.datasets import DATASETS
    from wf_sc.benchmark.methods import FitCache
    from wf_sc.benchmark.protocol import held_out_indices

    torch.set_num_threads(1)
    rows = pd.read_csv(args.csv).to_dict("records") if args.csv.exists() else []
    if not args.report_only:
        done = {(r["dataset"], int(r["seed"]), float(r["held_out"])) for r in rows}
        cache = FitCache(directory=args.fit_cache)
        for name in args.datasets or list(DATASETS):
            data = DATASETS[name].time_course()
            for seed in args.seeds:
                for k in held_out_indices(data.times, None):
                    if (name, seed, float(data.times[k])) in done:
                        continue
                    row = fold(name, seed, k, cache, data=data)
                    rows.append(row)
                    print(f"{name} seed {seed} t={row['held_out']:g}: pred {row['pred']:.4g}, ot {row['ot']:.4g}, "
                          f"carry {row['carry_fwd']:.4g}/{row['carry_bwd']:.4g} (floor "
                          f"{row['floor_next']:.4g}/{row['floor_prev']:.4g})", flush=True)
                    args.csv.parent.mkdir(parents=True, exist_ok=True)
                    pd.DataFrame([row], columns=list(FIELDS)).to_csv(args.csv, mode="a", header=not args.csv.exists(),
                                                                     index=False)
    if rows:
        print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

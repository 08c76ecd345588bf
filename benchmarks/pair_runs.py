"""One method's rows in two benchmark CSVs, paired per seed: mean W1 in each and the second minus the first.

    python benchmarks/pair_runs.py FIRST.csv SECOND.csv [--method weightflow] [--second-method NAME]

``--second-method`` reads another method's rows from the second CSV (two methods of one run:
``pair_runs.py headline.csv headline.csv --method ot --second-method ot_meet``); ``--by-time`` pairs
each held-out time on its own.

A CSV from the git history is read with ``git show <commit>:benchmarks/results/headline.csv > first.csv``.
The difference per seed is averaged over the held-out times both runs have
(:func:`wf_sc.benchmark.summary.paired`), then over seeds (± its standard error).
"""

from __future__ import annotations

import argparse

import pandas as pd

from wf_sc.benchmark.summary import paired


def paired_runs(
    first: pd.DataFrame, second: pd.DataFrame, method: str = "weightflow", second_method: str | None = None
) -> pd.DataFrame:
    """``method``'s W1 rows of two runs (``second_method``'s in the second, if given) paired per seed,
    per dataset: columns ``first`` and ``second`` (mean W1), ``diff`` (second − first), ``se``,
    ``ahead`` (seeds where the second is lower), ``n_seeds``."""
    methods = (method, second_method or method)
    runs = [d[(d["method"] == m) & (d["metric"] == "w1")].assign(method=label)
            for d, m, label in zip((first, second), methods, ("first", "second"))]
    df = pd.concat(runs)
    means = df.groupby(["dataset", "method"], sort=False)["value"].mean().unstack("method")
    diff = paired(df, method="second").set_index("dataset")
    return means[["first", "second"]].join(diff[["diff", "se", "ahead", "n_seeds"]], how="inner").loc[diff.index]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--method", default="weightflow")
    p.add_argument("--second-method", default=None, help="the method read from the second CSV (default: --method)")
    p.add_argument("--by-time", action="store_true", help="one row per dataset and held-out time")
    args = p.parse_args()
    runs = [pd.read_csv(path) for path in (args.first, args.second)]
    if args.by_time:
        runs = [d.assign(dataset=d["dataset"] + " t=" + d["held_out"].map("{:g}".format)) for d in runs]
    table = paired_runs(*runs, args.method, args.second_method)
    print("| dataset | seeds | mean W1, first | second | second − first (± SE) | second lower |")
    print("|---|---:|---:|---:|---:|---:|")
    for dataset, r in table.iterrows():
        n = int(r["n_seeds"])
        print(f"| {dataset} | {n} | {r['first']:.4g} | {r['second']:.4g} | "
              f"{r['diff']:+.3g} ± {r['se']:.2g} | {int(r['ahead'])}/{n} |")


if __name__ == "__main__":
    main()

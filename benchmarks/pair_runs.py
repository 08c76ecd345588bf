"""One method's rows in two benchmark CSVs, paired per seed: mean W1 in each and the second minus the first.

    python benchmarks/pair_runs.py FIRST.csv SECOND.csv [--method weightflow]

A CSV from the git history is read with ``git show <commit>:benchmarks/results/headline.csv > first.csv``.
The difference per seed is averaged over the held-out times both runs have
(:func:`wf_sc.benchmark.summary.paired`), then over seeds (± its standard error).
"""

from __future__ import annotations

import argparse

import pandas as pd

from wf_sc.benchmark.summary import paired


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--method", default="weightflow")
    args = p.parse_args()
    runs = [pd.read_csv(path) for path in (args.first, args.second)]
    runs = [d[(d["method"] == args.method) & (d["metric"] == "w1")].assign(method=label)
            for d, label in zip(runs, ("first", "second"))]
    df = pd.concat(runs)
    means = df.groupby(["dataset", "method"], sort=False)["value"].mean().unstack("method")
    diff = paired(df, method="second").set_index("dataset")
    print(f"| dataset | seeds | mean W1, first | second | second − first (± SE) | second lower |")
    print("|---|---:|---:|---:|---:|---:|")
    for dataset, r in diff.iterrows():
        print(f"| {dataset} | {r['n_seeds']} | {means.loc[dataset, 'first']:.4g} | {means.loc[dataset, 'second']:.4g} | "
              f"{r['diff']:+.3g} ± {r['se']:.2g} | {r['ahead']}/{r['n_seeds']} |")


if __name__ == "__main__":
    main()

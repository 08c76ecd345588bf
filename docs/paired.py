"""Per-seed comparisons of one method with the others, from the tidy tables of the benchmark.

Usage::

    python docs/paired.py docs/benchmarks_toggle_10seeds.csv [more.csv ...] [--method weightflow] [--metric w1]

The benchmark pages give each method's mean and spread over seeds; the methods share the seeds'
held-out cells, so their comparison is paired. For every dataset and every other method this
prints, from the values averaged over held-out times per seed: both means, the per-seed difference
(method minus other; negative: the method is better) as mean ± standard deviation and its
standard error, and on how many seeds the method is ahead. Several tables are concatenated (the
later wins where they share a dataset, method and seed, as in an ablation run on top of the
benchmark's table).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def per_seed(tables: list[pd.DataFrame], metric: str) -> pd.DataFrame:
    """Values averaged over held-out times: index (dataset, seed), one column per method."""
    rows = pd.concat(tables, ignore_index=True)
    rows = rows[(rows.metric == metric) & (rows.method != "floor")]
    rows = rows.drop_duplicates(["dataset", "held_out", "method", "seed"], keep="last")
    return rows.groupby(["dataset", "seed", "method"]).value.mean().unstack("method")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+")
    parser.add_argument("--method", default="weightflow")
    parser.add_argument("--metric", default="w1")
    args = parser.parse_args()
    values = per_seed([pd.read_csv(p) for p in args.tables], args.metric)
    print(f"| dataset | other | seeds | {args.method} | other | difference | SE | {args.method} ahead |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for dataset, table in values.groupby(level="dataset", sort=False):
        for other in table.columns.drop(args.method):
            pair = table[[args.method, other]].dropna()
            if pair.empty:
                continue
            diff = pair[args.method] - pair[other]
            sd = diff.std(ddof=1) if len(diff) > 1 else float("nan")
            print(
                f"| {dataset} | {other} | {len(diff)} | {pair[args.method].mean():.4g} | {pair[other].mean():.4g} "
                f"| {diff.mean():+.4g} ± {sd:.2g} | {sd / np.sqrt(len(diff)):.2g} | {(diff < 0).sum()}/{len(diff)} |"
            )


if __name__ == "__main__":
    main()

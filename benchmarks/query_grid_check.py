"""How reading the fitted path on a fixed query grid changes the default call's predictions.

Pairs ``weightflow`` rows of benchmark CSVs made from the same cached fits (seeds 3-5, every
dataset) per seed (:func:`wf_sc.benchmark.summary.paired`): each query on its own grid (commit
``f5eeb19``, ``query_grid_f5eeb19.csv``) against the fixed grid with 4 sub-steps per anchor interval
(training's, ``query_grid_q4.csv``) and with 32 (the default, ``query_grid_q32.csv``). The CSVs came from

    python -m wf_sc.benchmark --seeds 3 4 5 --methods weightflow --fit-cache <folder> --threads 1 \\
        --csv <csv> [--set query_steps=4]

run at each commit on the same fit cache.

    python benchmarks/query_grid_check.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from wf_sc.benchmark.summary import paired

RESULTS = Path(__file__).parent / "results"
RUNS = {"f5eeb19": "query_grid_f5eeb19.csv", "q4": "query_grid_q4.csv", "q32": "query_grid_q32.csv"}


def main() -> None:
    frames = []
    for label, name in RUNS.items():
        d = pd.read_csv(RESULTS / name)
        frames.append(d[d["method"] == "weightflow"].assign(method=label))
    df = pd.concat(frames)
    means = df[df["metric"] == "w1"].groupby(["dataset", "method"])["value"].mean().unstack("method")
    rows = []
    for label in ("q4", "q32"):
        p = paired(df[df["method"].isin([label, "f5eeb19"])], method=label)
        rows.append(p.set_index("dataset")[["diff", "se", "ahead", "n_seeds"]].add_prefix(f"{label}_"))
    table = means[list(RUNS)].join(rows)
    print("| dataset | seeds | mean W1 f5eeb19 | 4 sub-steps | 32 sub-steps | 4 − f5eeb19 | 32 − f5eeb19 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for dataset, r in table.iterrows():
        print(f"| {dataset} | {int(r['q32_n_seeds'])} | {r['f5eeb19']:.4f} | {r['q4']:.4f} | {r['q32']:.4f} | "
              f"{r['q4_diff']:+.4f} ± {r['q4_se']:.4f} | {r['q32_diff']:+.4f} ± {r['q32_se']:.4f} |")


if __name__ == "__main__":
    main()

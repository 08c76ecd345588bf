"""How reading the fitted path on a fixed query grid changes the default call's predictions.

Pairs ``weightflow`` rows of benchmark CSVs made from the same cached fits (seeds 3-5, every
dataset) per seed (``pair_runs.paired_runs``): each query on its own grid (commit
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

from pair_runs import paired_runs

RESULTS = Path(__file__).parent / "results"
RUNS = {"f5eeb19": "query_grid_f5eeb19.csv", "q4": "query_grid_q4.csv", "q32": "query_grid_q32.csv"}


def main() -> None:
    before = pd.read_csv(RESULTS / RUNS["f5eeb19"])
    q4, q32 = (paired_runs(before, pd.read_csv(RESULTS / RUNS[label])) for label in ("q4", "q32"))
    print("| dataset | seeds | mean W1 f5eeb19 | 4 sub-steps | 32 sub-steps | 4 − f5eeb19 | 32 − f5eeb19 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for dataset in sorted(q32.index):
        a, b = q4.loc[dataset], q32.loc[dataset]
        print(f"| {dataset} | {int(b['n_seeds'])} | {b['first']:.4f} | {a['second']:.4f} | {b['second']:.4f} | "
              f"{a['diff']:+.4f} ± {a['se']:.4f} | {b['diff']:+.4f} ± {b['se']:.4f} |")


if __name__ == "__main__":
    main()

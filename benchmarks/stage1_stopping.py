"""Stage 1's early stopping: when each anchor's validation NLL stops improving, and what a rule costs.

Each dataset is fitted with patience and the rise rule (``stage1_stop_z``) switched off, so every
anchor runs its whole budget (1500 steps for the first, 500 for the others) and records its
validation NLL and, at every score, the paired
z-score of the validation cells' NLL above the best weights so far
(``history['stage1']['rise_z']``, :func:`wf_sc._core.anchors.rise_z`). A stopping rule only ends a
run, so the rules are then replayed on the recorded curves: for each, the steps it trains and the
best validation NLL it keeps, against patience 6 (the default) and against the whole budget.
(In a real fit a shorter run also shifts the later anchors' starts and random draws; the replay
keeps the chain of the whole-budget run.) ``docs/performance.md`` quotes::

    OMP_NUM_THREADS=1 python benchmarks/stage1_stopping.py --seeds 0 1 2 --csv benchmarks/results/stage1_stopping.csv
    OMP_NUM_THREADS=1 python benchmarks/stage1_stopping.py --time emt10 --reps 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

EVAL_EVERY = 50  # Stage 1 scores the validation NLL every 50 steps


def replay(curve: list[float], rises: list[float], patience: int, stop_z: float | None, runs: int = 2
           ) -> tuple[int, float]:
    """(steps trained, best validation NLL kept) of a stopping rule on a whole-budget curve: ``patience``
    scores without improvement, or ``runs`` consecutive scores with a rise z-score above ``stop_z``
    (:class:`wf_sc._core.anchors.EarlyStop`; the package stops at ``runs=2``).

    ``curve[i]`` is the score after ``(i + 1) * EVAL_EVERY`` steps (the last one at the budget);
    the score of the starting weights is not recorded, so the best starts at the first score.
    """
    from wf_sc._core.anchors import EarlyStop

    rule = EarlyStop(np.inf, patience, stop_z, runs)
    for i, (nll, z) in enumerate(zip(curve, rises)):
        if not rule.score(nll, z) and rule.stop:
            return (i + 1) * EVAL_EVERY, rule.best
    return len(curve) * EVAL_EVERY, rule.best


def synthetic_30d():
    import wf_sc as wf

    flow = wf.datasets.GradientFlow(dim=30, random_state=0)
    return flow.sample(times=tuple(np.linspace(0, 2, 6)), n_cells=2000, random_state=0), "X"


def record(datasets: list[str], seeds: list[int], csv: Path) -> None:
    """Fit each dataset and seed with patience off; append one row per anchor to ``csv``."""
    import pandas as pd
    import torch

    import wf_sc as wf
    from wf_sc.benchmark.datasets import DATASETS

    torch.set_num_threads(1)
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=["dataset", "seed"])
    config = wf.tl.Config(patience=10**6, stage1_stop_z=None, stage2_steps=0)
    for name in datasets:
        if name == "gradient30":
            data, rep = synthetic_30d()
        else:
            data, rep = DATASETS[name].load(False), DATASETS[name].use_rep
        for seed in seeds:
            if ((done["dataset"] == name) & (done["seed"] == seed)).any():
                continue
            adata = data.copy()
            wf.tl.fit(adata, "time", use_rep=rep, random_state=seed, progress=False, config=config)
            h = adata.uns["weightflow"]["history"]["stage1"]
            rows = [{"dataset": name, "seed": seed, "anchor": int(k), "cells": int((adata.obs["time"] == t).sum()),
                     "curve": json.dumps(np.asarray(h["curves"][k]).tolist()),
                     "rise_z": json.dumps(np.asarray(h["rise_z"][k]).tolist())}
                    for k, t in zip(sorted(h["curves"], key=int), np.unique(adata.obs["time"]))]
            pd.DataFrame(rows).to_csv(csv, mode="a", header=not csv.exists(), index=False)
            print(f"{name} seed {seed}: {len(rows)} anchors, {h['seconds']:.1f} s", flush=True)


def parse_rule(spec: str) -> tuple[int, float | None, int]:
    """``"p4"``: patience 4 alone; ``"z3x2"``: patience 6, or a rise above z = 3 at 2 consecutive scores."""
    if spec.startswith("p"):
        return int(spec[1:]), None, 1
    z, runs = spec[1:].split("x")
    return 6, float(z), int(runs)


def summarize(csv: Path, rules: list[str]) -> str:
    """Markdown table: per dataset, steps trained and best validation NLL kept by each rule, against patience 6."""
    import pandas as pd

    table = pd.read_csv(csv)
    head = " | ".join(rules)
    lines = [f"| dataset | anchors | steps: whole budget | p6 | {head} | NLL lost, mean (max): {head} |",
             "|---|---:|---:|---:|" + "---:|" * len(rules) + "---|" * len(rules)]
    for name, group in table.groupby("dataset", sort=False):
        base = replay_all(group, "p6")
        results = {spec: replay_all(group, spec) for spec in rules}
        total = sum(len(json.loads(c)) * EVAL_EVERY for c in group["curve"])
        lost = {spec: np.asarray(results[spec][1]) - np.asarray(base[1]) for spec in rules}
        lines.append(f"| {name} | {len(group)} | {total} | {base[0]} | "
                     + " | ".join(str(results[spec][0]) for spec in rules) + " | "
                     + " | ".join(f"{lost[spec].mean():.4f} ({lost[spec].max():.3f})" for spec in rules) + " |")
    return "\n".join(lines)


def replay_all(group, spec: str) -> tuple[int, list[float]]:
    """Total steps and per-anchor best validation NLL of the rule ``spec`` over the rows ``group``."""
    patience, stop_z, runs = parse_rule(spec)
    steps, kept = 0, []
    for curve, rises in zip(group["curve"], group["rise_z"]):
        n, best = replay(json.loads(curve), json.loads(rises), patience, stop_z, runs)
        steps += n
        kept.append(best)
    return steps, kept


def time_fits(name: str, reps: int) -> None:
    """Default fits of one dataset with the rule and without it, alternating in this process."""
    import time

    import torch

    import wf_sc as wf
    from wf_sc.benchmark.datasets import DATASETS

    torch.set_num_threads(1)
    dataset = DATASETS[name]
    data = dataset.load(False)
    seen: dict[str, list] = {"rule": [], "patience alone": []}
    for _ in range(reps):
        for label, stop_z in (("rule", 3.0), ("patience alone", None)):
            adata, start = data.copy(), time.perf_counter()
            wf.tl.fit(adata, "time", use_rep=dataset.use_rep, progress=False, config=wf.tl.Config(stage1_stop_z=stop_z))
            h = adata.uns["weightflow"]["history"]["stage1"]
            seen[label].append((time.perf_counter() - start, h["seconds"], int(np.sum(h["steps"]))))
    for label, rows in seen.items():
        fit, stage1, steps = np.median(np.asarray(rows), axis=0)
        print(f"{name}, {label}: fit {fit:.1f} s, stage 1 {stage1:.1f} s, {steps:.0f} stage-1 steps (medians of {reps})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/stage1_stopping.py", description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["emt10", "emt3", "hematopoiesis", "dendritic", "dendritic30",
                                                     "gradient_flow", "toggle_switch", "gradient30"],
                   help="benchmark datasets, and gradient30 (30-D gradient flow, 6 times of 2,000 cells)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--rules", nargs="+", default=["p4", "p3", "z3x1", "z3x2", "z5x1"],
                   help="rules to replay: pN (patience N) or zZxR (patience 6, or a rise z-score above Z at R "
                        "consecutive scores; the package's stage1_stop_z=Z is zZx2)")
    p.add_argument("--csv", type=Path, help="rows per anchor (resumed if present)")
    p.add_argument("--report-only", action="store_true", help="replay the rules on the CSV without fitting")
    p.add_argument("--time", metavar="DATASET", help="instead: time default fits of DATASET with and without the rule")
    p.add_argument("--reps", type=int, default=3, help="alternations of --time")
    args = p.parse_args(argv)
    if args.time:
        time_fits(args.time, args.reps)
        return 0
    if args.csv is None:
        p.error("--csv is needed unless --time is given")
    if not args.report_only:
        record(args.datasets, args.seeds, args.csv)
    print(summarize(args.csv, args.rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())

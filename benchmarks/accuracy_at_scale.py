"""Does a default fit keep getting better with more cells? Held-out W1 against the two-sample floor.

A linear gradient flow (:class:`wf_sc.datasets.GradientFlow`, exact Gaussian marginals) is sampled
at ``--times`` equally spaced times with ``n`` cells each; the middle time is removed, a default
fit (``wf.tl.fit``, or ``--efforts``) predicts it, by default with transported cells and without
the second-order action (the default prediction and fit with which ``results/accuracy_at_scale.csv``
was made; ``--prediction meet --ot-accel 0.5`` is today's default call), and the prediction is
scored two ways:

- ``w1``: exact W1 against 1,000 fresh cells of the true population; ``floor``: the W1 between two
  independent samples of 1,000 true cells, what sampling noise alone costs;
- ``bw``: the Bures-Wasserstein distance between the Gaussian with the mean and covariance of
  20,000 predicted cells and the exact (Gaussian) true marginal; ``bw_floor``: the same for 20,000
  true cells. In 10 dimensions W1 on 1,000 cells is dominated by sampling noise; ``bw`` sees errors
  in the first two moments far below it.

If the fit's fixed step budget were enough, the gap to the floor would shrink as ``n`` grows.

Each run is appended to ``--csv`` as soon as it ends; runs already there are skipped (resumable)::

    OMP_NUM_THREADS=1 python benchmarks/accuracy_at_scale.py --cells 1000 10000 100000 --dim 10

``--stage1-max-steps`` and ``--stage2-steps`` change one budget; each budget, prediction, weight of
the second-order action and commit of the code (column ``code``) is a row of its own.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

FIELDS = ("dim", "cells", "effort", "seed", "w1", "floor", "bw", "bw_floor", "fit_seconds", "stage1_max_steps",
          "stage1_steps", "stage2_steps", "stage2_validation", "stage2_steps_taken", "code", "prediction", "ot_accel")


def bures_wasserstein(x, mean, cov) -> float:
    """``W2(N(mean_x, cov_x), N(mean, cov))`` with ``mean_x, cov_x`` the moments of the cells ``x``:

    .. math:: W_2^2 = \\lVert m_x - m\\rVert^2 + \\mathrm{tr}\\big(S_x + S - 2 (S^{1/2} S_x S^{1/2})^{1/2}\\big).
    """
    import numpy as np
    from scipy.linalg import sqrtm

    mx, sx = x.mean(0), np.cov(x.T)
    root = np.real(sqrtm(cov))
    cross = np.real(sqrtm(root @ sx @ root))
    return float(np.sqrt(max(np.sum((mx - mean) ** 2) + np.trace(sx + cov - 2 * cross), 0.0)))


def code_version() -> str:
    """Short git commit of the wf_sc that runs (``unknown`` outside a git checkout)."""
    from wf_sc.benchmark.report import code_version as version

    return version()


def fit_settings(quick: bool, stage1_max_steps: int | None, stage2_steps: int | None = None,
                 stage2_validation: bool = False, ot_accel: float = 0.0) -> dict:
    """The :class:`wf_sc.tl.Config` fields a run sets: tiny budgets with ``quick``, the warm-started
    anchors' step cap, Stage 2's step count (its cap with ``stage2_validation``) when given."""
    out = {"stage1_max_steps_first": 60, "stage1_max_steps": 30, "stage2_steps": 3} if quick else {}
    out["loss_weights"] = {"ot_accel": ot_accel}  # 0: the fits of the first CSV, before the second-order action
    if stage1_max_steps is not None:
        out["stage1_max_steps"] = stage1_max_steps
    if stage2_steps is not None:
        out["stage2_steps"] = stage2_steps
    if stage2_validation:
        out["stage2_validation"] = True
    return out


def run(dim: int, cells: int, effort: str, seed: int, n_times: int, n_eval: int = 1000, quick: bool = False,
        stage1_max_steps: int | None = None, stage2_steps: int | None = None, stage2_validation: bool = False,
        prediction: str = "transport", ot_accel: float = 0.0) -> dict:
    """One fit without the middle time, scored at it; ``stage1_max_steps`` overrides the warm-started
    anchors' step cap, ``stage2_steps`` Stage 2's step count (``None``: the package defaults);
    ``prediction``: ``"transport"`` (transported cells) or ``"meet"`` (``wf.tl.interpolate``'s met cells);
    ``ot_accel``: the weight of the second-order action."""
    import numpy as np

    import wf_sc as wf
    from wf_sc.benchmark.metrics import w1
    from wf_sc.tl._moving import move_observed

    times = tuple(np.linspace(0.0, 2.0, n_times))
    held = float(times[n_times // 2])
    flow = wf.datasets.GradientFlow(dim=dim, random_state=0)
    train = flow.sample(times=tuple(t for t in times if t != held), n_cells=cells, random_state=seed)
    config = wf.tl.Config(n_threads=1, **fit_settings(quick, stage1_max_steps, stage2_steps, stage2_validation, ot_accel))
    start = time.perf_counter()
    wf.tl.fit(train, "time", use_rep="X", effort=effort, config=config, progress=False)
    fit_seconds = time.perf_counter() - start
    history = wf.tl.WeightFlow.from_adata(train).history
    # the prediction of the default before met cells (transported cells), as in the CSV
    model = wf.tl.WeightFlow.from_adata(train)
    X, t = np.asarray(train.X, dtype=np.float32), train.obs["time"].to_numpy(dtype=float)

    def moved(n: int) -> np.ndarray:
        if prediction == "meet":
            return np.asarray(wf.tl.interpolate(train, held, n_cells=n, random_state=seed).X, np.float64)
        return np.asarray(move_observed(model, X, t, np.unique(t), held, n, np.random.default_rng(seed))[0], np.float64)

    pred = moved(n_eval)
    truth = flow.population(held, n_eval, 10_000 + seed)
    other = flow.population(held, n_eval, 20_000 + seed)
    big = moved(20 * n_eval)
    mean, cov = flow.mean(held), flow.cov(held)
    return {"dim": dim, "cells": cells, "effort": effort, "seed": seed, "w1": w1(pred, truth),
            "floor": w1(other, truth), "bw": bures_wasserstein(big, mean, cov),
            "bw_floor": bures_wasserstein(flow.population(held, 20 * n_eval, 30_000 + seed), mean, cov),
            "fit_seconds": round(fit_seconds, 1), "stage1_max_steps": config.stage1_max_steps,
            # optimizer steps each anchor took before early stopping (or its cap)
            "stage1_steps": " ".join(str(int(s)) for s in history["stage1"]["steps"]),
            # the configured budgets, before ``effort`` scales them
            "stage2_steps": config.stage2_steps, "stage2_validation": config.stage2_validation,
            "stage2_steps_taken": len(history["stage2"]["total"]),
            "code": code_version(), "prediction": prediction, "ot_accel": ot_accel}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/accuracy_at_scale.py", description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--cells", type=int, nargs="+", default=[1000, 10_000, 100_000])
    p.add_argument("--efforts", nargs="+", default=["default"], choices=["fast", "default", "thorough"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--times", type=int, default=5, help="snapshots before the middle one is held out")
    p.add_argument("--quick", action="store_true", help="tiny training budgets (a smoke run)")
    p.add_argument("--stage1-max-steps", type=int, default=None,
                   help="step cap of Stage 1's warm-started anchors (default: the package's)")
    p.add_argument("--stage2-steps", type=int, default=None, help="Stage 2's step count (default: the package's)")
    p.add_argument("--stage2-validation", action="store_true",
                   help="Stage 2 stops on held-out cells; --stage2-steps is then its cap")
    p.add_argument("--prediction", default="transport", choices=["transport", "meet"],
                   help="transported cells (the CSV's) or met cells (today's default)")
    p.add_argument("--ot-accel", type=float, default=0.0,
                   help="weight of the second-order action (0: the CSV's fits; 0.5: today's default)")
    p.add_argument("--csv", type=Path, default=Path(__file__).parent / "results" / "accuracy_at_scale.csv")
    args = p.parse_args(argv)
    done = set()
    if args.csv.exists():
        with args.csv.open() as f:
            done = {(int(r["dim"]), int(r["cells"]), r["effort"], int(r["seed"]), int(r["stage1_max_steps"]),
                     int(r["stage2_steps"]), r["stage2_validation"] == "True", r["code"],
                     r.get("prediction") or "transport", float(r.get("ot_accel") or 0.0)) for r in csv.DictReader(f)}
    import wf_sc as wf

    config = wf.tl.Config(**fit_settings(args.quick, args.stage1_max_steps, args.stage2_steps, args.stage2_validation))
    budget = (config.stage1_max_steps, config.stage2_steps, config.stage2_validation, code_version(), args.prediction,
              args.ot_accel)
    for cells in args.cells:
        for effort in args.efforts:
            for seed in args.seeds:
                if (args.dim, cells, effort, seed, *budget) in done:
                    continue
                row = run(args.dim, cells, effort, seed, args.times, quick=args.quick,
                          stage1_max_steps=args.stage1_max_steps, stage2_steps=args.stage2_steps,
                          stage2_validation=args.stage2_validation, prediction=args.prediction,
                          ot_accel=args.ot_accel)
                load = os.getloadavg()[0]
                print(f"dim {args.dim} cells {cells} effort {effort} cap {row['stage1_max_steps']} stage 2 {row['stage2_steps_taken']}/{row['stage2_steps']} seed {seed}: W1 {row['w1']:.4f} "
                      f"(floor {row['floor']:.4f}), BW {row['bw']:.4f} (floor {row['bw_floor']:.4f}), fit {row['fit_seconds']} s, load {load:.1f}", flush=True)
                new = not args.csv.exists()
                args.csv.parent.mkdir(parents=True, exist_ok=True)
                with args.csv.open("a", newline="") as f:
                    writer = csv.DictWriter(f, fieldnames=FIELDS)
                    if new:
                        writer.writeheader()
                    writer.writerow(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""GPU check: a default fit of 10^6 cells x 50 dimensions x 6 times on CUDA, and CPU/GPU agreement.

Run it where an accelerator is available (it falls back to the CPU, and says so, elsewhere):

1. **Agreement**: a small fit (``--small`` cells per time) on the CPU and on the GPU with the same
   seed; reports the largest differences of the per-cell drift and log-density and the W1 between
   the two models' samples (float32 on both; the optimizers see different rounding, so the fits
   agree to a tolerance, not bit for bit).
2. **Scale**: ``wf.tl.fit`` with the package defaults on ``--cells`` cells per time point; reports
   wall time, Stage 1 / Stage 2 seconds, peak GPU memory and peak RSS, and the card's name.

Prints one JSON line per part and writes them to ``--out``.

Examples
--------
::

    python benchmarks/gpu_check.py                      # on the accelerator machine
    python benchmarks/gpu_check.py --cells 2000 --small 200 --quick --device cpu   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def _data(n: int, dim: int, n_times: int, seed: int = 0):
    import anndata as ad
    import numpy as np

    import wf_sc as wf

    flow = wf.datasets.GradientFlow(dim=dim, random_state=seed)
    adata = flow.sample(times=tuple(np.linspace(0.0, 2.0, n_times)), n_cells=n, random_state=seed)
    return ad.AnnData(X=np.asarray(adata.X, dtype=np.float32), obs=adata.obs[["time"]].copy())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_check.py", description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=1_000_000, help="cells per time point of the scale run")
    p.add_argument("--small", type=int, default=2_000, help="cells per time point of the agreement run")
    p.add_argument("--dim", type=int, default=50)
    p.add_argument("--times", type=int, default=6)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true", help="tiny training budgets (a smoke run)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "gpu_check.jsonl"))
    args = p.parse_args(argv)
    import numpy as np
    import torch

    import wf_sc as wf
    from wf_sc.benchmark.metrics import w1

    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    if device == "auto":
        device = "cpu"
    card = torch.cuda.get_device_name(0) if device.startswith("cuda") else "none (CPU)"
    config = wf.tl.Config(stage1_max_steps_first=60, stage1_max_steps=30, stage2_steps=3) if args.quick else None
    results = []

    small = _data(args.small, args.dim, args.times)
    fits = {}
    for dev in dict.fromkeys(["cpu", device]):
        a = small.copy()
        wf.tl.fit(a, "time", use_rep="X", device=dev, config=config, progress=False, random_state=0)
        fits[dev] = a
    cpu, other = fits["cpu"], fits[device]
    t_mid = float(np.unique(small.obs["time"])[1]) / 2
    results.append({
        "part": "agreement", "device": device, "card": card, "cells": int(small.n_obs), "dim": args.dim,
        "max_abs_drift_diff": float(np.abs(cpu.obsm["wf_velocity"] - other.obsm["wf_velocity"]).max()),
        "max_abs_log_density_diff": float(np.abs(cpu.obs["wf_log_density"] - other.obs["wf_log_density"]).max()),
        "w1_between_samples": w1(wf.tl.WeightFlow.from_adata(cpu).sample(t_mid, 1000, random_state=1),
                                 wf.tl.WeightFlow.from_adata(other).sample(t_mid, 1000, random_state=1)),
    })
    print(json.dumps(results[-1]), flush=True)

    big = _data(args.cells, args.dim, args.times)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    wf.tl.fit(big, "time", use_rep="X", device=device, config=config, progress=False)
    seconds = time.perf_counter() - start
    h = big.uns["weightflow"]["history"]
    results.append({
        "part": "scale", "device": device, "card": card, "cells": int(big.n_obs), "dim": args.dim,
        "times": args.times, "seconds": seconds, "stage1": float(h["stage1"]["seconds"]),
        "stage2": float(h["stage2"]["seconds"]),
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })
    print(json.dumps(results[-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

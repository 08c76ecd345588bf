"""Profile of a default ``wf.tl.fit``: where the time goes (cProfile, one torch thread).

The numbers of ``docs/performance.md`` ("Where a default fit spends its time") come from::

    OMP_NUM_THREADS=1 python benchmarks/profile_fit.py --dim 30
    OMP_NUM_THREADS=1 python benchmarks/profile_fit.py --dim 50

on 6 snapshots of 2,000 cells of a linear gradient flow. Prints the fit's stage times and the
functions with the most cumulative and internal time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/profile_fit.py", description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=30)
    p.add_argument("--cells", type=int, default=2000, help="cells per time point")
    p.add_argument("--times", type=int, default=6)
    p.add_argument("--top", type=int, default=40, help="functions to list")
    p.add_argument("--quick", action="store_true", help="tiny training budgets (a smoke run)")
    args = p.parse_args(argv)
    import numpy as np
    import torch

    import wf_sc as wf

    torch.set_num_threads(1)
    flow = wf.datasets.GradientFlow(dim=args.dim, random_state=0)
    adata = flow.sample(times=tuple(np.linspace(0, 2, args.times)), n_cells=args.cells, random_state=0)
    config = wf.tl.Config(stage1_max_steps_first=60, stage1_max_steps=30, stage2_steps=3) if args.quick else None
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    wf.tl.fit(adata, "time", use_rep="X", progress=False, config=config)
    profile.disable()
    h = adata.uns["weightflow"]["history"]
    print(f"total {time.perf_counter() - start:.1f} s; stage 1 {h['stage1']['seconds']:.1f} s; "
          f"stage 2 {h['stage2']['seconds']:.1f} s")
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())

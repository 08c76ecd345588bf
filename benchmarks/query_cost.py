"""Reading a fitted path on finer query grids: what it costs and how far the weights move.

On the cached default fit of EMT 10-D (seed 3, time 1 held out), for each ``query_steps``:
the seconds of ``WeightFlowCore.weights`` at ``--times`` equally spaced times over the training span
(as ``wf.pl.trajectory`` and the stochastic paths ask for them; median of ``--repeats``, one thread,
the anchor gaps found anew each time), and the largest distance of the weights at those times from
the ones read with 256 sub-steps, relative to the distance between consecutive anchors (per weight
scale ``s``: ``max_t |(theta_q(t) - theta_256(t)) / s| / min_k |(theta_{k+1} - theta_k) / s|``).

    python benchmarks/query_cost.py [fit cache folder] [--times 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from wf_sc.benchmark.datasets import DATASETS
from wf_sc.benchmark.weightflow_methods import FitCache


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cache", nargs="?", default=None)
    p.add_argument("--times", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = DATASETS["emt10"].time_course()
    core = FitCache(directory=args.cache).get(data.without(data.times[1]), 3, {})[0].core
    tau = torch.linspace(-0.05, 1.05, args.times, dtype=core.tau.dtype)
    scale = core.field.scale
    step = ((core.anchors[1:] - core.anchors[:-1]) / scale).norm(dim=1).min()

    def read(q: int) -> torch.Tensor:
        core.config.query_steps = q
        core._cache.pop("gaps", None)
        return core.weights(tau)

    with torch.no_grad():
        fine = read(256)
        for q in (4, 8, 16, 32, 64):
            seconds = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                theta = read(q)
                seconds.append(time.perf_counter() - t0)
            moved = float(((theta - fine) / scale).norm(dim=1).max() / step)
            print(f"query_steps {q:3d}: {np.median(seconds):.3f} s for {args.times} times; "
                  f"largest distance from 256 sub-steps {moved:.2e} of the shortest anchor step", flush=True)


if __name__ == "__main__":
    main()

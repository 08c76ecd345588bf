"""Reading a fitted path on finer query grids: what it costs and how far the weights move.

On the cached default fit of EMT 10-D (seed 3, time 1 held out), for each ``query_steps``:
the seconds of ``WeightFlowCore.weights`` at ``--times`` equally spaced times over the training span
(as ``wf.pl.trajectory`` and the stochastic paths ask for them; median of ``--repeats``, one thread,
the interval paths and anchor gaps found anew each time), and the largest distance of the weights at those times from
the ones read with 256 sub-steps, relative to the distance between consecutive anchors (per weight
scale ``s``: ``max_t |(theta_q(t) - theta_256(t)) / s| / min_k |(theta_{k+1} - theta_k) / s|``).
With ``--sde``, instead: the seconds of stochastic paths of 200 cells of the first time through a
grid of 10 times (``wf_sc.tl._moving.move_along``, ``sigma = 0.5``: 90 Euler-Maruyama sub-steps,
each a drift and a score query), with the package's default reading; run it with ``PYTHONPATH`` set
to another checkout to time that code.

    python benchmarks/query_cost.py [fit cache folder] [--times 200] [--repeats 3] [--sde]
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
    p.add_argument("--sde", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = DATASETS["emt10"].time_course()
    model = FitCache(directory=args.cache).get(data.without(data.times[1]), 3, {})[0]
    if args.sde:
        from wf_sc.tl._moving import move_along

        x0 = data.X[data.t == data.times[0]][:200]
        grid = np.linspace(float(data.times[0]), float(data.times[-1]), 10)
        seconds = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            move_along(model, x0, float(data.times[0]), grid, sigma=0.5, rng=np.random.default_rng(0))
            seconds.append(time.perf_counter() - t0)
        print(f"stochastic paths: {np.median(seconds):.2f} s (median of {args.repeats})")
        return
    core = model.core
    tau = torch.linspace(-0.05, 1.05, args.times, dtype=core.tau.dtype)
    scale = core.field.scale
    step = ((core.anchors[1:] - core.anchors[:-1]) / scale).norm(dim=1).min()

    def read(q: int) -> torch.Tensor:
        core.config.query_steps = q
        core._cache.pop("paths", None)
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

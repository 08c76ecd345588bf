"""Would a masked autoregressive backbone (MADE) be faster than the GRU? Speed and size, one thread.

The GRU backbone walks the ``d`` coordinates one after another; a MADE (Germain et al. 2015) reads
all conditionals of a cell in one masked pass. This probe times both on the same work, with
``K`` Gaussian components per conditional and flat weights as the model uses them:

- ``likelihood``: one Stage-1 step (minus the mean log-likelihood of ``--cells`` cells and its
  gradient with respect to the flat weights);
- ``sample``: drawing ``--cells`` cells (both sequential over the coordinates).

It also prints the length of each flat weight vector, the CDE's state. Not a model: the MADE here
is a bare function (one masked hidden layer, ``--made-hidden`` units)::

    python benchmarks/made_probe.py --dim 30 50

``--density`` compares the two as density models instead, the part of accuracy a backbone decides:
each snapshot of each ``--datasets`` entry (benchmark datasets, or ``gradient<d>``: the linear
gradient flow in ``d`` dimensions, 6 times x 2,000 cells) is split into 80% training and 20% test
cells; each backbone is fitted from its own random start by Stage 1's own routine
(``wf_sc._core.anchors.fit_density``: AdamW, batch 256, 1,500 steps at most, early stopping on 10%
of the training cells, the package's stopping rule), and scored by the test cells' NLL per
coordinate (standardized units, as Stage 1 sees them). Rows go to ``--csv`` as they finish::

    OMP_NUM_THREADS=1 python benchmarks/made_probe.py --density --seeds 0 1 2 \
        --datasets emt10 dendritic30 gradient30 gradient50 --csv benchmarks/results/made_density.csv
"""

from __future__ import annotations

import argparse
import math
import sys
import time


def made_masks(dim: int, hidden: int):
    """Masks of a one-hidden-layer MADE: input->hidden (hidden, dim), hidden->output (dim, hidden)."""
    import torch

    degree_in = torch.arange(1, dim + 1)
    degree_hidden = torch.arange(hidden) % max(dim - 1, 1) + 1
    first = (degree_hidden[:, None] >= degree_in[None, :]).float()
    second = (degree_in[:, None] > degree_hidden[None, :]).float()  # output j reads degrees < j
    return first, second


class MADE:
    """A one-hidden-layer MADE mixture density on flat weights ``theta``."""

    def __init__(self, dim: int, hidden: int, n_components: int):
        self.dim, self.hidden, self.K = dim, hidden, n_components
        self.m1, self.m2 = made_masks(dim, hidden)
        self.sizes = (hidden * dim, hidden, 3 * n_components * dim * hidden, 3 * n_components * dim)

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    def init(self, generator):
        import torch

        return (torch.rand(self.n_params, generator=generator) * 2 - 1) * 0.1

    def params(self, theta, x):
        import torch

        W1, b1, W2, b2 = torch.split(theta, self.sizes)
        W1 = W1.reshape(self.hidden, self.dim) * self.m1
        W2 = W2.reshape(self.dim, 3 * self.K, self.hidden) * self.m2[:, None, :]
        h = torch.relu(x @ W1.T + b1)
        out = torch.einsum("nh,dkh->ndk", h, W2) + b2.reshape(self.dim, 3 * self.K)
        K = self.K
        return torch.log_softmax(out[..., :K], -1), out[..., K : 2 * K], out[..., 2 * K :].clamp(-4, 2)

    def log_prob(self, theta, x):
        import torch

        log_pi, mu, log_sigma = self.params(theta, x)
        z = (x[..., None] - mu) * torch.exp(-log_sigma)
        return torch.logsumexp(log_pi - 0.5 * z**2 - log_sigma - 0.5 * math.log(2 * math.pi), -1).sum(-1)

    def sample(self, theta, n, generator):
        import torch

        x = torch.zeros(n, self.dim)
        rows = torch.arange(n)
        with torch.no_grad():
            for j in range(self.dim):
                log_pi, mu, log_sigma = self.params(theta, x)
                k = torch.multinomial(torch.exp(log_pi[:, j]), 1, generator=generator)[:, 0]
                x[:, j] = mu[rows, j, k] + torch.exp(log_sigma[rows, j, k]) * torch.randn(n, generator=generator)
        return x


def seconds(fn, reps: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def snapshots(name: str, seed: int) -> list:
    """Standardized snapshots (float32 tensors) of a benchmark dataset or of ``gradient<d>``."""
    import numpy as np
    import torch

    if name.startswith("gradient") and name[len("gradient"):].isdigit():
        import wf_sc as wf

        flow = wf.datasets.GradientFlow(dim=int(name[len("gradient"):]), random_state=0)
        adata = flow.sample(times=tuple(np.linspace(0, 2, 6)), n_cells=2000, random_state=seed)
        X, t = np.asarray(adata.X, dtype=np.float64), adata.obs["time"].to_numpy()
        xs = [X[t == u] for u in np.unique(t)]
    else:
        from wf_sc.benchmark.datasets import DATASETS

        data = DATASETS[name].time_course()
        xs = [np.asarray(data.at(u), dtype=np.float64) for u in data.times]
    allx = np.concatenate(xs)
    mean, scale = allx.mean(0), np.maximum(allx.std(0), 1e-8)
    return [torch.as_tensor((x - mean) / scale, dtype=torch.float32) for x in xs]


def density(args) -> int:
    """The ``--density`` comparison (module notes)."""
    import os

    import pandas as pd
    import torch

    from wf_sc._core.anchors import fit_density, mean_nll
    from wf_sc._core.backbone import GRUMDN
    from wf_sc.tl import Config

    config = Config()
    done = pd.read_csv(args.csv) if args.csv and os.path.exists(args.csv) else None
    for name in args.datasets:
        for seed in args.seeds:
            if done is not None and ((done["dataset"] == name) & (done["seed"] == seed)).any():
                continue
            rows = []
            for k, x in enumerate(snapshots(name, seed)):
                perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
                n_test = max(len(x) // 5, 1)
                test, train = x[perm[:n_test]], x[perm[n_test:]]
                d = x.shape[1]
                for backbone_name, net in (("gru", GRUMDN(d, config.hidden, config.n_components)),
                                           ("made", MADE(d, args.made_hidden, config.n_components))):
                    gen = torch.Generator().manual_seed(seed)
                    start = time.perf_counter()
                    theta, _, val, _, steps, _ = fit_density(
                        net, net.init(gen), train, max_steps=config.stage1_max_steps_first,
                        batch_size=config.stage1_batch_size, lr=config.stage1_lr, val_fraction=config.val_fraction,
                        eval_every=50, patience=config.patience, generator=gen, stop_z=config.stage1_stop_z)
                    rows.append({"dataset": name, "seed": seed, "time_index": k, "dim": d, "cells": len(x),
                                 "backbone": backbone_name, "n_params": net.n_params,
                                 "test_nll_per_dim": mean_nll(net, theta, test) / d, "val_nll_per_dim": val / d,
                                 "steps": steps, "seconds": time.perf_counter() - start})
                    print(rows[-1], flush=True)
            if args.csv:
                table = pd.DataFrame(rows) if done is None else pd.concat([done, pd.DataFrame(rows)])
                table.to_csv(args.csv, index=False)
                done = table
    if done is not None:
        summary = done.groupby(["dataset", "backbone"]).agg(
            test_nll_per_dim=("test_nll_per_dim", "mean"), steps=("steps", "mean"), seconds=("seconds", "mean"),
            n_params=("n_params", "first"))
        print(summary.round(4).to_string())
        wide = done.pivot_table(index=["dataset", "seed", "time_index"], columns="backbone", values="test_nll_per_dim")
        diff = (wide["made"] - wide["gru"]).groupby(level=["dataset", "seed"]).mean().groupby(level="dataset")
        print("MADE - GRU, test NLL per coordinate, mean over times; mean +- SE over seeds:")
        print(pd.DataFrame({"mean": diff.mean(), "se": diff.std() / diff.count() ** 0.5,
                            "seeds": diff.count()}).round(4).to_string())
    return 0


def main(argv: list[str] | None = None) -> int:
    import torch

    from wf_sc._core.backbone import GRUMDN
    from wf_sc.tl import Config

    p = argparse.ArgumentParser(prog="python benchmarks/made_probe.py", description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, nargs="+", default=[30, 50])
    p.add_argument("--cells", type=int, default=256)
    p.add_argument("--made-hidden", type=int, default=64)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--density", action="store_true", help="compare test NLL instead of speed (module notes)")
    p.add_argument("--datasets", nargs="+", default=["emt10", "dendritic30", "gradient30", "gradient50"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--csv", default=None, help="--density: rows, appended per dataset and seed (resumable)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.density:
        return density(args)
    config = Config()
    print("| d | backbone | flat weights | likelihood step (ms) | sample (ms) |")
    print("|---:|---|---:|---:|---:|")
    for d in args.dim:
        x = torch.randn(args.cells, d, generator=torch.Generator().manual_seed(0))
        gru = GRUMDN(d, config.hidden, config.n_components)
        made = MADE(d, args.made_hidden, config.n_components)
        for name, net in (("GRU", gru), ("MADE", made)):
            theta = net.init(torch.Generator().manual_seed(1)).requires_grad_(True)

            def step(net=net, theta=theta):
                torch.autograd.grad(-net.log_prob(theta, x).mean(), theta)

            def draw(net=net, theta=theta):
                net.sample(theta.detach(), args.cells, torch.Generator().manual_seed(2))

            print(f"| {d} | {name} | {net.n_params:,} | {seconds(step, args.reps) * 1e3:.1f} | "
                  f"{seconds(draw, args.reps) * 1e3:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the model's curvature depend on the order of the coordinates? (EMT 10-D)

Usage (the real data are read from ``WF_SC_DATA_DIR`` or downloaded)::

    python docs/curvature_order.py [--seed 0] [--held-out 1 2] [--cells 500]

The backbone is autoregressive over the coordinates, so the triangular map that moves cells
(:func:`wf_sc._core.transport.kr_transport`) depends on their order. For each held-out time
``t_k`` WeightFlow is fitted twice without it, on the coordinates in their order and reversed
(same seed). ``--cells`` observed cells ``x`` of ``t_{k-1}`` are moved by both fits to ``t_k``
(``y``) and ``t_{k+1}`` (``e``); each fit gives every cell a departure from its straight line,
``c = y - (1 - u) x - u e`` (:func:`wf_sc._core.transport.departure`, ``u = 1/2``). Printed:

- ``per_cell``: correlation of the two orders' ``c`` over cells and coordinates, each centred on
  its mean over cells (1: the same cell-level bends; 0: unrelated);
- ``k4``, ``k16``, ``k64``: the same for ``c`` averaged over each cell's k nearest cells
  (:func:`wf_sc._core.transport.neighbour_mean`);
- ``spread``, ``spread_k16``: root-mean-square distance of ``c`` (or its 16-neighbour mean) from
  the mean of ``c`` (first order);
- ``mean_norm``, ``mean_cos``: length of the mean of ``c`` (first order) and the cosine between
  the two orders' means.

Units: the standardized coordinates of the data (``use_rep='X'``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from wf_sc._core.metrics import subsample
from wf_sc._core.transport import departure, neighbour_mean
from wf_sc.benchmark import DATASETS
from wf_sc.pp._prepare import encode_time, get_representation
from wf_sc.tl import WeightFlow


def centred_correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(0), b - b.mean(0)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--cells", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = DATASETS["emt10"]
    adata = spec.load(False)
    t, _ = encode_time(adata, "time")
    X = get_representation(adata, spec.use_rep).astype(np.float64)
    times = np.unique(t)
    print("| seed | t_k | per_cell | k4 | k16 | k64 | spread | spread_k16 | mean_norm | mean_cos |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for held in args.held_out:
        k = int(np.flatnonzero(times == held)[0])
        prev, nxt = float(times[k - 1]), float(times[k + 1])
        x = subsample(X[t == prev], args.cells, np.random.default_rng(args.seed + 7))
        u = (held - prev) / (nxt - prev)
        c = []
        for order in (np.arange(X.shape[1]), np.arange(X.shape[1])[::-1]):
            model = WeightFlow("time", spec.use_rep, random_state=args.seed)
            model.fit_arrays(X[t != held][:, order], t[t != held], progress=False)
            back = np.argsort(order)
            y = model.transport(x[:, order], prev, held)[:, back]
            e = model.transport(x[:, order], prev, nxt)[:, back]
            c.append(departure(x, y, e, u))
        row = [centred_correlation(*c)]
        row += [centred_correlation(neighbour_mean(x, c[0], n), neighbour_mean(x, c[1], n)) for n in (4, 16, 64)]
        mean = c[0].mean(0)
        row += [
            float(np.sqrt(((c[0] - mean) ** 2).sum(1).mean())),
            float(np.sqrt(((neighbour_mean(x, c[0], 16) - mean) ** 2).sum(1).mean())),
            float(np.linalg.norm(mean)),
            float(mean @ c[1].mean(0) / np.linalg.norm(mean) / np.linalg.norm(c[1].mean(0))),
        ]
        print(f"| {args.seed} | {held:g} | " + " | ".join(f"{v:.3f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()

"""Where does WeightFlow's EMT 10-D gap to OT interpolation come from: its anchors or its path?

Usage (the real data are read from ``WF_SC_DATA_DIR`` or downloaded)::

    python docs/anchor_split.py [--seeds 0 1] [--set KEY=VALUE ...]

For each seed and interior time ``t_k`` of the EMT 10-D time course, WeightFlow is fitted without
``t_k`` (as in the benchmark). Three predictions of the held-out cells, scored by exact W1 against
1000 of them:

- ``weightflow``: the model's sample at ``t_k``;
- ``ot_model_anchors``: exact-OT displacement interpolation between 1000 cells sampled from the
  model at ``t_{k-1}`` and at ``t_{k+1}`` (its Stage-1 anchors), i.e. the best path between the
  model's own end points;
- ``ot_real``: the same interpolation between the real cells of ``t_{k-1}`` and ``t_{k+1}``.

``ot_model_anchors - ot_real`` is the part of the gap due to the anchor densities,
``weightflow - ot_model_anchors`` the part due to the path. Prints a markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import wf_sc as wf
from wf_sc._core.baselines import PREDICTORS
from wf_sc._core.metrics import subsample, w1
from wf_sc.benchmark import DATASETS, parse_settings

N = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="WeightFlow settings, as in the benchmark")
    args = parser.parse_args()
    settings = parse_settings(args.set)
    torch.set_num_threads(1)
    adata = DATASETS["emt10"].load(False)
    t = adata.obs["time"].to_numpy(float)
    X = np.asarray(adata.X, float)
    times = np.unique(t)
    print("| seed | t_k | weightflow | OT between model anchors | OT between real cells |")
    print("|---:|---:|---:|---:|---:|")
    for seed in args.seeds:
        for k in range(1, len(times) - 1):
            prev, held, nxt = times[k - 1], times[k], times[k + 1]
            rng = np.random.default_rng(seed)
            real = subsample(X[t == held], N, rng)
            model = wf.tl.WeightFlow("time", "X", random_state=seed, **settings).fit(adata[t != held].copy(), progress=False)
            a, b = model.sample(prev, N, random_state=seed), model.sample(nxt, N, random_state=seed + 7)
            scores = [
                w1(model.sample(held, N, random_state=seed), real),
                w1(PREDICTORS["ot"](a, b, 0.5, N, rng), real),
                w1(PREDICTORS["ot"](X[t == prev], X[t == nxt], 0.5, N, rng), real),
            ]
            print(f"| {seed} | {held:g} | " + " | ".join(f"{v:.4f}" for v in scores) + " |", flush=True)


if __name__ == "__main__":
    main()

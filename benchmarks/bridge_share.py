"""How much of each anchor interval the learned field covers, on the benchmark datasets.

A default ``wf.tl.fit`` on all time points of each dataset; prints
``uns['weightflow']['history']['bridge_share']``: per anchor interval, the distance
from where the field's free trajectory ends to the next anchor, over the distance between the two
anchors (normalized weights; :meth:`wf_sc._core.flow.WeightFlowCore.bridge_share`). 0: the learned
dynamics reach the next anchor by themselves; 1: they do not move, and the bridge (a straight-line
correction in weight space) does all the work. ``docs/method.md`` §5 quotes::

    OMP_NUM_THREADS=1 python benchmarks/bridge_share.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/bridge_share.py", description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["emt10", "emt3", "hematopoiesis", "gradient_flow", "toggle_switch"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="Config fields other than the defaults (VALUE is JSON where it parses)")
    args = p.parse_args(argv)
    import torch

    import wf_sc as wf
    from wf_sc.benchmark import parse_settings
    from wf_sc.benchmark.datasets import DATASETS

    torch.set_num_threads(1)
    config = wf.tl.Config.from_dict(parse_settings(args.set))
    for name in args.datasets:
        dataset = DATASETS[name]
        data, shares = dataset.load(False), []
        for seed in args.seeds:
            adata = data.copy()
            wf.tl.fit(adata, "time", use_rep=dataset.use_rep, random_state=seed, progress=False, config=config)
            shares.append(adata.uns["weightflow"]["history"]["bridge_share"])
        shares = np.asarray(shares)
        print(f"{name}: per interval (mean over {len(args.seeds)} seeds) "
              f"{', '.join(f'{s:.2f}' for s in shares.mean(0))}; overall {shares.mean():.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

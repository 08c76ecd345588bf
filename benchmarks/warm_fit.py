"""Default fits of EMT 10-D one after another in one process: what a first fit pays once (a probe).

Prints each fit's wall time and its Stage-1 and Stage-2 seconds, one torch thread. The numbers
``docs/performance.md`` cites ("Fit time on the benchmark data") come from::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/warm_fit.py [--fits 2]
"""
import argparse
import time

import torch

import wf_sc as wf
from wf_sc.benchmark.performance import load

p = argparse.ArgumentParser(prog="python benchmarks/warm_fit.py", description=__doc__.splitlines()[0])
p.add_argument("--fits", type=int, default=2)
p.add_argument("--dataset", default="emt10")
args = p.parse_args()
torch.set_num_threads(1)
for i in range(args.fits):
    adata = load(args.dataset)
    start = time.perf_counter()
    wf.tl.fit(adata, "time", use_rep="X", progress=False)
    h = adata.uns["weightflow"]["history"]
    print(f"fit {i + 1}: {time.perf_counter() - start:.1f} s, stage 1 {h['stage1']['seconds']:.1f} s, "
          f"stage 2 {h['stage2']['seconds']:.1f} s", flush=True)

"""Does a heavier second-order action bend the path more? (a probe, not a nested choice)

For every benchmark fold of one dataset (first argument) and seeds 3-5: the met-cell prediction of
the default fit (``ot_accel`` 0.5) and of fits with ``ot_accel`` 2.0 and 8.0, scored by exact W1
against the benchmark's reference, with the distance from the reference's mean to the prediction's
mean. An optional second argument is a folder of saved fits shared with the benchmark's
``--fit-cache``. The output method.md cites is ``results/accel_weight_check.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/accel_weight_check.py emt10 [fit-cache]
"""
import sys

import pandas as pd
from probe_folds import centre_distance, fit_cache, folds, met_cells

from wf_sc.benchmark.metrics import w1

cache = fit_cache(2)
rows = []
for f in folds(sys.argv[1]):
    for w in (0.5, 2.0, 8.0):
        pred = met_cells({} if w == 0.5 else {"loss_weights": {"ot_accel": w}}, cache, f)
        rows.append(dict(dataset=sys.argv[1], seed=f.seed, held_out=f.t, accel=w, w1=w1(pred, f.ref), mean=centre_distance(pred, f.ref)))
        print(rows[-1], flush=True)
d = pd.DataFrame(rows)
print(d.groupby(["held_out", "accel"])[["w1", "mean"]].mean().round(4).to_string())

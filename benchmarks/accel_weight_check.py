"""Does a heavier second-order action bend the path more? (a probe, not a nested choice)

For every benchmark fold of one dataset (first argument) and seeds 3-5: the met-cell prediction of
the default fit (``ot_accel`` 0.5) and of fits with ``ot_accel`` 2.0 and 8.0, scored by exact W1
against the benchmark's reference, with the distance from the reference's mean to the prediction's
mean. An optional second argument is a folder of saved fits shared with the benchmark's
``--fit-cache``. The output method.md cites is ``results/accel_weight_check.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/accel_weight_check.py emt10 [fit-cache]
"""
import sys, numpy as np, pandas as pd
from wf_sc.benchmark.datasets import DATASETS
from wf_sc.benchmark.methods import WeightFlowMethod
from wf_sc.benchmark.weightflow_methods import FitCache
from wf_sc.benchmark.metrics import w1
from wf_sc.benchmark.protocol import held_out_halves, stream
cache = FitCache(directory=sys.argv[2] if len(sys.argv) > 2 else None)
rows = []
name = sys.argv[1]
ds = DATASETS[name]; data = ds.time_course(); times = data.times
for seed in (3, 4, 5):
    for k in range(1, len(times) - 1):
        t_k = float(times[k]); train = data.without(times[k])
        half_a, ref = held_out_halves(data.at(times[k]), t_k, k, seed, 1000, ds.ground_truth())
        m = len(half_a)
        for w in (0.5, 2.0, 8.0):
            settings = {} if w == 0.5 else {"loss_weights": {"ot_accel": w}}
            pred = WeightFlowMethod(settings, cache).predict(train, t_k, m, seed, np.random.default_rng(stream(seed, k, "weightflow")), {"prediction": "meet"})
            rows.append(dict(dataset=name, seed=seed, held_out=t_k, accel=w, w1=w1(pred, ref), mean=float(np.linalg.norm(pred.mean(0) - ref.mean(0)))))
            print(rows[-1], flush=True)
d = pd.DataFrame(rows)
print(d.groupby(["held_out", "accel"])[["w1", "mean"]].mean().round(4).to_string())

"""Where the default prediction's centre lies, with and without the second-order action (a probe).

For the benchmark folds of the datasets given (comma-separated, first argument) and seeds 3-5: the
met-cell prediction of the default fit (``{}``) and of the fit without the second-order action
(``ot_accel`` 0), scored by exact W1 against the benchmark's reference, and the distance from the
reference's mean to the mean of each prediction, of exact-OT interpolation (the chord between the
neighbours' means), of ``ot_bend`` (the spline through all training means) and of the floor's
cells. An optional second argument is a folder of saved fits shared with the benchmark's
``--fit-cache``; the output of the run method.md cites is ``results/centre_check.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/centre_check.py emt10,emt3 [fit-cache]
"""
import sys, numpy as np, pandas as pd
from wf_sc.benchmark.datasets import DATASETS
from wf_sc.benchmark.methods import OTBend, Pairwise, WeightFlowMethod
from wf_sc.benchmark.weightflow_methods import FitCache
from wf_sc.benchmark.metrics import w1
from wf_sc.benchmark.protocol import held_out_halves, stream
cache = FitCache(directory=sys.argv[2] if len(sys.argv) > 2 else None)
rows = []
for name in sys.argv[1].split(","):
    ds = DATASETS[name]; data = ds.time_course(); times = data.times
    for seed in (3, 4, 5):
        for k in range(1, len(times) - 1):
            t_k = float(times[k]); train = data.without(times[k])
            half_a, ref = held_out_halves(data.at(times[k]), t_k, k, seed, 1000, ds.ground_truth())
            m = len(half_a)
            row = dict(dataset=name, seed=seed, held_out=t_k)
            for label, settings in (("accel", {}), ("no_accel", {"loss_weights": {"ot_accel": 0.0}})):
                pred = WeightFlowMethod(settings, cache).predict(train, t_k, m, seed, np.random.default_rng(stream(seed, k, "weightflow")), {"prediction": "meet"})
                row[f"w1_{label}"] = w1(pred, ref)
                row[f"mean_{label}"] = float(np.linalg.norm(pred.mean(0) - ref.mean(0)))
            ot = Pairwise("ot").predict(train, t_k, m, seed, np.random.default_rng(stream(seed, k, "ot")), {})
            bend = OTBend().predict(train, t_k, m, seed, np.random.default_rng(stream(seed, k, "ot_bend")), {})
            row["mean_chord"] = float(np.linalg.norm(ot.mean(0) - ref.mean(0)))
            row["mean_spline"] = float(np.linalg.norm(bend.mean(0) - ref.mean(0)))
            row["mean_floor"] = float(np.linalg.norm(half_a.mean(0) - ref.mean(0)))
            rows.append(row); print(row, flush=True)
d = pd.DataFrame(rows)
print(d.groupby(["dataset", "held_out"])[[c for c in d.columns if c.startswith(("mean_", "w1_"))]].mean().round(4).to_string())

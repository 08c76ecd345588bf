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
import sys

import numpy as np
import pandas as pd
from probe_folds import centre_distance, fit_cache, folds, met_cells

from wf_sc.benchmark.methods import OTBend, Pairwise
from wf_sc.benchmark.metrics import w1
from wf_sc.benchmark.protocol import stream

cache = fit_cache(2)
rows = []
for name in sys.argv[1].split(","):
    for f in folds(name):
        row = dict(dataset=name, seed=f.seed, held_out=f.t)
        for label, settings in (("accel", {}), ("no_accel", {"loss_weights": {"ot_accel": 0.0}})):
            pred = met_cells(settings, cache, f)
            row[f"w1_{label}"] = w1(pred, f.ref)
            row[f"mean_{label}"] = centre_distance(pred, f.ref)
        m = len(f.half_a)
        ot = Pairwise("ot").predict(f.train, f.t, m, f.seed, np.random.default_rng(stream(f.seed, f.k, "ot")), {})
        bend = OTBend().predict(f.train, f.t, m, f.seed, np.random.default_rng(stream(f.seed, f.k, "ot_bend")), {})
        row["mean_chord"] = centre_distance(ot, f.ref)
        row["mean_spline"] = centre_distance(bend, f.ref)
        row["mean_floor"] = centre_distance(f.half_a, f.ref)
        rows.append(row)
        print(row, flush=True)
d = pd.DataFrame(rows)
print(d.groupby(["dataset", "held_out"])[[c for c in d.columns if c.startswith(("mean_", "w1_"))]].mean().round(4).to_string())

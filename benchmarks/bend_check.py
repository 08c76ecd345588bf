"""How far the fitted density path bends between two snapshots, against how far the data bend (a probe).

For every benchmark fold of one dataset (first argument) and seeds 3-5, from the default fit on the
training times (an optional second argument is a folder of saved fits shared with the benchmark's
``--fit-cache``):

- ``true_bend``: the distance from the held-out population's mean (the benchmark's reference
  cells) to the chord between the neighbouring training snapshots' means, at the time fraction;
- ``model_bend``: the same for the fitted density path: the mean of 4,000 fresh cells at the
  held-out time against the chord between the means of 4,000 fresh cells at the two neighbours;
- ``cosine``: the cosine between the two bend vectors (1: the path bends the way the data do);
- ``true_across``, ``model_across``, ``cosine_across``: the same for the parts of the bend vectors
  across the chord (the part along it is pace: how far along the chord the population has come);
- ``centre_error``: the distance from the reference's mean to the fresh cells' mean.

The output method.md cites is ``results/bend_check.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/bend_check.py emt10 [fit-cache]
"""
import sys

import numpy as np
import pandas as pd
from probe_folds import fit_cache, folds

cache = fit_cache(2)
rows = []
for f in folds(sys.argv[1]):
    train, t_k = f.train, f.t
    t_prev, t_next = train.neighbours(t_k)
    s = (t_k - t_prev) / (t_next - t_prev)
    model, _ = cache.get(train, f.seed, {})
    true_bend = f.ref.mean(0) - ((1 - s) * train.at(t_prev).mean(0) + s * train.at(t_next).mean(0))
    mean = {t: model.sample(t, 4000, random_state=f.seed).mean(0) for t in (t_prev, t_k, t_next)}
    model_bend = mean[t_k] - ((1 - s) * mean[t_prev] + s * mean[t_next])
    cosine = float(true_bend @ model_bend / (np.linalg.norm(true_bend) * np.linalg.norm(model_bend)))
    u = train.at(t_next).mean(0) - train.at(t_prev).mean(0)
    u = u / np.linalg.norm(u)
    true_across, model_across = true_bend - (true_bend @ u) * u, model_bend - (model_bend @ u) * u
    cos_across = float(true_across @ model_across / (np.linalg.norm(true_across) * np.linalg.norm(model_across)))
    rows.append(dict(dataset=sys.argv[1], held_out=t_k, seed=f.seed, true_bend=float(np.linalg.norm(true_bend)),
                     model_bend=float(np.linalg.norm(model_bend)), cosine=cosine,
                     true_across=float(np.linalg.norm(true_across)), model_across=float(np.linalg.norm(model_across)),
                     cosine_across=cos_across, centre_error=float(np.linalg.norm(f.ref.mean(0) - mean[t_k]))))
    print(rows[-1], flush=True)
print(pd.DataFrame(rows).groupby("held_out")[["true_bend", "model_bend", "cosine", "true_across", "model_across",
                                                     "cosine_across", "centre_error"]].mean().round(3).to_string())

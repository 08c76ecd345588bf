"""Where the predicted population sits along and across the chord of its interval (a probe).

For every benchmark fold of the datasets given (comma-separated, first argument; seeds 0-2): each
prediction's centre written as the fraction of the way along the chord between the neighbouring
snapshots' means, ``f = <m - m_prev, m_next - m_prev> / |m_next - m_prev|^2``, and its distance
across the chord; its spread (mean distance of a cell from the centre) and its W1 to the
reference. Rows: the held-out cells (``truth``), the default call's met cells (``weightflow``),
the same with ``Config(bridge_clock=True)`` (``bridge_clock``), ``ot_meet`` and ``ot_meet_pace``
(the met cells' draws with a still flow, at the time fraction and at the pace clock's), besides
the time fraction ``s`` and the pace clock's ``s_clock``. An optional second argument is a
folder of saved fits shared with the benchmark's ``--fit-cache``; method.md cites
``results/pace_gap.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/pace_gap.py emt3,emt10 [fit-cache]
"""
import sys

import numpy as np
import pandas as pd
from probe_folds import fit_cache, folds, met_cells

from wf_sc.benchmark.baselines import time_fraction
from wf_sc.benchmark.methods import OTMeet
from wf_sc.benchmark.metrics import w1
from wf_sc.benchmark.pace import pace_fraction


def placement(cells: np.ndarray, m_prev: np.ndarray, m_next: np.ndarray) -> tuple[float, float, float]:
    """The centre's fraction along the chord, its distance across it, and the cloud's spread."""
    chord, centre = m_next - m_prev, cells.mean(0)
    offset = centre - m_prev
    along = float(offset @ chord / (chord @ chord))
    across = float(np.linalg.norm(offset - along * chord))
    spread = float(np.linalg.norm(cells - centre, axis=1).mean())
    return along, across, spread


cache = fit_cache(2)
rows = []
for name in sys.argv[1].split(","):
    for f in folds(name, seeds=(0, 1, 2)):
        t_prev, t_next = f.train.neighbours(f.t)
        m_prev, m_next = f.train.at(t_prev).mean(0), f.train.at(t_next).mean(0)
        m = len(f.half_a)
        preds = {
            "truth": f.ref,
            "weightflow": met_cells({}, cache, f),
            "bridge_clock": met_cells({"bridge_clock": True}, cache, f),
            "ot_meet": OTMeet().predict(f.train, f.t, m, f.seed, None, {}),
            "ot_meet_pace": OTMeet("pace").predict(f.train, f.t, m, f.seed, None, {}),
        }
        s = time_fraction(t_prev, t_next, f.t)
        s_clock = pace_fraction(f.train.snapshots(), f.train.times, f.t, np.random.default_rng(f.seed))
        for label, cells in preds.items():
            along, across, spread = placement(cells, m_prev, m_next)
            rows.append(dict(dataset=name, held_out=f.t, seed=f.seed, row=label, along=along, across=across,
                             spread=spread, w1=np.nan if label == "truth" else w1(cells, f.ref),
                             s=s, s_clock=s_clock))
        print(*rows[-len(preds):], sep="\n", flush=True)
d = pd.DataFrame(rows)
d["row"] = pd.Categorical(d["row"], categories=list(preds))  # the rows in the order they were made
table = d.groupby(["dataset", "held_out", "row"], observed=True)[["s", "s_clock", "along", "across", "spread", "w1"]].mean()
print(table.round(4).to_string())

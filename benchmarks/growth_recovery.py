"""Growth rates against a simulator's true birth and death: the path's growth field beside unbalanced OT.

For each seed, :class:`wf_sc.datasets.BirthDeath` snapshots (800 cells at times 0, 0.5, 1, 1.5, the
data of ``tests/test_growth.py``) get a fit with the growth field (``wf.tl.Config(growth=True)``)
and both readouts of ``wf.tl.growth``: ``method="path"`` and ``method="transport"``. At every time
with rates (all but the last) the script records the correlation with the true rate, the error of
the centred rates over the truth's standard deviation (0 is perfect; predicting no growth scores 1),
and the rates' spread over the truth's; then the mass at the last time with the true rate as the
prior, beside the simulator's::

    OMP_NUM_THREADS=1 python benchmarks/growth_recovery.py --seeds 0 1 2 3 4 --csv benchmarks/results/growth_recovery.csv
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
import torch


def scores(est: np.ndarray, true: np.ndarray) -> dict:
    """Correlation, error of the centred rates and spread, both over the truth's standard deviation."""
    err = np.sqrt(np.mean(((est - est.mean()) - (true - true.mean())) ** 2))
    return {"corr": float(np.corrcoef(est, true)[0, 1]), "error": float(err / true.std()),
            "spread": float(est.std() / true.std())}


def run_seed(seed: int) -> list[dict]:
    import wf_sc as wf

    adata = wf.datasets.birth_death(times=(0.0, 0.5, 1.0, 1.5), n_cells=800, random_state=seed)
    wf.tl.fit(adata, "time", use_rep="X", progress=False, random_state=seed, config=wf.tl.Config(growth=True, loss_weights={"ot_accel": 0.0}))  # as in the CSV
    t, truth = adata.obs["time"].to_numpy(), adata.obs["true_growth"].to_numpy()
    true_mass = float(adata.uns["simulation"]["mass"][-1])
    rows = []
    for method in ("path", "transport"):
        wf.tl.growth(adata, method=method)
        g = adata.obs["wf_growth"].to_numpy()
        wf.tl.growth(adata, method=method, prior="true_growth")
        mass = float(adata.uns["wf_growth"]["mass"][-1])
        for t0 in (0.0, 0.5, 1.0):
            rows.append({"seed": seed, "method": method, "time": t0, **scores(g[t == t0], truth[t == t0]),
                         "mass_last": mass, "true_mass_last": true_mass})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/growth_recovery.py", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--csv", default=None, help="where to write the rows")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    table = pd.DataFrame([row for seed in args.seeds for row in run_seed(seed)])
    if args.csv:
        table.to_csv(args.csv, index=False)
    pd.set_option("display.width", 200)
    print(table.pivot_table(index=["method", "seed"], columns="time", values=["corr", "error", "spread"]).round(2))
    print(table.groupby("method")[["corr", "error", "spread"]].mean().round(3))
    print(table.groupby(["method", "seed"])[["mass_last", "true_mass_last"]].first().round(3))
    return 0


if __name__ == "__main__":
    sys.exit(main())

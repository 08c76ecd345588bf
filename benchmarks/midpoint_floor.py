"""Does averaging two matched samples of the true population score below the two-sample floor?

The benchmark's floor is ``W1(A, R)``: a sample ``A`` of the true population against the scored
cells ``R``, both of ``m`` cells. The met cells average two cells, one from each side, paired by the
optimal assignment. This probe asks what that estimator scores when both sides are already exact:
``A`` and ``C`` two independent samples of the true population, ``sigma`` the optimal assignment
between them (squared Euclidean cost), and the cells ``(A_i + C_sigma(i)) / 2`` scored against ``R``.
It needs no fit. Populations:

- ``gaussian{d}``: the standard normal in ``d`` = 2, 10 and 30 dimensions, ``m`` = 400;
- ``gradient_flow`` / ``toggle_switch``: the benchmark's simulators' true populations at their
  held-out times, ``m`` = 250 (the benchmark's halves of 500 cells);
- real data (``emt10``, ``emt3``, ``hematopoiesis``, ``dendritic``, ``dendritic30``): each held-out
  snapshot split at random into three parts of ``m`` = a third of its cells, ``A``, ``C`` and ``R``.

The midpoints use twice the true cells the floor does, at weight 1/2 (the benchmark's met cells
weigh the sides 1 - s and s and use half of each snapshot). For each, ``--reps`` independent draws; the table gives the floor's mean W1, the midpoints' and
their paired difference ± its standard error, with the same for MMD² (the benchmark's
``mmd_rbf``) and the midpoints' spread (mean squared distance to the centroid) over ``A``'s.

    python benchmarks/midpoint_floor.py [--reps 20] [--csv benchmarks/results/midpoint_floor.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def midpoints(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``(a_i + c_sigma(i)) / 2`` with ``sigma`` the optimal assignment between ``a`` and ``c``."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    i, j = linear_sum_assignment(cdist(a, c, "sqeuclidean"))
    return 0.5 * a[i] + 0.5 * c[j]


def _spread(x: np.ndarray) -> float:
    return float(((x - x.mean(0)) ** 2).sum(1).mean())


#: cells per sample of the Gaussians and of the simulators' populations
GAUSSIAN_M, SIMULATOR_M = 400, 250


def _draws():
    """(case, m, draw(rng) -> (A, C, R)) for every population of the module docstring."""
    from wf_sc.benchmark.datasets import DATASETS

    for d in (2, 10, 30):
        yield f"gaussian{d}", GAUSSIAN_M, lambda rng, d=d: tuple(rng.normal(size=(GAUSSIAN_M, d)) for _ in range(3))
    for name in ("gradient_flow", "toggle_switch"):
        population = DATASETS[name].reference(False)
        for t in DATASETS[name].time_course(False).times[1:-1]:
            yield f"{name} t={t:g}", SIMULATOR_M, lambda rng, t=t, p=population: tuple(
                p(float(t), SIMULATOR_M, random_state=int(rng.integers(2**31))) for _ in range(3))
    for name in ("emt10", "emt3", "hematopoiesis", "dendritic", "dendritic30"):
        course = DATASETS[name].time_course(False)
        for t in course.times[1:-1]:
            cells = course.at(t)
            m = min(len(cells) // 3, 1000)

            def split(rng, cells=cells, m=m):
                order = rng.permutation(len(cells))
                return cells[order[:m]], cells[order[m:2 * m]], cells[order[2 * m:3 * m]]

            yield f"{name} t={t:g}", m, split


def main(argv=None) -> int:
    from wf_sc.benchmark.metrics import mmd_rbf, w1

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--csv", default=str(HERE / "results" / "midpoint_floor.csv"))
    args = parser.parse_args(argv)
    rows = []
    for case, m, draw in _draws():
        rng = np.random.default_rng(0)
        for rep in range(args.reps):
            a, c, r = draw(rng)
            mid = midpoints(a, c)
            rows.append(dict(case=case, m=m, rep=rep, w1_floor=w1(a, r), w1_mid=w1(mid, r),
                             mmd_floor=mmd_rbf(a, r), mmd_mid=mmd_rbf(mid, r), spread_ratio=_spread(mid) / _spread(a)))
        print(case, flush=True)
    df = pd.DataFrame(rows)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.csv, index=False)
    print("| population | m | floor W1 | midpoints W1 | difference (± SE) | floor MMD² | midpoints MMD² "
          "| difference (± SE) | spread ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    def se(v):
        return v.std(ddof=1) / np.sqrt(len(v))

    for case, g in df.groupby("case", sort=False):
        dw, dm = g["w1_mid"] - g["w1_floor"], g["mmd_mid"] - g["mmd_floor"]
        print(f"| {case} | {g['m'].iloc[0]} | {g['w1_floor'].mean():.4g} | {g['w1_mid'].mean():.4g} | "
              f"{dw.mean():+.3g} ± {se(dw):.2g} | {g['mmd_floor'].mean():.3g} | {g['mmd_mid'].mean():.3g} | "
              f"{dm.mean():+.2g} ± {se(dm):.1g} | {g['spread_ratio'].mean():.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

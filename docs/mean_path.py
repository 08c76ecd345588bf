"""How much of the held-out error is the population's mean, and how much the snapshot means predict.

Usage (the real data are read from ``WF_SC_DATA_DIR`` or downloaded)::

    python docs/mean_path.py [--datasets ...] [--seeds 0 1 2]

No model is fitted. For each seed and interior time ``t_k`` of a benchmark dataset
(:mod:`wf_sc.benchmark`), exact-OT displacement interpolation between the neighbours (the
benchmark's ``ot``) is scored by exact W1 against the benchmark's half B (simulators: a fresh draw
of the true population), as it is and with its cells shifted by one vector:

- ``ot``: as it is; its mean lies on the chord between the neighbours' means;
- ``oracle_mean``: shifted so that its mean is the mean of half A (real cells of ``t_k`` the score
  does not use): what a perfect mean would give, an oracle;
- ``spline_full``: shifted by the departure (:func:`wf_sc._core.mean_path.mean_path_departure`) of the natural cubic spline (chord-length knots) through
  the means of the training snapshots from the chord, at the fraction ``s`` of the interval;
- ``spline_bend``: only that departure's part perpendicular to the chord
  (:func:`wf_sc._core.mean_path.mean_path_bend`, what WeightFlow's pinned prediction uses);
- ``mean_err`` columns: distance of the mean of ``ot`` and of ``spline_bend`` from the mean of half A.

A second table describes, per held-out time, the mean of all real cells of ``t_k`` against the
chord between the neighbours' means: the chord's length, the offset along the chord (as
*progress*, the fraction of the chord covered; displacement interpolation: ``s``), the length of
the offset across the chord, the length of the spline's bend, the cosine between the two, and
what is left across the chord after the bend.

Prints two markdown tables (``docs/mean_path.md``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from wf_sc._core.baselines import ot_interpolation, time_fraction
from wf_sc._core.mean_path import mean_path_bend, mean_path_departure
from wf_sc._core.metrics import w1
from wf_sc.benchmark import DATASETS
from wf_sc.tl._benchmark import held_out_halves

COLUMNS = ("floor", "ot", "oracle_mean", "spline_full", "spline_bend", "mean_err_ot", "mean_err_bend")


def run(data, seeds: list[int]) -> list[list[float]]:
    """Rows of the first table (one per seed and held-out time) for ``data``, a ``time_course()``."""
    X, t, times, reference = data
    rows = []
    for seed in seeds:
        for k in range(1, len(times) - 1):
            half_a, half_b = held_out_halves(X[t == times[k]], times[k], k, seed, 1000, reference)
            s = time_fraction(times[k - 1], times[k + 1], times[k])
            rng = np.random.default_rng(seed)
            ot_cells = ot_interpolation(X[t == times[k - 1]], X[t == times[k + 1]], s, len(half_b), rng)
            train = [i for i in range(len(times)) if i != k]
            means = np.stack([X[t == times[i]].mean(0) for i in train])
            j = train.index(k - 1)
            full = mean_path_departure(means, j, s)
            bend = mean_path_bend(means, j, s)
            target = half_a.mean(0)
            rows.append(
                [
                    w1(half_a, half_b),
                    w1(ot_cells, half_b),
                    w1(ot_cells - ot_cells.mean(0) + target, half_b),
                    w1(ot_cells + full, half_b),
                    w1(ot_cells + bend, half_b),
                    float(np.linalg.norm(ot_cells.mean(0) - target)),
                    float(np.linalg.norm(ot_cells.mean(0) + bend - target)),
                ]
            )
    return rows


def offsets(name: str, data) -> list[str]:
    """Rows of the second table: the held-out mean's offset from the chord, and the spline's bend."""
    X, t, times, _ = data
    out = []
    for k in range(1, len(times) - 1):
        s = time_fraction(times[k - 1], times[k + 1], times[k])
        train = [i for i in range(len(times)) if i != k]
        means = np.stack([X[t == times[i]].mean(0) for i in train])
        j = train.index(k - 1)
        chord = means[j + 1] - means[j]
        length = float(np.linalg.norm(chord))
        a = chord / length
        err = X[t == times[k]].mean(0) - ((1 - s) * means[j] + s * means[j + 1])
        across = err - (err @ a) * a
        bend = mean_path_bend(means, j, s)
        nb, na = float(np.linalg.norm(bend)), float(np.linalg.norm(across))
        cos = float(across @ bend / (na * nb)) if nb > 0 and na > 0 else float("nan")
        values = [s, length, s + float(err @ a) / length, na, nb, cos, float(np.linalg.norm(across - bend))]
        out.append(f"| {name} | {times[k]:g} | " + " | ".join(f"{v:.3g}" for v in values) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(f"`python docs/mean_path.py {' '.join(sys.argv[1:])}`".replace(" `", "`"), "\n")
    print("| dataset | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    data = {name: DATASETS[name].time_course() for name in args.datasets}
    for name in args.datasets:
        mean = np.mean(run(data[name], args.seeds), axis=0)
        print(f"| {name} | " + " | ".join(f"{v:.4g}" for v in mean) + " |", flush=True)
    print("\n| dataset | t_k | s | chord | progress | offset across | bend | cosine | left across |")
    print("|---|---:|" + "---:|" * 7)
    for name in args.datasets:
        print("\n".join(offsets(name, data[name])), flush=True)


if __name__ == "__main__":
    main()

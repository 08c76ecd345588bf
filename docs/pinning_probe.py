"""What does pinning add to transported cells, and what does the model's curvature add to pinning?

Usage (the real data are read from ``WF_SC_DATA_DIR`` or downloaded)::

    python docs/pinning_probe.py DATASET [--seeds 0 1 2] [--bend] [--set KEY=VALUE ...]

For each seed and interior time ``t_k`` of a benchmark dataset, WeightFlow is fitted without
``t_k`` (as in the benchmark). The real cells of ``t_k`` are split in two halves as in the benchmark
(``floor`` scores one against the other; simulators: against fresh draws of the true population).
``m`` cells are predicted, ``1 - s`` of them from ``t_{k-1}`` moved forward and ``s`` from
``t_{k+1}`` backward; each moved cell ``x`` gives ``y`` (moved to ``t_k``), ``e`` (moved to the other
neighbour) and ``z`` (its partner there, :func:`wf_sc._core.baselines.ot_partners`):

- ``transported``: ``y``;
- ``per_cell``: ``y + u (z - e) = (1 - u) x + u z + c``, each cell with its own curvature
  ``c = y - (1 - u) x - u e`` (:func:`wf_sc._core.transport.departure`; the ablation
  ``wf_pinned_per_cell``);
- ``pinned``: ``(1 - u) x + u z + c16``, ``c`` averaged over the 16 nearest moved cells
  (:func:`wf_sc._core.transport.neighbour_mean`, :func:`wf_sc._core.transport.pin_to_observed`;
  the benchmark's ``weightflow``);
- ``straight``: ``(1 - u) x + u z``, the same pairs without the model's curvature;
- ``mean_curved``: ``(1 - u) x + u z + mean(c)``, the straight line plus only the mean of the
  curvature over the moved cells (the curvature of the model's mean path, which does not depend
  on how the map pairs cells);
- ``ot``: exact-OT displacement interpolation between the neighbours (the benchmark's ``ot``).

Prints a markdown table of W1 per seed and held-out time, then the means (``docs/pinning.md``
holds the output for EMT 10-D and EMT 3-D). The random draws differ
from the benchmark's, so single values differ from ``docs/benchmarks.md`` by sampling noise.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from wf_sc._core.baselines import ot_interpolation, ot_partners, time_fraction
from wf_sc._core.mean_path import mean_path_bend, mean_path_departure, replace_mean_bend
from wf_sc._core.metrics import subsample, w1
from wf_sc._core.transport import CURVATURE_NEIGHBOURS, departure, neighbour_mean, pin_to_observed
from wf_sc.benchmark import DATASETS, parse_settings
from wf_sc.tl import WeightFlow
from wf_sc.tl._benchmark import held_out_halves

COLUMNS = ("floor", "transported", "per_cell", "pinned", "straight", "mean_curved", "ot")
#: with --bend (docs/mean_path.md): the pinned cells with the spline's mean bend
BEND_COLUMNS = ("bend_added", "bend_replaced", "mean_replaced")


def moved(model, x, t_from, t_to, t, far, rng, spline=None):
    """``(transported, per_cell, pinned, straight, mean_curved)`` for the cells ``x`` of ``t_from`` at ``t``.

    With ``spline = (bend, departure, chord)`` (the spline's perpendicular bend, its whole departure
    from the chord, the chord), also ``(bend_added, bend_replaced, mean_replaced)``: the pinned
    cells plus the bend; with the part of their mean curvature across the chord replaced by the
    bend (:func:`wf_sc._core.mean_path.replace_mean_bend`, the benchmark's ``weightflow``; here also
    with two training times, where the bend is zero); with their whole mean curvature replaced by
    the whole departure.
    """
    u = (t - t_from) / (t_to - t_from)
    y, e = model.transport(x, t_from, t), model.transport(x, t_from, t_to)
    z = ot_partners(e, far, rng)
    c = departure(x, y, e, u)
    straight = pin_to_observed(x, z, np.zeros_like(c), u)
    smooth = neighbour_mean(x, c, CURVATURE_NEIGHBOURS)
    pinned = pin_to_observed(x, z, smooth, u)
    out = (y, straight + c, pinned, straight, straight + c.mean(0))
    if spline is None:
        return out
    bend, whole, chord = spline
    replaced = pin_to_observed(x, z, replace_mean_bend(smooth, bend, chord), u)
    return (*out, pinned + bend, replaced, pinned - smooth.mean(0) + whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bend", action="store_true", help=f"also the columns {', '.join(BEND_COLUMNS)}")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", help="WeightFlow settings, as in the benchmark"
    )
    args = parser.parse_args()
    settings = parse_settings(args.set)
    torch.set_num_threads(1)
    spec = DATASETS[args.dataset]
    X, t, times, reference = spec.time_course()
    columns = COLUMNS + (BEND_COLUMNS if args.bend else ())
    command = "python docs/pinning_probe.py " + " ".join(sys.argv[1:])
    print(f"### {args.dataset}\n\nW1; `{command}`\n\n| seed | t_k | " + " | ".join(columns) + " |")
    print("|---:|---:|" + "---:|" * len(columns))
    rows = []
    for seed in args.seeds:
        for k in range(1, len(times) - 1):
            prev, held, nxt = (float(v) for v in times[k - 1 : k + 2])
            x_prev, x_next, x_real = X[t == prev], X[t == nxt], X[t == held]
            half_a, half_b = held_out_halves(x_real, held, k, seed, 1000, reference)
            m = len(half_b)
            model = WeightFlow("time", spec.use_rep, random_state=seed, **settings)
            model.fit_arrays(X[t != held], t[t != held], progress=False)
            rng = np.random.default_rng(seed + 7)
            s = time_fraction(prev, nxt, held)
            n_next = int(round(s * m))
            spline = None
            if args.bend:
                means = np.stack([X[t == u].mean(0) for u in times if u != held])
                j = k - 1  # the interval (t_{k-1}, t_{k+1}) among the training times
                spline = (mean_path_bend(means, j, s), mean_path_departure(means, j, s), means[j + 1] - means[j])
            fwd = moved(model, subsample(x_prev, m - n_next, rng), prev, nxt, held, x_next, rng, spline)
            parts = [fwd]
            if n_next:
                parts.append(moved(model, subsample(x_next, n_next, rng), nxt, prev, held, x_prev, rng, spline))
            preds = [np.concatenate([p[i] for p in parts]) for i in range(len(fwd))]
            ot_cells = ot_interpolation(x_prev, x_next, s, m, rng)
            values = [w1(half_a, half_b), *(w1(p, half_b) for p in preds[:5]), w1(ot_cells, half_b)]
            values += [w1(p, half_b) for p in preds[5:]]
            rows.append(values)
            print(f"| {seed} | {held:g} | " + " | ".join(f"{v:.4g}" for v in values) + " |", flush=True)
    print("| mean | | " + " | ".join(f"{v:.4g}" for v in np.mean(rows, axis=0)) + " |")


if __name__ == "__main__":
    main()

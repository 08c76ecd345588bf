"""Two coordinate orders, and the best-timed OT interpolation, on the benchmark's held-out times.

Usage (the real data are read from ``WF_SC_DATA_DIR`` or downloaded)::

    python docs/order_ensemble.py DATASET [--seeds 0 1 2]

The backbone is autoregressive over the coordinates, so the map that moves cells
(:func:`wf_sc._core.transport.kr_transport`) depends on their order (``docs/curvature_order.py``).
For each seed and interior time ``t_k`` of a dataset of :mod:`wf_sc.benchmark`, WeightFlow is
fitted twice without ``t_k`` (same seed, package defaults): on the coordinates in their order and
reversed. As in the benchmark, a fraction ``1 - s`` of the ``m`` predicted cells are observed
cells of ``t_{k-1}`` moved forward and ``s`` are cells of ``t_{k+1}`` moved backward, each pinned
to the other side (:func:`wf_sc._core.transport.pin_to_observed`, 16-neighbour curvature);
scored by exact W1 against the benchmark's half B (simulators: a fresh draw of the truth).
Columns:

- ``given`` / ``reversed``: pinned with one fit (its endpoint ``e`` for the OT partners, its
  curvature);
- ``both``: pinned with the mean over the two fits of the endpoint (partners) and of the curvature;
- ``straight``: the partners of ``both`` on straight lines, no curvature;
- ``ot``: the benchmark's exact-OT displacement interpolation at ``s``;
- ``ot_best`` (``s*``): the same pairs at the fraction of ``0, 0.05, ..., 1`` that scores best
  against half B itself, an oracle: no method can choose its time that way, so it bounds what
  displacement interpolation between the neighbours can reach.

The cells moved and the partners are drawn as in ``move_observed`` but with this script's own
random numbers, so ``given`` is the benchmark's ``weightflow`` up to those draws.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from wf_sc._core.baselines import ot_interpolation, ot_partners, time_fraction
from wf_sc._core.metrics import subsample, w1
from wf_sc._core.transport import CURVATURE_NEIGHBOURS, departure, neighbour_mean, pin_to_observed
from wf_sc.benchmark import DATASETS
from wf_sc.tl import WeightFlow
from wf_sc.tl._benchmark import held_out_halves

COLUMNS = ("given", "reversed", "both", "straight", "ot", "ot_best")
GRID = np.linspace(0.0, 1.0, 21)


def pinned_variants(models, orders, x, t_from, t_to, t, far, seed):
    """The pinned predictions of ``x`` (observed at ``t_from``) at ``t``, per column."""
    u = (t - t_from) / (t_to - t_from)
    ends, bends = [], []
    for order, model in zip(orders, models):
        back = np.argsort(order)
        y = model.transport(x[:, order], t_from, t)[:, back]
        e = model.transport(x[:, order], t_from, t_to)[:, back]
        ends.append(e)
        bends.append(departure(x, y, e, u))

    def partners(e):  # the same random numbers for every column
        return ot_partners(e, far, np.random.default_rng(seed + 5))

    def smooth(c):
        return neighbour_mean(x, c, CURVATURE_NEIGHBOURS)

    z_both = partners(0.5 * (ends[0] + ends[1]))
    return {
        "given": pin_to_observed(x, partners(ends[0]), smooth(bends[0]), u),
        "reversed": pin_to_observed(x, partners(ends[1]), smooth(bends[1]), u),
        "both": pin_to_observed(x, z_both, smooth(0.5 * (bends[0] + bends[1])), u),
        "straight": pin_to_observed(x, z_both, np.zeros_like(x), u),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = DATASETS[args.dataset]
    X, t, times, reference = spec.time_course()
    orders = [np.arange(X.shape[1]), np.arange(X.shape[1])[::-1]]
    print(f"### {args.dataset}\n")
    print("| seed | t_k | " + " | ".join(COLUMNS) + " | s | s* | fit (s) |")
    print("|---:|---:|" + "---:|" * (len(COLUMNS) + 3))
    rows = []
    for seed in args.seeds:
        for k in range(1, len(times) - 1):
            prev, held, nxt = (float(v) for v in times[k - 1 : k + 2])
            x_prev, x_next, x_real = X[t == prev], X[t == nxt], X[t == held]
            _, half_b = held_out_halves(x_real, held, k, seed, 1000, reference)
            m = len(half_b)
            start = time.perf_counter()
            models = [
                WeightFlow("time", spec.use_rep, random_state=seed).fit_arrays(
                    X[t != held][:, order], t[t != held], progress=False
                )
                for order in orders
            ]
            fit_seconds = time.perf_counter() - start
            rng = np.random.default_rng(seed + 7)
            s = time_fraction(prev, nxt, held)
            n_next = int(round(s * m))
            groups = [(subsample(x_prev, m - n_next, rng), prev, nxt, x_next)]
            if n_next:
                groups.append((subsample(x_next, n_next, rng), nxt, prev, x_prev))
            parts = [pinned_variants(models, orders, x, a, b, held, far, seed) for x, a, b, far in groups]
            values = [w1(np.concatenate([p[c] for p in parts]), half_b) for c in COLUMNS[:4]]
            values.append(w1(ot_interpolation(x_prev, x_next, s, m, np.random.default_rng(seed + 3)), half_b))
            timed = [w1(ot_interpolation(x_prev, x_next, g, m, np.random.default_rng(seed + 3)), half_b) for g in GRID]
            values.append(min(timed))
            rows.append(values)
            best_s = GRID[int(np.argmin(timed))]
            cells = " | ".join(f"{v:.4f}" for v in values)
            print(f"| {seed} | {held:g} | {cells} | {s:.2f} | {best_s:.2f} | {fit_seconds:.0f} |", flush=True)
    print("| mean | | " + " | ".join(f"{v:.4f}" for v in np.mean(rows, 0)) + " | | | |")


if __name__ == "__main__":
    main()

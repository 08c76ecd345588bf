"""What the probes in this folder share: the benchmark folds they read, met-cell predictions and the
change of velocity along a fitted path (not a probe itself)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from wf_sc._core.objectives import Segment, action_populations, velocity_changes
from wf_sc.benchmark.datasets import DATASETS
from wf_sc.benchmark.methods import WeightFlowMethod
from wf_sc.benchmark.protocol import TimeCourse, held_out_halves, stream
from wf_sc.benchmark.weightflow_methods import FitCache


@dataclass
class Fold:
    """One benchmark fold: ``seed``, the held-out index ``k`` and time ``t``, the training course and
    the held-out cells' two halves (``half_a`` the floor's, ``ref`` the reference)."""

    seed: int
    k: int
    t: float
    train: TimeCourse
    half_a: np.ndarray
    ref: np.ndarray


def fit_cache(position: int) -> FitCache:
    """The benchmark's fit cache, in the folder given as command-line argument ``position`` (if any)."""
    return FitCache(directory=sys.argv[position] if len(sys.argv) > position else None)


def folds(name: str, seeds=(3, 4, 5), held_out: float | None = None) -> Iterator[Fold]:
    """The benchmark's folds of dataset ``name`` (every interior time, or only ``held_out``), seed by seed."""
    ds = DATASETS[name]
    data = ds.time_course()
    times = data.times
    for seed in seeds:
        for k in range(1, len(times) - 1):
            t = float(times[k])
            if held_out is not None and t != held_out:
                continue
            half_a, ref = held_out_halves(data.at(times[k]), t, k, seed, 1000, ds.ground_truth())
            yield Fold(seed, k, t, data.without(times[k]), half_a, ref)


def default_fits(cache: FitCache, name: str = "emt10", seeds=(3, 4, 5)) -> Iterator[tuple[float, int, TimeCourse, object]]:
    """The default fit of every fold of dataset ``name``, fold by fold, seed by seed: (held-out time,
    seed, training course, fitted model), from ``cache`` (fitted and saved there when missing)."""
    data = DATASETS[name].time_course()
    for k in range(1, len(data.times) - 1):
        train = data.without(data.times[k])
        for seed in seeds:
            yield float(data.times[k]), seed, train, cache.get(train, seed, {})[0]


def met_cells(settings: dict, cache: FitCache, fold: Fold) -> np.ndarray:
    """The benchmark's ``weightflow`` prediction (met cells) for ``fold`` from a fit with ``settings``."""
    rng = np.random.default_rng(stream(fold.seed, fold.k, "weightflow"))
    return WeightFlowMethod(settings, cache).predict(fold.train, fold.t, len(fold.half_a), fold.seed, rng, {"prediction": "meet"})


def centre_distance(cells: np.ndarray, ref: np.ndarray) -> float:
    """Distance between the two clouds' means."""
    return float(np.linalg.norm(cells.mean(0) - ref.mean(0)))


def middle_anchor_segment(core) -> Segment:
    """The fitted path of a three-anchor fit integrated from the first anchor over both intervals."""
    grid, states, index = core.integrate_from(0, core.tau[[1, 2]])
    return Segment(0, [1, 2], grid, states, index)


def anchor_kink(core, seed: int, draws: int = 20) -> list[tuple[float, float]]:
    """Of a three-anchor fit: at the first interval's midpoint, the middle anchor and the second
    interval's midpoint, the mean squared change of velocity per cell ``E|dv|^2`` and the squared
    change of the mean velocity ``|E dv|^2`` (:func:`~wf_sc._core.objectives.velocity_changes` of
    the second-order action's 128-cell populations, normalized time, averaged over ``draws``)."""
    gen = torch.Generator().manual_seed(seed)
    per_point = [[] for _ in range(3)]
    with torch.no_grad():
        seg = middle_anchor_segment(core)
        for _ in range(draws):
            for point, (change, _) in zip(per_point, velocity_changes(action_populations(core, seg, 128, gen, 2, None))):
                point.append((float((change**2).sum(-1).mean()), float((change.mean(0) ** 2).sum())))
    return [tuple(np.mean(point, axis=0)) for point in per_point]


def compare_met_cells(names: str, cache: FitCache, switch: dict, labels: tuple[str, str]) -> None:
    """For the default fit of every fold (seeds 3-5) of the comma-separated datasets ``names``: the
    met cells with ``switch["on"]`` False and True (a probe's patch reads it), each scored by W1
    against the reference and by the distance of its centre; prints each fold, then per held-out
    time the means over seeds and the standard error of the paired difference (second minus first)."""
    import pandas as pd

    from wf_sc.benchmark.metrics import w1

    rows = []
    for name in names.split(","):
        for f in folds(name):
            row = dict(dataset=name, seed=f.seed, held_out=f.t)
            for label, on in zip(labels, (False, True)):
                switch["on"] = on
                with torch.no_grad():
                    pred = met_cells({}, cache, f)
                row[f"w1_{label}"] = w1(pred, f.ref)
                row[f"mean_{label}"] = centre_distance(pred, f.ref)
            rows.append(row)
            print(row, flush=True)
    switch["on"] = False
    a, b = labels
    d = pd.DataFrame(rows)
    d["diff"] = d[f"w1_{b}"] - d[f"w1_{a}"]
    g = d.groupby(["dataset", "held_out"])
    print(g[[f"w1_{a}", f"w1_{b}", "diff", f"mean_{a}", f"mean_{b}"]].mean().round(4).to_string())
    print((g["diff"].std() / g["diff"].count() ** 0.5).round(4).to_string())

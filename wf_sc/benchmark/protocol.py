r"""Nested leave-one-timepoint-out: predict each held-out time from the others, choose settings only
on the training times.

For every held-out interior time :math:`t_k` and seed:

1. the real cells of :math:`t_k` (at most ``2 * max_cells``) are split into two disjoint halves
   :math:`A` and :math:`B` of :math:`m` cells (:func:`held_out_halves`); the reference :math:`R`
   is :math:`B`, or for a simulator :math:`m` fresh cells of the true population at :math:`t_k`;
2. every method sees the cells of all other times only. A method with several candidate settings
   chooses one by an **inner** leave-one-out over that training set (:func:`choose`): each interior
   training time :math:`t_j` is predicted from the training times without it, and the setting with
   the lowest mean :math:`W_1` wins. :math:`t_k` is never seen by the choice;
3. the method predicts :math:`m` cells at :math:`t_k` with its setting, scored ``metric(pred, R)``;
4. ``floor`` is ``metric(A, R)``: what sampling noise alone costs at this sample size.

Scoring at equal sizes keeps methods and floor comparable (the finite-sample bias of :math:`W_1`
depends on the sizes). The MMD's RBF bandwidths are fixed from :math:`R` per held-out time and seed.
"""

from __future__ import annotations

import json
import math
import time as _time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._logging import get_logger
from .metrics import RELATIVE_BANDWIDTHS, median_distance, mmd_rbf, subsample, w1, w2

log = get_logger(__name__)

#: every metric the protocol knows
METRICS: tuple[str, ...] = ("w1", "w2", "mmd")
#: the sampling-floor pseudo-method
FLOOR = "floor"
#: tidy columns of :func:`leave_one_out`
COLUMNS: tuple[str, ...] = ("dataset", "held_out", "method", "seed", "metric", "value", "fit_seconds", "setting")

Reference = Callable[..., np.ndarray]


@dataclass(frozen=True)
class TimeCourse:
    """Cells ``X`` (n, d) with times ``t`` (n,); ``times`` the sorted distinct times."""

    X: np.ndarray
    t: np.ndarray

    @property
    def times(self) -> np.ndarray:
        return np.unique(self.t)

    def at(self, u: float) -> np.ndarray:
        """The snapshot at time ``u``."""
        return self.X[self.t == u]

    def snapshots(self) -> list[np.ndarray]:
        """The snapshots in time order."""
        return [self.at(u) for u in self.times]

    def without(self, u: float) -> TimeCourse:
        """The time course with the snapshot at ``u`` removed."""
        keep = self.t != u
        return TimeCourse(self.X[keep], self.t[keep])

    def neighbours(self, u: float) -> tuple[float, float]:
        """The training times just before and just after ``u`` (``u`` strictly inside the range)."""
        times = self.times
        if not times[0] < u < times[-1]:
            raise ValueError(f"time {u:g} is not strictly inside the training range [{times[0]:g}, {times[-1]:g}]")
        j = int(np.searchsorted(times, u, side="right")) - 1
        return float(times[j]), float(times[j + 1])


class Method:
    """A way to predict the population at an unseen time from a training :class:`TimeCourse`.

    ``candidates`` are the settings it may choose among (by :func:`choose`); with one there is
    nothing to choose. Subclasses implement :meth:`predict`.
    """

    candidates: tuple[dict[str, Any], ...] = ({},)

    def predict(self, train: TimeCourse, t: float, n: int, seed: int, rng: np.random.Generator, setting: dict) -> np.ndarray:
        """``n`` cells at time ``t`` (rows may be fewer for methods that return a snapshot as is)."""
        raise NotImplementedError

    def cost(self) -> float | None:
        """Seconds of the last :meth:`predict` if it knows them better than a stopwatch (shared fits)."""
        return None


def stream(*parts: int | str) -> int:
    """A 31-bit seed from integers and names (a method's draws do not depend on what else runs)."""
    ints = [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts]
    return int(np.random.SeedSequence(ints).generate_state(1)[0] >> 1)


def held_out_halves(
    X_real: np.ndarray, t_k: float, k: int, seed: int, max_cells: int, reference: Reference | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The floor's half A and the scored cells of held-out time ``t_k`` (index ``k``) for ``seed``.

    The real cells ``X_real`` are split into two disjoint halves of ``m = min(n // 2, max_cells)``
    cells; the scored cells are half B, or for a simulator ``m`` fresh cells of the true population,
    ``reference(t_k, m, random_state=...)``.
    """
    perm = np.random.default_rng(stream(seed, k, 0)).permutation(len(X_real))
    m = min(len(X_real) // 2, max_cells)
    half_a, half_b = X_real[perm[:m]], X_real[perm[m : 2 * m]]
    if reference is None:
        return half_a, half_b
    ref = np.asarray(reference(t_k, m, random_state=stream(seed, k, 1)), dtype=np.float64)
    if ref.shape != (m, X_real.shape[1]):
        raise ValueError(f"reference returned shape {ref.shape}, expected {(m, X_real.shape[1])}")
    return half_a, ref


def scorer(reference: np.ndarray, metrics: Sequence[str]) -> Callable[[np.ndarray], dict[str, float]]:
    """``pred -> {metric: value}`` against ``reference``, the MMD kernel fixed from the reference."""
    bandwidths = median_distance(reference) * np.asarray(RELATIVE_BANDWIDTHS) if "mmd" in metrics else None
    fns = {"w1": w1, "w2": w2, "mmd": lambda a, b: mmd_rbf(a, b, bandwidths)}
    return lambda pred: {m: float(fns[m](pred, reference)) for m in metrics}


def choose(
    method: Method, train: TimeCourse, name: str, seed: int, max_cells: int
) -> tuple[dict[str, Any], list[float]]:
    r"""The setting of ``method`` with the lowest inner leave-one-out :math:`W_1` on ``train``.

    For each interior time :math:`t_j` of ``train``, every candidate predicts :math:`t_j` from
    ``train.without(t_j)`` and is scored against at most ``max_cells`` cells of :math:`t_j`;
    the candidate with the lowest mean over :math:`j` wins (ties: the first). With one candidate,
    or no interior training time, the first candidate is returned without scoring.

    Returns
    -------
    ``(setting, mean inner W1 per candidate)`` (an empty list when nothing was scored).
    """
    cands = method.candidates
    inner = train.times[1:-1]
    if len(cands) == 1 or len(inner) == 0:
        return dict(cands[0]), []
    scores = np.zeros(len(cands))
    for j, u in enumerate(inner):
        sub = train.without(u)
        ref = np.asarray(subsample(train.at(u), max_cells, np.random.default_rng(stream(seed, "inner", j))), float)
        for c, setting in enumerate(cands):
            rng = np.random.default_rng(stream(seed, "inner", j, name, c))
            scores[c] += w1(np.asarray(method.predict(sub, float(u), len(ref), seed, rng, dict(setting)), float), ref)
    scores /= len(inner)
    best = int(np.argmin(scores))
    log.info("%s: inner leave-one-out over %s chose %s (W1 %s)", name, inner.tolist(), cands[best], scores.round(4))
    return dict(cands[best]), scores.tolist()


def held_out_indices(times: np.ndarray, held_out: float | Sequence[float] | None) -> list[int]:
    """Indices (into the sorted times) of the held-out time points; interior ones only."""
    if len(times) < 3:
        raise ValueError(
            f"leave-one-out needs at least 3 time points (one interior time to hold out), got {times.tolist()}"
        )
    if held_out is None:
        return list(range(1, len(times) - 1))
    out = []
    for h in np.atleast_1d(np.asarray(held_out, dtype=float)):
        match = np.flatnonzero(np.isclose(times, h, rtol=1e-9, atol=1e-9))
        if not len(match):
            raise ValueError(f"held-out time {h:g} is not one of the time points {times.tolist()}")
        k = int(match[0])
        if k in (0, len(times) - 1):
            raise ValueError(
                f"held-out time {h:g} is the first or last time point; only interior times "
                f"{times[1:-1].tolist()} can be predicted from neighbours on both sides"
            )
        out.append(k)
    return list(dict.fromkeys(out))


def leave_one_out(
    data: TimeCourse,
    methods: dict[str, Method],
    *,
    metrics: Sequence[str] = METRICS,
    seeds: Sequence[int] = (0, 1, 2),
    held_out: float | Sequence[float] | None = None,
    max_cells: int = 1000,
    reference: Reference | None = None,
    dataset: str = "data",
    on_seed: Callable[[pd.DataFrame], None] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Run the nested protocol (module notes) for ``methods`` on ``data``; a tidy table.

    Parameters
    ----------
    data
        The whole time course.
    methods
        Name -> :class:`Method`, run in this order after ``floor``.
    metrics
        A subset of :data:`METRICS`.
    seeds
        One run per seed (fits, draws and held-out halves).
    held_out
        Interior time(s) to hold out; ``None``: every interior time.
    max_cells
        Most cells on each side of a metric.
    reference
        Simulator ground truth ``reference(t, n, random_state=...)``: scored against its fresh cells.
    dataset
        Name in the ``dataset`` column.
    on_seed
        Called with the rows of each finished seed (to save them as they come).
    progress
        A progress bar over (seed, held-out time).

    Returns
    -------
    One row per (held-out time, method, seed, metric): :data:`COLUMNS`; ``setting`` is the chosen
    setting as JSON (``"{}"`` for methods with nothing to choose), ``fit_seconds`` the wall time
    of the method's fit and prediction (choice excluded; NaN for ``floor``).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"unknown metrics {unknown}; known are {list(METRICS)}")
    if max_cells < 2:
        raise ValueError(f"max_cells must be >= 2, got {max_cells}")
    times = data.times
    ks = held_out_indices(times, held_out)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ks) * len(seeds), desc=f"leave-one-out {dataset}")
    rows: list[dict] = []
    for seed in seeds:
        seed_rows: list[dict] = []
        for k in ks:
            t_k = float(times[k])
            train = data.without(times[k])
            half_a, ref = held_out_halves(data.at(times[k]), t_k, k, seed, max_cells, reference)
            score = scorer(ref, metrics)

            def add(method: str, pred: np.ndarray, seconds: float, setting: dict) -> None:
                text = json.dumps(setting, sort_keys=True)
                for metric, value in score(np.asarray(pred, dtype=np.float64)).items():
                    seed_rows.append(
                        dict(dataset=dataset, held_out=t_k, method=method, seed=int(seed), metric=metric,
                             value=value, fit_seconds=seconds, setting=text)
                    )

            add(FLOOR, half_a, math.nan, {})
            for name, method in methods.items():
                setting, _ = choose(method, train, name, seed, max_cells)
                rng = np.random.default_rng(stream(seed, k, name))
                start = _time.perf_counter()
                pred = method.predict(train, t_k, len(half_a), int(seed), rng, setting)
                cost = method.cost()
                seconds = cost if cost is not None else _time.perf_counter() - start
                log.info("%s: held out t=%g, seed %d, %s in %.2f s", dataset, t_k, seed, name, seconds)
                add(name, pred, seconds, setting)
            if bar is not None:
                bar.update()
        rows += seed_rows
        if on_seed is not None:
            on_seed(pd.DataFrame(seed_rows, columns=list(COLUMNS)))
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows, columns=list(COLUMNS))

"""WeightFlow as a benchmark method: fits shared through a cache, and the predictions the suite scores.

Every WeightFlow row of the benchmark (:mod:`wf_sc.benchmark.methods`) is a :class:`WeightFlowMethod`
whose candidate settings hold fit settings and how to predict (:data:`PREDICTION_KEYS`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time as _time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._core.config import CoreConfig
from .._core.stage2 import check_loss_weights
from .baselines import OT_CAP, time_fraction
from .metrics import subsample
from .multimarginal import multimarginal
from .pace import pace_fraction
from .protocol import Method, TimeCourse

#: keys of a candidate setting that say how to predict, not how to fit
PREDICTION_KEYS: tuple[str, ...] = ("prediction", "growth", "meet_weight", "spline", "keep_spread")
#: settings that change how a fitted model is read, not the fit: kept out of :class:`FitCache`'s key
#: and set on the model each time the cache hands it out
READ_SETTINGS: tuple[str, ...] = ("query_steps",)


def default_prediction() -> dict[str, Any]:
    """The prediction of the default call: ``wf.tl.interpolate``'s default ``prediction``."""
    import inspect

    from ..tl._fit import interpolate

    return {"prediction": inspect.signature(interpolate).parameters["prediction"].default}


def make_weightflow(seed: int, settings: Mapping[str, Any]):
    """An unfitted WeightFlow on the suite's arrays: ``settings`` holds :class:`~wf_sc.tl.Config`
    fields, and optionally ``device`` and ``effort``."""
    from ..tl._config import Config
    from ..tl._model import WeightFlow

    settings = dict(settings)
    device, effort = settings.pop("device", "auto"), settings.pop("effort", "default")
    return WeightFlow("time", "X", device=device, random_state=int(seed), effort=effort, config=Config.from_dict(settings))


class FitCache:
    """WeightFlow fits keyed by training data, seed and resolved settings, shared by the variants that
    differ only in how they predict; with ``directory``, also saved there and reused by later runs.

    The key covers every setting with its default filled in (the loss weights too) and the package
    version, so a changed default is a new key; a change to the code under the same version is not: clear the folder then.
    The :data:`READ_SETTINGS` are not in the key: they are set on the model each time it is handed out.
    """

    def __init__(self, size: int = 64, directory: str | Path | None = None):
        self.size, self.fits = size, OrderedDict()
        self.directory = None if directory is None else Path(directory)

    @staticmethod
    def key(train: TimeCourse, seed: int, settings: dict[str, Any]) -> str:
        """A hex digest of the training cells and times, the seed, the resolved settings and the version."""
        from .. import __version__

        model = make_weightflow(seed, settings)
        train_settings = {**asdict(model.train), "loss_weights": check_loss_weights(model.train.loss_weights)}
        core = {f.name: f.default for f in fields(CoreConfig) if f.name not in ("dim", "n_times", *READ_SETTINGS)}
        core.update((k, v) for k, v in model.core_kwargs.items() if k not in READ_SETTINGS)
        # resolved: a setting passed at its default value, or a default that changes to it, gives the same key
        resolved = {"core": core, "train": train_settings, "version": __version__}
        digest = hashlib.sha1(np.ascontiguousarray(train.X).tobytes() + np.ascontiguousarray(train.t).tobytes())
        digest.update(json.dumps({"seed": int(seed), **resolved}, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def get(self, train: TimeCourse, seed: int, settings: dict[str, Any]):
        from ..tl._model import WeightFlow

        key = self.key(train, seed, settings)
        if key in self.fits:
            return self._read_as(self.fits[key], settings)
        path = None if self.directory is None else self.directory / f"{key}.pt"
        if path is not None and path.exists():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            self.fits[key] = (WeightFlow.from_state(saved["model"], device=settings.get("device", "auto")), saved["seconds"])
        else:
            start = _time.perf_counter()
            model = make_weightflow(seed, settings)
            model.fit_arrays(train.X, train.t, progress=False)
            self.fits[key] = (model, _time.perf_counter() - start)
            if path is not None:  # written whole or not at all: an interrupted run leaves no broken file
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial")
                torch.save({"model": model.state(), "seconds": self.fits[key][1]}, partial)
                os.replace(partial, path)
        while len(self.fits) > self.size:
            self.fits.popitem(last=False)
        return self._read_as(self.fits[key], settings)

    @staticmethod
    def _read_as(fit: tuple, settings: dict[str, Any]) -> tuple:
        """The fit with the :data:`READ_SETTINGS` of ``settings`` (package defaults where absent) set on its model."""
        for name in READ_SETTINGS:
            setattr(fit[0].core.config, name, settings.get(name, getattr(CoreConfig, name)))
        return fit


class WeightFlowMethod(Method):
    """WeightFlow fitted on the training cells with ``settings``, predicting as its setting says.

    A candidate setting holds ``prediction`` (``"meet"``, ``"sample"`` or ``"transport"``; default ``"sample"``),
    ``growth`` (transported cells drawn with growth weights) and any :class:`~wf_sc.tl.Config`
    fields, which are applied to ``settings`` for the fit.
    """

    def __init__(self, settings: Mapping[str, Any], cache: FitCache, candidates=({"prediction": "sample"},)):
        self.settings, self.cache, self.candidates = dict(settings), cache, tuple(candidates)
        self._seconds: float | None = None

    def predict(self, train, t, n, seed, rng, setting):
        from ..tl._moving import meet_observed, move_observed

        fit = _merged(self.settings, {k: v for k, v in setting.items() if k not in PREDICTION_KEYS})
        model, fit_seconds = self.cache.get(train, seed, fit)
        start = _time.perf_counter()
        # the draws of wf.tl.interpolate(..., random_state=seed) at one time, whatever the method's name
        if setting.get("prediction", "sample") == "sample":
            pred = model.sample(t, n, random_state=seed)
        elif setting["prediction"] == "carried":
            rng_move = np.random.default_rng(seed)
            clouds = [model.transport(subsample(x, OT_CAP, rng_move), float(u), t)
                      for x, u in zip(train.snapshots(), train.times)]
            pred = multimarginal(clouds, train.times, t, n, rng_move, spline=setting.get("spline", "pchip"))
        elif setting["prediction"] == "meet_model":
            # two independent samples of the fitted density at t, paired by the optimal assignment and
            # averaged with weights 1 - s and s: the met cells' estimator on the model's own cells
            from ..tl._moving import optimal_pairing

            s = time_fraction(*train.neighbours(t), t)
            a = model.sample(t, n, random_state=2 * seed)
            b = model.sample(t, n, random_state=2 * seed + 1)
            pred = (1 - s) * a + s * b[optimal_pairing(a, b, np.random.default_rng(seed))]
        elif setting["prediction"] == "meet":
            weight = at = None
            if setting.get("meet_weight") in ("clock", "clock_time"):  # the pace clock's fraction, not the time's
                weight = pace_fraction(train.snapshots(), train.times, t, np.random.default_rng(seed))
                if setting["meet_weight"] == "clock_time":  # both sides carried to the clock's time
                    t_prev, t_next = train.neighbours(t)
                    at = t_prev + weight * (t_next - t_prev)
            pred = meet_observed(model, train.X, train.t, train.times, t, n, np.random.default_rng(seed),
                                 setting.get("growth", False), weight, at, setting.get("keep_spread", False))[0]
        else:
            rng_move = np.random.default_rng(seed)
            pred = move_observed(model, train.X, train.t, train.times, t, n, rng_move, setting.get("growth", False))[0]
        self._seconds = fit_seconds + _time.perf_counter() - start
        return pred

    def cost(self) -> float | None:
        return self._seconds


class WeightFlowLineages(WeightFlowMethod):
    """WeightFlow fitted on lineage-weighted snapshots (division and death removed), predicting with
    growth-weighted transport of the real training cells.

    Each training snapshot is redrawn, as many cells as it has, from at most 3,000 of its cells with
    the weights of :func:`~wf_sc._core.growth.lineage_weights`, so the fitted flow moves lineages of
    constant mass; the transported cells then divide and die on the way
    (:func:`~wf_sc.tl._moving.growth_weights`), which restores the growth the weights removed.
    """

    def predict(self, train, t, n, seed, rng, setting):
        from .._core.growth import lineage_weights
        from ..tl._moving import move_observed

        gen = torch.Generator().manual_seed(int(seed))
        snapshots = [torch.as_tensor(x, dtype=torch.float64) for x in train.snapshots()]
        draw = np.random.default_rng(seed)
        cells, times = [], []
        for x, u, (idx, w) in zip(snapshots, train.times, lineage_weights(snapshots, generator=gen)):
            rows = idx.numpy()[draw.choice(len(idx), size=len(x), p=(w / w.sum()).numpy())]
            cells.append(x.numpy()[rows])
            times.append(np.full(len(x), u))
        weighted = TimeCourse(np.concatenate(cells).astype(train.X.dtype), np.concatenate(times))
        model, fit_seconds = self.cache.get(weighted, seed, self.settings)
        start = _time.perf_counter()
        pred = move_observed(model, train.X, train.t, train.times, t, n, np.random.default_rng(seed), growth=True)[0]
        self._seconds = fit_seconds + _time.perf_counter() - start
        return pred


def _merged(settings: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with ``change`` applied (loss weights merged)."""
    out = dict(settings)
    for key, value in change.items():
        out[key] = {**out.get(key, {}), **value} if key == "loss_weights" else value
    return out

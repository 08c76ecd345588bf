r"""The methods of the benchmark: WeightFlow's default call, its ablations, and the baselines.

Each is a :class:`~wf_sc.benchmark.protocol.Method` that sees only a training time course. With
:math:`t_{\mathrm{prev}} < t < t_{\mathrm{next}}` the training times around the predicted time and
:math:`s` its time fraction:

- ``weightflow``: the default call, ``wf.tl.fit`` with no options on the training cells, then
  ``wf.tl.interpolate(adata, t, n_cells=m, random_state=seed)`` (its default ``prediction``);
- ``wf_sample``: the same fit, ``prediction="sample"``: fresh cells of the model's density;
- ``wf_transport``: the same fit, the default before ``meet``: observed cells moved to ``t``, a
  fraction :math:`1 - s` from :math:`t_{\mathrm{prev}}` and :math:`s` from :math:`t_{\mathrm{next}}`,
  not paired (:func:`~wf_sc.tl._moving.move_observed`);
- ``wf_nested``: the same fit; ``sample`` or ``transport`` chosen by the inner leave-one-out;
- ``wf_meet_nested``: the same fit; ``transport`` or ``meet`` chosen by the inner leave-one-out
  (how ``meet`` became the default);
- ``wf_meet_growth`` / ``wf_meet_pace`` / ``wf_meet_clock``: met cells whose sides are drawn with
  growth weights / averaged with the pace clock's fraction / carried to the pace clock's time and
  averaged with its fraction (the identity flow gives ``ot_pace``); ``wf_meet_spread``: met cells
  rescaled about their centroid to the carried clouds' spread; the ``_nested`` rows choose each
  against plain met cells by the inner leave-one-out;
- ``wf_carried``: every training snapshot's cells carried to ``t`` along the fitted flow, chained by
  exact OT between consecutive carried clouds and read off one PCHIP spline per chained path
  (:func:`~wf_sc.benchmark.multimarginal.multimarginal` on the carried clouds; with the identity
  flow it is ``mm_pchip``); ``wf_carried_nested`` chooses it against met cells by the inner leave-one-out;
- ``wf_growth``: the default fit, its transported cells drawn with growth weights so that they
  divide and die on the way (:func:`~wf_sc.tl._moving.growth_weights`; the parity row is ``ot_growth``);
- ``wf_lineages``: WeightFlow fitted on lineage-weighted snapshots, so the flow moves lineages of
  constant mass, predicting like ``wf_growth`` (:class:`WeightFlowLineages`);
- ``wf_budget_nested``: the default call with Stage 1's warm-started anchors allowed 500 (the
  default) or 1,500 steps before early stopping, chosen by the inner leave-one-out;
- ``wf_stage2_nested``: the default call with Stage 2 run for 200 (the default) or 600 steps,
  chosen by the inner leave-one-out;
- ``wf_action_nested``: the default call with the population action weighted 0.5 (the default)
  or 2.0 (``wf_strong_action``), chosen by the inner leave-one-out;
- ablations (:data:`ABLATIONS`): WeightFlow with one fit setting changed, predicting like ``weightflow``;
  among them the weight-space variants ``wf_rebasin`` (anchors from independent random starts,
  matched by weight matching, instead of warm starts) and ``wf_barzel`` (the field's graph layers in
  Barabási-Barzel form instead of attention);
- ``previous`` / ``next``: a neighbouring snapshot unchanged; ``mixture``: :math:`s` of the cells
  from :math:`t_{\mathrm{next}}`, the rest from :math:`t_{\mathrm{prev}}`;
- ``ot``: exact-OT displacement interpolation at :math:`s`;
- ``ot_growth``: the same, with cells dividing and dying by unbalanced transport
  (:func:`~wf_sc.benchmark.baselines.ot_growth`; the growth ``wf.tl.growth`` reports);
- ``ot_pace``: the same at the pace clock's fraction (:func:`~wf_sc.benchmark.pace.pace_fraction`),
  the data-only pace WeightFlow's action prefers;
- ``ot_bend``: OT interpolation shifted by the bend of the spline through all training means;
- ``mm_cubic`` / ``mm_pchip``: exact-OT maps chained through all training snapshots, one natural
  cubic / PCHIP spline per path (:mod:`~wf_sc.benchmark.multimarginal`); ``mm_nested`` chooses
  between the two by the inner leave-one-out;
- ``otcfm``: OT conditional flow matching on all training intervals, integrating the real cells of
  :math:`t_{\mathrm{prev}}` (:class:`~wf_sc.benchmark.otcfm.OTCFM`).
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

from .._core.flow import CoreConfig
from .baselines import OT_CAP, PREDICTORS, ot_bend, ot_interpolation, time_fraction
from .mean_path import mean_path_bend
from .metrics import subsample
from .multimarginal import multimarginal
from .otcfm import OTCFM
from .pace import pace_fraction
from .protocol import Method, TimeCourse

#: the headline methods, in table order
METHODS: tuple[str, ...] = (
    "weightflow",
    "previous",
    "next",
    "mixture",
    "ot",
    "ot_growth",
    "ot_pace",
    "ot_bend",
    "mm_cubic",
    "mm_pchip",
    "otcfm",
)
#: WeightFlow variants beside the default call: name -> fit settings changed, or the prediction
ABLATIONS: dict[str, dict[str, Any]] = {
    "wf_sample": {},
    "wf_nested": {},
    "wf_budget_nested": {},
    "wf_stage2_nested": {},
    "wf_action_nested": {},
    "wf_growth": {},
    "wf_transport": {},
    "wf_meet_nested": {},
    "wf_meet_growth": {},
    "wf_meet_growth_nested": {},
    "wf_meet_pace": {},
    "wf_carried": {},
    "wf_carried_nested": {},
    "wf_meet_pace_nested": {},
    "wf_meet_clock": {},
    "wf_meet_spread": {},
    "wf_meet_spread_nested": {},
    "wf_meet_clock_nested": {},
    "wf_lineages": {},
    "wf_ode": {"dynamics": "ode"},
    "wf_linear": {"dynamics": "linear"},
    "wf_no_action": {"loss_weights": {"ot_action": 0.0}},
    "wf_constant_pace": {"pace": "constant"},
    "wf_no_bridge": {"bridge": False},
    "wf_rebasin": {"anchor_start": "rebasin"},
    "wf_barzel": {"conv": "barzel"},
    "wf_stage1_validation": {"stage1_max_steps": 1500},
    "wf_stage2_600": {"stage2_steps": 600},
    "wf_strong_action": {"loss_weights": {"ot_action": 2.0}},
}
#: baselines whose settings are chosen by the inner leave-one-out
NESTED_BASELINES: tuple[str, ...] = ("mm_nested",)
#: every method name known
KNOWN: tuple[str, ...] = (*METHODS, *ABLATIONS, *NESTED_BASELINES)
#: the predictions ``wf_nested`` chooses among (how transported cells became the default before met cells)
WF_PREDICTIONS: tuple[dict[str, Any], ...] = ({"prediction": "sample"}, {"prediction": "transport"})
#: keys of a candidate setting that say how to predict, not how to fit
PREDICTION_KEYS: tuple[str, ...] = ("prediction", "growth", "meet_weight", "spline", "keep_spread")
#: the predictions ``wf_meet_nested`` chooses among (the default before ``meet``, then ``meet``)
WF_MEET_CHOICES: tuple[dict[str, Any], ...] = ({"prediction": "transport"}, {"prediction": "meet"})
#: the Stage-1 budgets ``wf_budget_nested`` chooses among (fit settings; the package default first)
WF_BUDGETS: tuple[dict[str, Any], ...] = ({}, {"stage1_max_steps": 1500})
#: the Stage-2 budgets ``wf_stage2_nested`` chooses among (the package default first)
WF_STAGE2_BUDGETS: tuple[dict[str, Any], ...] = ({}, {"stage2_steps": 600})
#: the population-action weights ``wf_action_nested`` chooses among (the package default first)
WF_ACTIONS: tuple[dict[str, Any], ...] = ({}, {"loss_weights": {"ot_action": 2.0}})
#: the fit settings each nested WeightFlow variant chooses among, predicting like the default call
NESTED_CHOICES: dict[str, tuple[dict[str, Any], ...]] = {
    "wf_budget_nested": WF_BUDGETS, "wf_stage2_nested": WF_STAGE2_BUDGETS, "wf_action_nested": WF_ACTIONS,
}
#: the WeightFlow variants that choose by the inner leave-one-out
NESTED_WEIGHTFLOW: tuple[str, ...] = (
    "wf_nested", "wf_meet_nested", "wf_meet_growth_nested", "wf_meet_pace_nested", "wf_meet_clock_nested",
    "wf_meet_spread_nested", "wf_carried_nested", "wf_budget_nested", "wf_stage2_nested", "wf_action_nested",
)


def default_prediction() -> dict[str, Any]:
    """The prediction of the default call: ``wf.tl.interpolate``'s default ``prediction``."""
    import inspect

    from ..tl._fit import interpolate

    return {"prediction": inspect.signature(interpolate).parameters["prediction"].default}


class Pairwise(Method):
    """A predictor from the two training snapshots around ``t`` (:data:`~wf_sc.benchmark.baselines.PREDICTORS`)."""

    def __init__(self, name: str):
        self.fn = PREDICTORS[name]

    def predict(self, train, t, n, seed, rng, setting):
        t_prev, t_next = train.neighbours(t)
        return self.fn(train.at(t_prev), train.at(t_next), time_fraction(t_prev, t_next, t), n, rng)


class OTPace(Method):
    """Exact-OT interpolation at the pace clock's fraction of the interval."""

    def predict(self, train, t, n, seed, rng, setting):
        t_prev, t_next = train.neighbours(t)
        s = pace_fraction(train.snapshots(), train.times, t, rng)
        return ot_interpolation(train.at(t_prev), train.at(t_next), s, n, rng)


class OTBend(Method):
    """Exact-OT interpolation plus the perpendicular bend of the spline through the training means."""

    def predict(self, train, t, n, seed, rng, setting):
        t_prev, t_next = train.neighbours(t)
        s = time_fraction(t_prev, t_next, t)
        means = np.stack([x.mean(0) for x in train.snapshots()]).astype(np.float64)
        j = int(np.searchsorted(train.times, t_prev))
        try:
            bend = mean_path_bend(means, j, s)
        except ValueError:  # two consecutive means coincide: no chord to bend away from
            bend = np.zeros(means.shape[1])
        return ot_bend(train.at(t_prev), train.at(t_next), s, n, rng, bend=bend)


class MultiMarginal(Method):
    """Chained exact-OT paths through every training snapshot, one spline per path."""

    def __init__(self, splines: tuple[str, ...]):
        self.candidates = tuple({"spline": s} for s in splines)

    def predict(self, train, t, n, seed, rng, setting):
        return multimarginal(train.snapshots(), train.times, t, n, rng, spline=setting["spline"])


class OTCFMMethod(Method):
    """OT-CFM trained on all training intervals, integrating the real cells of ``t_prev``."""

    def __init__(self, kwargs: Mapping[str, Any]):
        self.kwargs = dict(kwargs)

    def predict(self, train, t, n, seed, rng, setting):
        t_prev, _ = train.neighbours(t)
        cfm = OTCFM(random_state=seed, **self.kwargs).fit(train.snapshots(), train.times)
        return cfm.predict(subsample(train.at(t_prev), n, rng), t_prev, t)


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

    The key covers every setting with its default filled in and the package version, so a changed
    default is a new key; a change to the code under the same version is not: clear the folder then.
    """

    def __init__(self, size: int = 64, directory: str | Path | None = None):
        self.size, self.fits = size, OrderedDict()
        self.directory = None if directory is None else Path(directory)

    @staticmethod
    def key(train: TimeCourse, seed: int, settings: dict[str, Any]) -> str:
        """A hex digest of the training cells and times, the seed, the resolved settings and the version."""
        from .. import __version__

        model = make_weightflow(seed, settings)
        resolved = {"core": model.core_kwargs, "train": asdict(model.train), "version": __version__}
        resolved["core_defaults"] = {f.name: f.default for f in fields(CoreConfig) if f.name not in ("dim", "n_times")}
        digest = hashlib.sha1(np.ascontiguousarray(train.X).tobytes() + np.ascontiguousarray(train.t).tobytes())
        digest.update(json.dumps({"seed": int(seed), **resolved}, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def get(self, train: TimeCourse, seed: int, settings: dict[str, Any]):
        from ..tl._model import WeightFlow

        key = self.key(train, seed, settings)
        if key in self.fits:
            return self.fits[key]
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
        return self.fits[key]


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


def build(
    names: list[str],
    *,
    weightflow_kwargs: Mapping[str, Any] | None = None,
    otcfm_kwargs: Mapping[str, Any] | None = None,
    fit_cache: str | Path | None = None,
) -> dict[str, Method]:
    """Method objects for ``names`` (from :data:`KNOWN`); WeightFlow variants share one fit cache
    (saved in the folder ``fit_cache`` if given, so later runs reuse the fits)."""
    unknown = [m for m in names if m not in KNOWN]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; known are {list(KNOWN)}")
    if not names:
        raise ValueError(f"no methods given; known are {list(KNOWN)}")
    wf = dict(weightflow_kwargs or {})
    for label, kw in (("weightflow_kwargs", wf), ("otcfm_kwargs", otcfm_kwargs or {})):
        if "random_state" in kw:
            raise ValueError(f"{label} must not set random_state: each run uses its seed")
    cache = FitCache(directory=fit_cache)
    out: dict[str, Method] = {}
    for name in dict.fromkeys(names):
        if name in PREDICTORS:
            out[name] = Pairwise(name)
        elif name == "ot_pace":
            out[name] = OTPace()
        elif name == "ot_bend":
            out[name] = OTBend()
        elif name.startswith("mm_"):
            out[name] = MultiMarginal(("cubic", "pchip") if name == "mm_nested" else (name[3:],))
        elif name == "otcfm":
            out[name] = OTCFMMethod(otcfm_kwargs or {})
        elif name == "wf_sample":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "sample"},))
        elif name == "wf_nested":
            out[name] = WeightFlowMethod(wf, cache, WF_PREDICTIONS)
        elif name == "wf_transport":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "transport"},))
        elif name == "wf_meet_nested":
            out[name] = WeightFlowMethod(wf, cache, WF_MEET_CHOICES)
        elif name == "wf_carried":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "carried", "spline": "pchip"},))
        elif name == "wf_carried_nested":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet"}, {"prediction": "carried", "spline": "pchip"}))
        elif name == "wf_meet_spread":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet", "keep_spread": True},))
        elif name == "wf_meet_spread_nested":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet"}, {"prediction": "meet", "keep_spread": True}))
        elif name == "wf_meet_clock":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet", "meet_weight": "clock_time"},))
        elif name == "wf_meet_clock_nested":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet"}, {"prediction": "meet", "meet_weight": "clock_time"}))
        elif name == "wf_meet_pace":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet", "meet_weight": "clock"},))
        elif name == "wf_meet_pace_nested":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet"}, {"prediction": "meet", "meet_weight": "clock"}))
        elif name == "wf_meet_growth":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet", "growth": True},))
        elif name == "wf_meet_growth_nested":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "meet"}, {"prediction": "meet", "growth": True}))
        elif name == "wf_growth":
            out[name] = WeightFlowMethod(wf, cache, ({"prediction": "transport", "growth": True},))
        elif name == "wf_lineages":
            out[name] = WeightFlowLineages(wf, cache)
        elif name in NESTED_CHOICES:
            out[name] = WeightFlowMethod(wf, cache, tuple({**default_prediction(), **b} for b in NESTED_CHOICES[name]))
        else:  # weightflow (the default call) and the fit ablations
            out[name] = WeightFlowMethod(_merged(wf, ABLATIONS.get(name, {})), cache, (default_prediction(),))
    return out

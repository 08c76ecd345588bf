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
- ``wf_meet_model``: two independent samples of the fitted density at ``t``, paired by the optimal
  assignment and averaged like the met cells; ``wf_meet_model_nested`` chooses it against met cells
  by the inner leave-one-out;
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
- ``wf_accel_nested``: the default call with or without the second-order population action
  (``ot_accel``, weighted 0.5 by default; ``wf_no_accel``: without it, each interval a geodesic, the
  default before), chosen by the inner leave-one-out (how the action became the default);
- ``wf_bridge_nested``: the default call with the bridge linear in time (the default) or growing
  along the pace clock (``wf_bridge_clock``), chosen by the inner leave-one-out;
- ``wf_points_nested``: the default call with the population actions measured at two (the default)
  or four (``wf_points4``) points per anchor interval, chosen by the inner leave-one-out;
- ablations (:data:`ABLATIONS`): WeightFlow with one fit setting changed, predicting like ``weightflow``;
  among them the weight-space variants ``wf_rebasin`` (anchors from independent random starts,
  matched by weight matching, instead of warm starts) and ``wf_barzel`` (the field's graph layers in
  Barabási-Barzel form instead of attention);
- ``previous`` / ``next``: a neighbouring snapshot unchanged; ``mixture``: :math:`s` of the cells
  from :math:`t_{\mathrm{next}}`, the rest from :math:`t_{\mathrm{prev}}`;
- ``ot``: exact-OT displacement interpolation at :math:`s`;
- ``ot_meet``: the met cells with a flow that moves nothing, from the default call's draws
  (:class:`OTMeet`): the default call minus this row is what the learned flow adds;
  ``ot_meet_pace`` / ``ot_meet_bend`` / ``ot_meet_growth``: the same with the pace clock's fraction /
  the means' spline bend / growth-weighted draws;
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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .baselines import PREDICTORS, ot_bend, ot_interpolation, time_fraction
from .mean_path import mean_path_bend
from .metrics import subsample
from .multimarginal import multimarginal
from .otcfm import OTCFM
from .pace import pace_fraction
from .protocol import Method
from .weightflow_methods import FitCache, WeightFlowLineages, WeightFlowMethod, _merged, default_prediction

#: the headline methods, in table order
METHODS: tuple[str, ...] = (
    "weightflow",
    "previous",
    "next",
    "mixture",
    "ot",
    "ot_meet",
    "ot_meet_pace",
    "ot_meet_bend",
    "ot_meet_growth",
    "ot_growth",
    "ot_pace",
    "ot_bend",
    "mm_cubic",
    "mm_pchip",
    "otcfm",
)
_MEET = {"prediction": "meet"}
_CARRIED = {"prediction": "carried", "spline": "pchip"}
#: WeightFlow rows that fit like the default call and differ in how they predict: name -> the
#: predictions it uses (one: fixed; two: chosen by the inner leave-one-out)
PREDICTION_VARIANTS: dict[str, tuple[dict[str, Any], ...]] = {
    "wf_sample": ({"prediction": "sample"},),
    "wf_nested": ({"prediction": "sample"}, {"prediction": "transport"}),
    "wf_transport": ({"prediction": "transport"},),
    "wf_meet_nested": ({"prediction": "transport"}, _MEET),
    "wf_growth": ({"prediction": "transport", "growth": True},),
    "wf_meet_growth": ({**_MEET, "growth": True},),
    "wf_meet_growth_nested": (_MEET, {**_MEET, "growth": True}),
    "wf_meet_pace": ({**_MEET, "meet_weight": "clock"},),
    "wf_meet_pace_nested": (_MEET, {**_MEET, "meet_weight": "clock"}),
    "wf_meet_clock": ({**_MEET, "meet_weight": "clock_time"},),
    "wf_meet_clock_nested": (_MEET, {**_MEET, "meet_weight": "clock_time"}),
    "wf_meet_spread": ({**_MEET, "keep_spread": True},),
    "wf_meet_spread_nested": (_MEET, {**_MEET, "keep_spread": True}),
    "wf_meet_model": ({"prediction": "meet_model"},),
    "wf_meet_model_nested": (_MEET, {"prediction": "meet_model"}),
    "wf_carried": (_CARRIED,),
    "wf_carried_nested": (_MEET, _CARRIED),
}
#: the Stage-1 budgets ``wf_budget_nested`` chooses among (fit settings; the package default first)
WF_BUDGETS: tuple[dict[str, Any], ...] = ({}, {"stage1_max_steps": 1500})
#: the Stage-2 budgets ``wf_stage2_nested`` chooses among (the package default first)
WF_STAGE2_BUDGETS: tuple[dict[str, Any], ...] = ({}, {"stage2_steps": 600})
#: the population-action weights ``wf_action_nested`` chooses among (the package default first)
WF_ACTIONS: tuple[dict[str, Any], ...] = ({}, {"loss_weights": {"ot_action": 2.0}})
#: with or without the second-order action, for ``wf_accel_nested`` (the package default first)
WF_ACCELS: tuple[dict[str, Any], ...] = ({}, {"loss_weights": {"ot_accel": 0.0}})
#: the bridge linear in time or along the pace clock, for ``wf_bridge_nested`` (the package default first)
WF_BRIDGES: tuple[dict[str, Any], ...] = ({}, {"bridge_clock": True})
#: two or four action populations per anchor interval, for ``wf_points_nested`` (the package default first)
WF_POINTS: tuple[dict[str, Any], ...] = ({}, {"action_points": 4})
#: the fit settings each nested WeightFlow variant chooses among, predicting like the default call
NESTED_CHOICES: dict[str, tuple[dict[str, Any], ...]] = {
    "wf_budget_nested": WF_BUDGETS, "wf_stage2_nested": WF_STAGE2_BUDGETS, "wf_action_nested": WF_ACTIONS,
    "wf_accel_nested": WF_ACCELS, "wf_bridge_nested": WF_BRIDGES, "wf_points_nested": WF_POINTS,
}
#: WeightFlow variants beside the default call: name -> fit settings changed ({} for the variants that
#: predict differently or choose by the inner leave-one-out)
ABLATIONS: dict[str, dict[str, Any]] = {
    **dict.fromkeys(PREDICTION_VARIANTS, {}),
    **dict.fromkeys(NESTED_CHOICES, {}),
    "wf_lineages": {},
    "wf_ode": {"dynamics": "ode"},
    "wf_linear": {"dynamics": "linear"},
    "wf_no_action": {"loss_weights": {"ot_action": 0.0, "ot_accel": 0.0}},
    "wf_constant_pace": {"pace": "constant"},
    "wf_no_bridge": {"bridge": False},
    "wf_bridge_clock": {"bridge_clock": True},
    "wf_points4": {"action_points": 4},
    "wf_rebasin": {"anchor_start": "rebasin"},
    "wf_barzel": {"conv": "barzel"},
    "wf_stage1_validation": {"stage1_max_steps": 1500},
    "wf_stage2_600": {"stage2_steps": 600},
    "wf_strong_action": {"loss_weights": {"ot_action": 2.0}},
    "wf_no_accel": {"loss_weights": {"ot_accel": 0.0}},
}
#: baselines whose settings are chosen by the inner leave-one-out
NESTED_BASELINES: tuple[str, ...] = ("mm_nested",)
#: every method name known
KNOWN: tuple[str, ...] = (*METHODS, *ABLATIONS, *NESTED_BASELINES)
#: the WeightFlow variants that choose by the inner leave-one-out
NESTED_WEIGHTFLOW: tuple[str, ...] = (
    *(name for name, candidates in PREDICTION_VARIANTS.items() if len(candidates) > 1), *NESTED_CHOICES,
)


class Pairwise(Method):
    """A predictor from the two training snapshots around ``t`` (:data:`~wf_sc.benchmark.baselines.PREDICTORS`)."""

    def __init__(self, name: str):
        self.fn = PREDICTORS[name]

    def predict(self, train, t, n, seed, rng, setting):
        t_prev, t_next = train.neighbours(t)
        return self.fn(train.at(t_prev), train.at(t_next), time_fraction(t_prev, t_next, t), n, rng)


class _Still:
    """A flow that moves nothing: :meth:`transport` returns the cells unchanged."""

    @staticmethod
    def transport(x, t_from, t_to):
        return np.asarray(x, dtype=np.float64)


class OTMeet(Method):
    """WeightFlow's met cells with a flow that moves nothing, from the same draws as the default call.

    :func:`~wf_sc.tl._moving.meet_observed` with :class:`_Still` and the generator
    ``np.random.default_rng(seed)`` of ``wf.tl.interpolate(..., random_state=seed)``: the same cells of
    each neighbour, paired by the exact optimal assignment between them and averaged with weights
    ``1 - s`` and ``s``. The default call minus this row is what the learned flow adds. The other
    pieces the table gives to OT can be added (``extra``): ``"pace"``, the later side's share is the
    pace clock's fraction (:func:`pace_fraction`); ``"bend"``, the cells are shifted by the bend of the
    spline through the training means (as ``ot_bend``); ``"growth"``, each side is drawn with growth
    weights, so cells divide and die (:func:`~wf_sc.tl._moving.growth_weights` with the cells unmoved).
    """

    def __init__(self, extra: str | None = None):
        self.extra = extra

    def predict(self, train, t, n, seed, rng, setting):
        from ..tl._moving import meet_observed

        weight = None
        if self.extra == "pace":  # from its own generator, as wf_meet_pace reads it: the draws stay the default call's
            weight = pace_fraction(train.snapshots(), train.times, t, np.random.default_rng(seed))
        cells = meet_observed(_Still(), train.X, train.t, train.times, t, n, np.random.default_rng(seed),
                              growth=self.extra == "growth", weight=weight)[0]
        return cells + _mean_bend(train, t) if self.extra == "bend" else cells


class OTPace(Method):
    """Exact-OT interpolation at the pace clock's fraction of the interval."""

    def predict(self, train, t, n, seed, rng, setting):
        t_prev, t_next = train.neighbours(t)
        s = pace_fraction(train.snapshots(), train.times, t, rng)
        return ot_interpolation(train.at(t_prev), train.at(t_next), s, n, rng)


def _mean_bend(train, t: float) -> np.ndarray:
    """The part of the natural spline through the training means at ``t`` that lies across the chord
    of its interval (:func:`~wf_sc.benchmark.mean_path.mean_path_bend`; 0 where two means coincide)."""
    t_prev, t_next = train.neighbours(t)
    means = np.stack([x.mean(0) for x in train.snapshots()]).astype(np.float64)
    j = int(np.searchsorted(train.times, t_prev))
    try:
        return mean_path_bend(means, j, time_fraction(t_prev, t_next, t))
    except ValueError:  # two consecutive means coincide: no chord to bend away from
        return np.zeros(means.shape[1])


class OTBend(Method):
    """Exact-OT interpolation plus the perpendicular bend of the spline through the training means."""

    def predict(self, train, t, n, seed, rng, setting):
        t_prev, t_next = train.neighbours(t)
        s = time_fraction(t_prev, t_next, t)
        return ot_bend(train.at(t_prev), train.at(t_next), s, n, rng, bend=_mean_bend(train, t))


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
        elif name.startswith("ot_meet"):
            out[name] = OTMeet(name[len("ot_meet_"):] or None)
        elif name == "ot_bend":
            out[name] = OTBend()
        elif name.startswith("mm_"):
            out[name] = MultiMarginal(("cubic", "pchip") if name == "mm_nested" else (name[3:],))
        elif name == "otcfm":
            out[name] = OTCFMMethod(otcfm_kwargs or {})
        elif name in PREDICTION_VARIANTS:
            out[name] = WeightFlowMethod(wf, cache, PREDICTION_VARIANTS[name])
        elif name == "wf_lineages":
            out[name] = WeightFlowLineages(wf, cache)
        elif name in NESTED_CHOICES:
            out[name] = WeightFlowMethod(wf, cache, tuple({**default_prediction(), **b} for b in NESTED_CHOICES[name]))
        else:  # weightflow (the default call) and the fit ablations
            out[name] = WeightFlowMethod(_merged(wf, ABLATIONS.get(name, {})), cache, (default_prediction(),))
    return out

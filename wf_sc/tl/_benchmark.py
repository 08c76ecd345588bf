r"""Leave-one-timepoint-out benchmark (DESIGN §5): WeightFlow against baselines and the sampling floor.

For every held-out interior time :math:`t_k` the methods see the snapshots at all other times and
predict the population at :math:`t_k`; each prediction is scored against cells of :math:`t_k`
that no method has seen. The scoring protocol, per held-out time and seed:

1. shuffle the real cells of :math:`t_k` (at most ``2 * max_cells`` of them) and split them into
   two disjoint halves :math:`A` and :math:`B` of equal size :math:`m`;
2. the reference :math:`R` is :math:`B`; with a ground-truth ``reference`` (simulators) it is a
   fresh draw of :math:`m` cells of the true population at :math:`t_k` instead;
3. every method predicts :math:`m` cells (fewer only for ``previous``/``next``/``otcfm`` when the
   neighbouring snapshot is smaller), scored as ``metric(prediction, R)``;
4. ``floor`` is ``metric(A, R)``: a perfect method's sample is distributed like :math:`A`, so the
   floor is what sampling noise alone costs at this sample size; no method beats it in
   expectation.

Scoring at equal sizes on both sides of every comparison keeps the methods and the floor
comparable (the finite-sample bias of :math:`W_1` depends on the sizes). The RBF bandwidths of the
MMD are fixed per held-out time and seed from :math:`R` (multiples of its median pairwise distance,
:data:`wf_sc._core.metrics.RELATIVE_BANDWIDTHS`), so every method is scored with the same kernel.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core.baselines import OTCFM, PREDICTORS, time_fraction
from .._core.metrics import RELATIVE_BANDWIDTHS, median_distance, mmd_rbf, subsample, w1, w2
from .._core.mean_path import MEAN_BENDS
from .._core.transport import CURVATURE_NEIGHBOURS
from .._logging import get_logger
from ..pp._prepare import MIN_CELLS, check_time_points, encode_time, get_representation
from ._fit import PREDICTIONS, move_observed
from ._model import WeightFlow

log = get_logger(__name__)

#: every method :func:`leave_one_out` knows (``floor`` is always added)
METHODS: tuple[str, ...] = ("weightflow", "previous", "next", "mixture", "ot", "otcfm")
#: the ablation key that changes how WeightFlow predicts t_k, not how it is fitted (one of
#: :data:`PREDICTIONS`): by default the observed cells of both neighbours moved to t_k and pinned
#: to the other neighbour's observed cells
PREDICTION = "prediction"
DEFAULT_PREDICTION = "pinned"
#: the other prediction-only key: over how many nearest moved cells the pinned prediction averages
#: the model's curvature (:func:`wf_sc._core.transport.neighbour_mean`)
CURVATURE = "curvature_neighbours"
#: and how its mean bends off the chord between the neighbours' means
#: (:func:`wf_sc._core.mean_path.mean_path_bend`): from the spline through the training snapshots'
#: means, or as the model moves its cells
MEAN_BEND = "mean_bend"
DEFAULT_MEAN_BEND = "snapshots"
#: settings that change the prediction, not the fit (ablations that differ only in these share it)
PREDICTION_SETTINGS: tuple[str, ...] = (PREDICTION, CURVATURE, MEAN_BEND)
#: WeightFlow ablations :func:`leave_one_out` knows: name -> settings changed from the defaults
ABLATIONS: dict[str, dict[str, Any]] = {
    "wf_no_warm_start": {"warm_start": False},
    "wf_ode": {"dynamics": "ode"},
    "wf_linear": {"dynamics": "linear"},
    "wf_no_data_term": {"loss_weights": {"nll": 0.0}},
    "wf_no_action": {"loss_weights": {"action": 0.0, "ot_action": 0.0}},
    "wf_complete_graph": {"graph": "complete"},
    "wf_kr_action": {"loss_weights": {"action": 0.05, "ot_action": 0.0}, "bridge": False},
    "wf_linear_path": {"path": "linear"},
    "wf_hidden64": {"hidden": 64},
    "wf_all_start": {"field_start": "all"},
    "wf_no_bridge": {"bridge": False},
    "wf_weak_action": {"loss_weights": {"ot_action": 0.05}},
    "wf_constant_pace": {"pace": "constant"},
    "wf_sampled": {PREDICTION: "sample"},
    "wf_transported": {PREDICTION: "transport"},
    "wf_pinned_per_cell": {CURVATURE: 1},
    "wf_model_bend": {MEAN_BEND: "model"},
}
#: random stream of each method (by name, so a method's draws do not depend on what else runs;
#: new ablations go last so that earlier streams keep their numbers)
_STREAM: dict[str, int] = {m: i for i, m in enumerate((*METHODS, *ABLATIONS), start=1)}
#: every metric :func:`leave_one_out` knows
METRICS: tuple[str, ...] = ("w1", "w2", "mmd")
#: the sampling-floor pseudo-method
FLOOR = "floor"
#: tidy columns of :func:`leave_one_out`
COLUMNS: tuple[str, ...] = ("dataset", "held_out", "method", "seed", "metric", "value", "fit_seconds")
#: column labels of :func:`to_markdown`
METRIC_LABELS: dict[str, str] = {"w1": "W1", "w2": "W2", "mmd": "MMD²"}

Reference = Callable[..., np.ndarray]


def _check_names(given: Sequence[str], known: Sequence[str], what: str) -> list[str]:
    given = [given] if isinstance(given, str) else list(given)
    unknown = [g for g in given if g not in known]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known are {list(known)}")
    if not given:
        raise ValueError(f"no {what} given; known are {list(known)}")
    return list(dict.fromkeys(given))


def _held_out_times(times: np.ndarray, held_out: float | Sequence[float] | None) -> list[int]:
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


def check_prediction(settings: Mapping[str, Any]) -> None:
    """Refuse a ``"prediction"`` not in :data:`PREDICTIONS`, ``"curvature_neighbours"`` below 1, an unknown ``"mean_bend"``."""
    if settings.get(PREDICTION, DEFAULT_PREDICTION) not in PREDICTIONS:
        raise ValueError(f"unknown {PREDICTION} {settings[PREDICTION]!r}, known are {list(PREDICTIONS)}")
    k = settings.get(CURVATURE, CURVATURE_NEIGHBOURS)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{CURVATURE} must be an integer >= 1, got {k!r}")
    if settings.get(MEAN_BEND, DEFAULT_MEAN_BEND) not in MEAN_BENDS:
        raise ValueError(f"unknown {MEAN_BEND} {settings[MEAN_BEND]!r}, known are {list(MEAN_BENDS)}")


def _ablated(settings: Mapping[str, Any], method: str) -> dict[str, Any]:
    """WeightFlow settings of ``method``: ``settings`` with the ablation's changes (loss weights merged)."""
    out = dict(settings)
    for key, value in ABLATIONS.get(method, {}).items():
        out[key] = {**out.get(key, {}), **value} if key == "loss_weights" else value
    return out


def transported(
    model: WeightFlow,
    X_train: np.ndarray,
    t_train: np.ndarray,
    t: float,
    n: int,
    rng: np.random.Generator,
    *,
    pinned: bool = False,
    curvature_neighbours: int = CURVATURE_NEIGHBOURS,
    mean_bend: str = DEFAULT_MEAN_BEND,
) -> np.ndarray:
    r"""WeightFlow's prediction at ``t`` from the observed neighbours: their cells moved to ``t``.

    With :math:`t_{\mathrm{prev}} < t < t_{\mathrm{next}}` the training times around ``t`` and
    :math:`s` the time fraction of ``t``, :math:`n - \mathrm{round}(s n)` cells of
    :math:`t_{\mathrm{prev}}` are moved forward and :math:`\mathrm{round}(s n)` cells of
    :math:`t_{\mathrm{next}}` backward along the model's flow (:meth:`WeightFlow.transport`), drawn
    like the ``mixture`` baseline (:func:`wf_sc.tl._fit.move_observed`): each neighbour contributes
    in proportion to its closeness, and both ends of the fitted density path between them are used.

    Parameters
    ----------
    model
        WeightFlow fitted without ``t``.
    X_train, t_train
        The training cells (the neighbours' and, for the mean bend, all other snapshots) and their
        times, shape ``(n_cells, d)`` and ``(n_cells,)``.
    t
        The time to predict, strictly between two training times.
    n
        Number of cells.
    rng
        Draws the cells (and their partners with ``pinned``).
    pinned
        Pin each moved cell to the other neighbour's observed cells
        (:func:`wf_sc._core.transport.pin_to_observed`): the benchmark's default prediction.
    curvature_neighbours
        With ``pinned``: over how many nearest moved cells the model's departure from a straight
        path is averaged (:func:`wf_sc._core.transport.neighbour_mean`; 1: each cell's own).
    mean_bend
        With ``pinned``: ``"snapshots"`` bends the predicted mean off the chord as the spline
        through the training snapshots' means does (:func:`wf_sc._core.mean_path.mean_path_bend`);
        ``"model"`` keeps the model's bend.

    Returns
    -------
    Array ``(n, d)``: the cells from ``t_prev`` first.
    """
    return move_observed(
        model,
        X_train,
        t_train,
        np.unique(t_train),
        t,
        n,
        rng,
        pinned=pinned,
        curvature_neighbours=curvature_neighbours,
        mean_bend=mean_bend,
    )[0]


def _seed_for(*parts: int) -> int:
    """A 31-bit seed derived from integers (distinct streams for distinct tuples)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] >> 1)


def held_out_halves(
    X_real: np.ndarray,
    t_k: float,
    k: int,
    seed: int,
    max_cells: int,
    reference: Callable | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The floor's half A and the scored cells of held-out time ``t_k`` (index ``k``) for ``seed``.

    The real cells ``X_real`` of ``t_k`` are split into two disjoint halves of ``m = min(n // 2,
    max_cells)`` cells; the scored cells are half B, or for simulated data ``m`` fresh cells of the
    true population, ``reference(t_k, m, random_state=...)``.
    """
    perm = np.random.default_rng(_seed_for(seed, k, 0)).permutation(len(X_real))
    m = min(len(X_real) // 2, max_cells)
    half_a, half_b = X_real[perm[:m]], X_real[perm[m : 2 * m]]
    if reference is None:
        return half_a, half_b
    ref = np.asarray(reference(t_k, m, random_state=_seed_for(seed, k, 1)), dtype=np.float64)
    if ref.shape != (m, X_real.shape[1]):
        raise ValueError(f"reference returned shape {ref.shape}, expected {(m, X_real.shape[1])}")
    return half_a, ref


def _scorer(reference: np.ndarray, metrics: Sequence[str]) -> Callable[[np.ndarray], dict[str, float]]:
    """``pred -> {metric: value}`` against ``reference``, the MMD kernel fixed from the reference."""
    bandwidths = median_distance(reference) * np.asarray(RELATIVE_BANDWIDTHS) if "mmd" in metrics else None
    fns = {"w1": w1, "w2": w2, "mmd": lambda a, b: mmd_rbf(a, b, bandwidths)}
    return lambda pred: {m: fns[m](pred, reference) for m in metrics}


def leave_one_out(
    adata: AnnData,
    time_key: str = "time",
    *,
    use_rep: str = "X_pca",
    methods: Sequence[str] = METHODS,
    metrics: Sequence[str] = METRICS,
    seeds: Sequence[int] = (0, 1, 2),
    held_out: float | Sequence[float] | None = None,
    max_cells: int = 1000,
    weightflow_kwargs: Mapping[str, Any] | None = None,
    otcfm_kwargs: Mapping[str, Any] | None = None,
    reference: Reference | None = None,
    dataset: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    r"""Leave-one-timepoint-out benchmark: predict each held-out time from the others and score it.

    For every held-out interior time :math:`t_k` (neighbours :math:`t_{k-1} < t_k < t_{k+1}`,
    time fraction :math:`s = (t_k - t_{k-1}) / (t_{k+1} - t_{k-1})`) and every seed, the methods
    are

    - ``weightflow``: :class:`~wf_sc.tl.WeightFlow` fitted on all other times (seed as
      ``random_state``); its prediction moves observed cells to :math:`t_k` along the fitted flow
      (:func:`transported`): :math:`m - \mathrm{round}(s m)` cells of :math:`t_{k-1}` forward and
      :math:`\mathrm{round}(s m)` cells of :math:`t_{k+1}` backward, each pinned to the observed
      cells of the other neighbour (:func:`wf_sc._core.transport.pin_to_observed`) with the
      model's curvature averaged over each cell's 16 nearest moved cells
      (``{"curvature_neighbours": k}`` changes 16), and the mean of that curvature perpendicular
      to the chord between the neighbours' means replaced by the bend of the natural spline through
      the means of all training snapshots (:func:`wf_sc._core.mean_path.mean_path_bend`; with three
      training times or more; ``{"mean_bend": "model"}`` keeps the model's);
      ``weightflow_kwargs`` ``{"prediction": "transport"}``: moved, not pinned;
      ``{"prediction": "sample"}``: ``sample(t_k, m)`` instead, fresh cells of the model's density;
    - ``previous`` / ``next``: the snapshot at :math:`t_{k-1}` / :math:`t_{k+1}` unchanged;
    - ``mixture``: a fraction :math:`s` of cells from :math:`t_{k+1}`, the rest from :math:`t_{k-1}`;
    - ``ot``: exact-OT displacement interpolation :math:`(1 - s)x_i + s y_j`, :math:`(i, j) \sim P^\star`;
    - ``otcfm``: OT conditional flow matching trained on all other times, integrating the real cells
      of :math:`t_{k-1}` to :math:`t_k` (:class:`wf_sc._core.baselines.OTCFM`: 2000 steps of
      batch 256, path width 0.1 in standardized units, unless ``otcfm_kwargs`` says otherwise);
    - ablations (:data:`ABLATIONS`, none by default): WeightFlow with one setting changed, fitted
      and predicting like ``weightflow``: ``wf_no_warm_start`` (each anchor from a fresh
      initialization), ``wf_ode`` (a neural ODE driven by time alone instead of the CDE),
      ``wf_linear`` (straight lines between anchor weights, no Stage 2), ``wf_no_data_term`` (no
      data NLL in Stage 2), ``wf_no_action`` (no population action), ``wf_complete_graph``
      (complete weight graph instead of the backbone's connectivity), ``wf_kr_action`` (the
      transport-drift action instead of the minibatch-OT action; it needs ``bridge=False``), ``wf_linear_path`` (linear
      instead of cubic-spline interpolation of the control path), ``wf_hidden64`` (a backbone
      GRU of 64 instead of 32 hidden units), ``wf_all_start`` (Stage 2 starts from the least-squares
      field on time and codes through the anchors, instead of the field driven by time alone), ``wf_no_bridge`` (the free trajectory from each anchor, which may end short of the next
      anchor, instead of the default bridge that ends every anchor interval exactly at the next
      anchor, in the queries and in the action term), ``wf_weak_action`` (the minibatch-OT action at
      weight 0.05 instead of 0.5), ``wf_constant_pace`` (the action prefers constant speed inside
      every interval instead of the pace interpolated from the neighbouring intervals),
      ``wf_sampled`` (the same fit as ``weightflow``, predicting with fresh model cells instead of
      transported observed ones), ``wf_transported`` (the same fit, transported cells not pinned to
      the other neighbour), ``wf_pinned_per_cell`` (the same fit, pinned with each cell's own
      curvature instead of its neighbours' average), ``wf_model_bend`` (the same fit, the pinned
      cells' mean bent off the chord as the model bends it, not as the spline through the
      snapshot means); ablations that change only the prediction
      share the fit;
    - ``floor`` (always): the sampling floor, half of the real held-out cells against the other half.

    Each method's cells are scored against held-out cells (see the module notes for the protocol:
    equal sizes on both sides, one MMD kernel per reference). The metrics are ``w1`` (exact earth
    mover's distance, Euclidean cost), ``w2`` (exact 2-Wasserstein) and ``mmd`` (biased
    :math:`\mathrm{MMD}^2`, RBF kernels of widths 0.25, 0.5, 1, 2 and 4 times the reference's
    median pairwise distance). Deterministic baselines still get one row per seed: the seed
    draws their cells and the held-out halves.

    Parameters
    ----------
    adata
        Time course: ``obs[time_key]`` and the representation ``use_rep``; read only.
    time_key
        Column of ``adata.obs`` with each cell's time (numeric or ordered categorical).
    use_rep
        Representation every method works in: a key of ``adata.obsm`` or ``"X"``.
    methods
        Methods to run, a subset of ``("weightflow", "previous", "next", "mixture", "ot", "otcfm")``
        and the ablations' names (:data:`ABLATIONS`).
    metrics
        Metrics, a subset of ``("w1", "w2", "mmd")``.
    seeds
        One run per seed (model initialization, minibatches, subsampling, held-out halves).
    held_out
        Time point(s) to hold out, each an interior time; ``None``: every interior time.
    max_cells
        Most cells on each side of a metric computation (the held-out halves hold at most
        ``max_cells`` cells each; the exact OT problems are at most ``max_cells x max_cells``).
    weightflow_kwargs
        Settings passed to :class:`~wf_sc.tl.WeightFlow` (e.g. ``device``, ``stage2_steps``);
        ``random_state`` is set from the seed. ``"prediction"`` (``"transport"``, default, or
        ``"sample"``) is not a fit setting: it says how the fitted model predicts ``t_k``.
    otcfm_kwargs
        Settings passed to :class:`wf_sc._core.baselines.OTCFM` (``steps``, ``batch_size``,
        ``sigma``, ...); ``random_state`` is set from the seed.
    reference
        Ground truth for simulated data: ``reference(t, n, random_state=...)`` returns ``n`` fresh
        cells of the true population at ``t`` (e.g. ``GradientFlow(...).population``); methods and
        the floor are then scored against such a draw instead of the second half of the real cells.
    dataset
        Name written in the ``dataset`` column; default ``adata.uns['dataset']['name']`` if
        present, else ``"adata"``.
    progress
        Show a progress bar over (held-out time, seed) runs.

    Returns
    -------
    A tidy :class:`pandas.DataFrame`, one row per (held-out time, method, seed, metric), with columns
    ``dataset``, ``held_out`` (the time, in the units of ``obs[time_key]``), ``method`` (``floor``
    first, then ``methods`` in order), ``seed``, ``metric``, ``value`` and ``fit_seconds`` (wall-clock
    seconds to fit the method and generate its cells; NaN for ``floor``). Nothing is written to
    ``adata``. Summarize with :func:`wf_sc.benchmark.summarize`.
    """
    methods = _check_names(methods, (*METHODS, *ABLATIONS), "methods")
    metrics = _check_names(metrics, METRICS, "metrics")
    seeds = [int(s) for s in np.atleast_1d(seeds)]
    if not seeds:
        raise ValueError("no seeds given")
    if max_cells < 2:
        raise ValueError(f"max_cells must be >= 2, got {max_cells}")
    wf_kwargs = dict(weightflow_kwargs or {})
    cfm_kwargs = dict(otcfm_kwargs or {})
    for name, kw in (("weightflow_kwargs", wf_kwargs), ("otcfm_kwargs", cfm_kwargs)):
        if "random_state" in kw:
            raise ValueError(f"{name} must not set random_state: each run uses its seed")
    check_prediction(wf_kwargs)
    if dataset is None:
        info = adata.uns.get("dataset", {})
        dataset = str(info.get("name", "adata")) if isinstance(info, Mapping) else "adata"

    t, _ = encode_time(adata, time_key)
    X = get_representation(adata, use_rep).astype(np.float64)
    times = check_time_points(t, time_key, MIN_CELLS)
    ks = _held_out_times(times, held_out)

    runs = [(k, seed) for k in ks for seed in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(runs), desc=f"leave-one-out {dataset}")
    rows: list[dict] = []
    for k, seed in runs:
        t_k, t_prev, t_next = float(times[k]), float(times[k - 1]), float(times[k + 1])
        train = t != times[k]
        X_train, t_train = X[train], t[train]
        X_prev, X_next, X_real = X[t == times[k - 1]], X[t == times[k + 1]], X[t == times[k]]
        s = time_fraction(t_prev, t_next, t_k)

        half_a, ref = held_out_halves(X_real, t_k, k, seed, max_cells, reference)
        m = len(half_a)
        score = _scorer(ref, metrics)

        def add(method: str, pred: np.ndarray, seconds: float) -> None:
            for metric, value in score(pred).items():
                rows.append(
                    dict(
                        dataset=dataset,
                        held_out=t_k,
                        method=method,
                        seed=seed,
                        metric=metric,
                        value=float(value),
                        fit_seconds=seconds,
                    )
                )

        add(FLOOR, half_a, math.nan)
        fits: dict[str, tuple[WeightFlow, float]] = {}
        for method in methods:
            method_rng = np.random.default_rng(_seed_for(seed, k, 100 + _STREAM[method]))
            start = _time.perf_counter()
            seconds = None
            if method == "weightflow" or method in ABLATIONS:
                settings = _ablated(wf_kwargs, method)
                how = settings.pop(PREDICTION, DEFAULT_PREDICTION)
                neighbours = settings.pop(CURVATURE, CURVATURE_NEIGHBOURS)
                bend = settings.pop(MEAN_BEND, DEFAULT_MEAN_BEND)
                key = repr(sorted(settings.items()))
                if key not in fits:  # ablations that change only the prediction share the fit
                    model = WeightFlow(time_key, use_rep, random_state=seed, **settings)
                    model._fit_arrays(X_train, t_train, progress=False)
                    fits[key] = (model, _time.perf_counter() - start)
                model, fit_seconds = fits[key]
                start_pred = _time.perf_counter()
                if how == "sample":
                    pred = model.sample(t_k, m, random_state=seed)
                else:
                    pred = transported(
                        model,
                        X_train,
                        t_train,
                        t_k,
                        m,
                        method_rng,
                        pinned=how == "pinned",
                        curvature_neighbours=neighbours,
                        mean_bend=bend,
                    )
                seconds = fit_seconds + _time.perf_counter() - start_pred
            elif method == "otcfm":
                train_times = times[np.arange(len(times)) != k]
                cfm = OTCFM(random_state=seed, **cfm_kwargs).fit([X[t == u] for u in train_times], train_times)
                pred = cfm.predict(subsample(X_prev, m, method_rng), t_prev, t_k)
            else:
                pred = PREDICTORS[method](X_prev, X_next, s, m, method_rng)
            if seconds is None:
                seconds = _time.perf_counter() - start
            log.info("%s: held out t=%g, seed %d, %s in %.2f s", dataset, t_k, seed, method, seconds)
            add(method, np.asarray(pred, dtype=np.float64), seconds)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    r"""Average a :func:`leave_one_out` table over held-out times, then mean ± std over seeds.

    For each (dataset, method, metric): :math:`\bar v_s = \frac{1}{|H|}\sum_{t \in H} v_{t,s}` per
    seed :math:`s`, then the mean and the sample standard deviation (``ddof=1``; NaN for a single
    seed) of :math:`\bar v_s` over seeds.

    Parameters
    ----------
    df
        Tidy table of :func:`leave_one_out` (several datasets may be concatenated).

    Returns
    -------
    DataFrame with columns ``dataset``, ``method``, ``metric``, ``mean``, ``std``, ``n_seeds``,
    ``n_held_out`` and ``fit_seconds`` (mean wall-clock seconds per fit), in order of first appearance.
    """
    missing = set(COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"not a leave_one_out table: columns {sorted(missing)} are missing")
    keys = ["dataset", "method", "metric"]
    per_seed = df.groupby([*keys, "seed"], sort=False).agg(
        value=("value", "mean"), fit_seconds=("fit_seconds", "mean"), n_held_out=("held_out", "nunique")
    )
    out = per_seed.groupby(keys, sort=False).agg(
        mean=("value", "mean"),
        std=("value", "std"),
        n_seeds=("value", "size"),
        n_held_out=("n_held_out", "max"),
        fit_seconds=("fit_seconds", "mean"),
    )
    return out.reset_index()


def _fmt(mean: float, std: float) -> str:
    """Mean to 3 significant digits and the std to the same decimals: ``0.288 ± 0.012``."""
    if not np.isfinite(mean):
        return "—"
    decimals = 3 if mean == 0 else max(0, 2 - int(math.floor(math.log10(abs(mean)))))
    text = f"{mean:.{decimals}f}"
    if np.isfinite(std):
        text += f" ± {std:.{decimals}f}"
    return text


def to_markdown(summary: pd.DataFrame) -> str:
    """Markdown tables of a :func:`summarize` result: one per dataset, methods as rows.

    Columns are the metrics (``W1``, ``W2``, ``MMD²``; mean ± std over seeds) and the mean fit
    time; the best method per metric (lowest mean, the floor excluded) is bold. With several
    datasets each table gets a ``### <dataset>`` heading.

    Parameters
    ----------
    summary
        Output of :func:`summarize`.

    Returns
    -------
    The markdown text.
    """
    blocks = []
    datasets = list(dict.fromkeys(summary["dataset"]))
    for name in datasets:
        part = summary[summary["dataset"] == name]
        metrics = [m for m in METRICS if m in set(part["metric"])] + sorted(set(part["metric"]) - set(METRICS))
        methods = list(dict.fromkeys(part["method"]))
        cell = {(r.method, r.metric): r for r in part.itertuples(index=False)}
        best = {}
        for metric in metrics:
            cand = part[(part["metric"] == metric) & (part["method"] != FLOOR)]
            if len(cand):
                best[metric] = cand.loc[cand["mean"].idxmin(), "method"]
        header = ["method", *[METRIC_LABELS.get(m, m) for m in metrics], "fit (s)"]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        for method in methods:
            row = [method]
            for metric in metrics:
                r = cell.get((method, metric))
                text = "—" if r is None else _fmt(r.mean, r.std)
                row.append(f"**{text}**" if best.get(metric) == method else text)
            secs = [cell[(method, m)].fit_seconds for m in metrics if (method, m) in cell]
            row.append(f"{secs[0]:.1f}" if secs and np.isfinite(secs[0]) else "—")
            lines.append("| " + " | ".join(row) + " |")
        table = "\n".join(lines)
        blocks.append(f"### {name}\n\n{table}" if len(datasets) > 1 else table)
    return "\n\n".join(blocks) + "\n"

"""The leave-one-timepoint-out benchmark suite: datasets, settings and the report.

``python -m wf_sc.benchmark`` runs it (see :mod:`wf_sc.benchmark.__main__`); from Python,
:func:`run_suite` returns the tidy table and :func:`report` turns it into markdown.
:func:`~wf_sc.tl.leave_one_out` does one dataset.

Datasets (:data:`DATASETS`), all fitted in the space named by ``use_rep``:

========================  ==========================================================  ==========
name                      data                                                        held out
========================  ==========================================================  ==========
``emt10``                 EMT, DeepRUOT 10-D latent, time index 0..3 (``X``)          1, 2
``emt3``                  EMT, TIGON 3-D embedding, days 0, 1/3, 1, 3, 7 (``X``)      1/3, 1, 3
``hematopoiesis``         Weinreb hematopoiesis, 2-D, days 2, 4, 6 (``X``)            4
``dendritic``             mouse dendritic cells after LPS, 821 log-expression genes   2, 4 h
                          -> 10 principal components (``X_pca``), hours 1, 2, 4, 6
``gradient_flow``         :class:`~wf_sc.datasets.GradientFlow` 2-D, times 0..2       0.5, 1, 1.5
                          by 0.5, 500 cells each; scored against the true population
``toggle_switch``         :class:`~wf_sc.datasets.ToggleSwitch`, times 0..4,          1, 2, 3
                          500 cells each; scored against the true population
========================  ==========================================================  ==========

The dendritic cells' expression is already log-normalized (BEELINE): it is reduced with
:func:`scanpy.pp.pca` (10 components, ``random_state=0``, genes centred, not scaled) on all cells,
the held-out ones included, as in the published leave-one-out benchmarks; 10 rather than 20
components because each time point has only about 95 cells.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .._core.transport import CURVATURE_NEIGHBOURS
from .._logging import get_logger
from ..tl._benchmark import (
    ABLATIONS,
    METHODS,
    PREDICTION_SETTINGS,
    check_prediction,
    leave_one_out,
    summarize,
    to_markdown,
)

log = get_logger(__name__)

__all__ = [
    "ABLATIONS",
    "DATASETS",
    "QUICK",
    "Dataset",
    "command_line",
    "leave_one_out",
    "report",
    "run_suite",
    "summarize",
    "to_markdown",
]

#: OT-CFM budget of the full suite (the :class:`wf_sc._core.baselines.OTCFM` defaults, spelled out)
OTCFM_FULL: dict[str, Any] = dict(steps=2000, batch_size=256, lr=1e-3, sigma=0.1, width=64, depth=3, ode_steps=100)
#: tiny budgets of ``--quick`` (CI smoke runs)
QUICK: dict[str, dict[str, Any]] = {
    "weightflow": dict(stage1_max_steps_first=100, stage1_max_steps=50, stage2_steps=5, hidden=8, width=16),
    "otcfm": dict(steps=100, batch_size=64, ode_steps=20),
}


@dataclass
class Dataset:
    """One benchmark dataset: how to load it and how to score on it."""

    name: str
    description: str
    load: Callable[[bool], AnnData]
    use_rep: str = "X"
    #: ``(quick) -> reference(t, n, random_state=...)`` for simulators (ground truth), else None
    reference: Callable[[bool], Callable[..., np.ndarray]] | None = None
    #: what ``quick`` changes, if anything (shown in quick reports)
    quick_note: str | None = None

    def time_course(self, quick: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, Callable[..., np.ndarray] | None]:
        """The dataset as arrays: ``(X, t, times, reference)``.

        ``X`` the cells in ``use_rep`` (float64), ``t`` each cell's time (``obs['time']``), ``times``
        the sorted distinct times, ``reference`` the simulator's ground truth (or None); for the
        analysis scripts in ``docs/``.
        """
        from ..pp._prepare import encode_time, get_representation

        adata = self.load(quick)
        t, _ = encode_time(adata, "time")
        X = get_representation(adata, self.use_rep).astype(np.float64)
        reference = self.reference(quick) if self.reference is not None else None
        return X, t, np.unique(t), reference


def _emt10(quick: bool) -> AnnData:
    from ..datasets import emt

    return emt(dims=10)


def _emt3(quick: bool) -> AnnData:
    from ..datasets import emt

    return emt(dims=3)


def _hematopoiesis(quick: bool) -> AnnData:
    from ..datasets import hematopoiesis

    return hematopoiesis()


def _dendritic(quick: bool) -> AnnData:
    import scanpy as sc

    from ..datasets import dendritic_cells

    adata = dendritic_cells()
    sc.pp.pca(adata, n_comps=10, random_state=0)
    return adata


def _gradient_flow_model():
    from ..datasets import GradientFlow

    return GradientFlow(dim=2, random_state=0)


def _gradient_flow(quick: bool) -> AnnData:
    times, n = ((0.0, 1.0, 2.0), 150) if quick else ((0.0, 0.5, 1.0, 1.5, 2.0), 500)
    return _gradient_flow_model().sample(times=times, n_cells=n, random_state=1)


def _toggle_switch(quick: bool) -> AnnData:
    from ..datasets import ToggleSwitch

    times, n = ((0.0, 2.0, 4.0), 150) if quick else ((0.0, 1.0, 2.0, 3.0, 4.0), 500)
    return ToggleSwitch().sample(times=times, n_cells=n, random_state=1)


def _toggle_reference(quick: bool) -> Callable[..., np.ndarray]:
    from ..datasets import ToggleSwitch

    return ToggleSwitch().population


#: the suite, in report order
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("emt10", "EMT (A549, TGF-β1), DeepRUOT 10-D latent; time index 0..3; `use_rep='X'`", _emt10),
        Dataset("emt3", "EMT (A549, TGF-β1), TIGON 3-D embedding; days 0, 1/3, 1, 3, 7; `use_rep='X'`", _emt3),
        Dataset(
            "hematopoiesis",
            "Weinreb hematopoiesis, TIGON 2-D embedding; days 2, 4, 6; `use_rep='X'`",
            _hematopoiesis,
        ),
        Dataset(
            "dendritic",
            "mouse dendritic cells after LPS (821 log-normalized genes -> 10 PCs); hours 1, 2, 4, 6; "
            "`use_rep='X_pca'`",
            _dendritic,
            use_rep="X_pca",
        ),
        Dataset(
            "gradient_flow",
            "simulated 2-D linear gradient flow, times 0, 0.5, 1, 1.5, 2, 500 cells each; "
            "scored against fresh draws of the true population",
            _gradient_flow,
            reference=lambda quick: _gradient_flow_model().population,
            quick_note="quick: times 0, 1, 2 only, 150 cells each",
        ),
        Dataset(
            "toggle_switch",
            "simulated bistable toggle switch, times 0..4, 500 cells each; "
            "scored against fresh draws of the true population",
            _toggle_switch,
            reference=_toggle_reference,
            quick_note="quick: times 0, 2, 4 only, 150 cells each",
        ),
    )
}


def parse_settings(items: Sequence[str]) -> dict[str, Any]:
    """WeightFlow settings from ``KEY=VALUE`` strings (``--set``); VALUE is JSON where it parses,
    else the bare string (``pace=constant``, ``'loss_weights={"ot_action": 0.05}'``)."""
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return settings


def command_block(command: str) -> list[str]:
    """Markdown lines saying which command produced a report."""
    return ["Generated by:", "", "```", command, "```", ""]


def _check_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """WeightFlow settings for every fit of a run; refuses unknown or per-fit keys before any work."""
    from ..tl._model import WeightFlow

    settings = dict(settings or {})
    per_fit = sorted(set(settings) & {"time_key", "use_rep", "random_state", "device"})
    if per_fit:
        raise ValueError(f"settings {per_fit} are chosen per fit by the benchmark (the seed, the dataset, --device)")
    fit_settings = {k: v for k, v in settings.items() if k not in PREDICTION_SETTINGS}
    check_prediction(settings)
    try:
        WeightFlow(**fit_settings)
    except TypeError as err:
        raise ValueError(str(err)) from None
    return settings


def run_suite(
    datasets: Sequence[str] | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    quick: bool = False,
    device: str = "auto",
    max_cells: int = 1000,
    progress: bool = False,
    methods: Sequence[str] = METHODS,
    ablations: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    done: pd.DataFrame | None = None,
    on_dataset: Callable[[pd.DataFrame], None] | None = None,
) -> pd.DataFrame:
    """Run :func:`~wf_sc.tl.leave_one_out` on each dataset and concatenate the tidy tables.

    Parameters
    ----------
    datasets
        Names from :data:`DATASETS`; ``None``: all (``["gradient_flow"]`` with ``quick``).
    seeds
        Seeds of every run.
    quick
        Tiny budgets (:data:`QUICK`) and small simulations (3 time points, 150 cells): a smoke test.
    device
        Torch device of WeightFlow and OT-CFM (``"auto"``: CUDA when available).
    max_cells
        Cells per side of each metric computation (see :func:`~wf_sc.tl.leave_one_out`).
    progress
        Progress bars.
    methods
        Methods to run (:data:`wf_sc.tl._benchmark.METHODS`; default: all).
    ablations
        WeightFlow ablations to run beside the methods (names of
        :data:`wf_sc.tl._benchmark.ABLATIONS`).
    settings
        WeightFlow settings other than the package defaults (keywords of
        :class:`~wf_sc.tl.WeightFlow`, e.g. ``{"bridge": False}``), for ``weightflow`` and every
        ablation (an ablation's own change wins); on top of the quick budgets with ``quick``.
    done
        Rows of an earlier run of the same suite: a method whose rows there cover every requested
        seed of a dataset is taken from it instead of being run again (only the missing methods
        run; every method's random draws depend on the method's name, not on what else runs).
    on_dataset
        Called with the table so far after each dataset (e.g. to save it, so an interrupted run
        can be resumed with ``done``).

    Returns
    -------
    The concatenated tidy table (columns of :func:`~wf_sc.tl.leave_one_out`).
    """
    names = list(datasets) if datasets else (["gradient_flow"] if quick else list(DATASETS))
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"unknown datasets {unknown}; known are {list(DATASETS)}")
    wf_kwargs = {**(QUICK["weightflow"] if quick else {}), **_check_settings(settings)}
    cfm_kwargs = dict(QUICK["otcfm"]) if quick else dict(OTCFM_FULL)
    if device != "auto":
        from ..tl._model import resolve_device

        resolve_device(device)  # refuse unknown devices before any work
    wf_kwargs["device"] = device
    if device != "auto":
        cfm_kwargs["device"] = device
    else:
        import torch

        cfm_kwargs["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    methods = (*methods, *ablations)
    order = {m: i for i, m in enumerate(("floor", *methods))}
    tables = []
    for name in names:
        old = None
        todo = list(methods)
        if done is not None:
            old = done[(done["dataset"] == name) & done["seed"].isin(list(seeds)) & done["method"].isin(list(order))]
            complete = {m for m, part in old.groupby("method") if set(part["seed"]) >= set(seeds)}
            todo = [m for m in methods if m not in complete]
            old = old[old["method"].isin(complete)] if len(old) else None
            if old is not None:
                log.info("benchmark %s: %d rows taken from the earlier run", name, len(old))
            if not todo and old is not None:
                tables.append(old)
                if on_dataset is not None:
                    on_dataset(pd.concat(tables, ignore_index=True))
                continue
        spec = DATASETS[name]
        start = time.perf_counter()
        adata = spec.load(quick)
        reference = spec.reference(quick) if spec.reference is not None else None
        df = leave_one_out(
            adata,
            "time",
            use_rep=spec.use_rep,
            seeds=seeds,
            max_cells=max_cells,
            weightflow_kwargs=wf_kwargs,
            otcfm_kwargs=cfm_kwargs,
            methods=todo,
            reference=reference,
            dataset=name,
            progress=progress,
        )
        log.info("benchmark %s done in %.1f s", name, time.perf_counter() - start)
        if old is not None:
            # the floor depends only on (seed, held-out time): keep the earlier rows of it
            df = df[(df["method"] != "floor") | ~old["method"].eq("floor").any()]
            df = pd.concat([old, df], ignore_index=True)
            df = df.sort_values("method", key=lambda m: m.map(order), kind="stable", ignore_index=True)
        tables.append(df)
        if on_dataset is not None:
            on_dataset(pd.concat(tables, ignore_index=True))
    return pd.concat(tables, ignore_index=True)


def _machine(device: str, threads: int | None) -> list[str]:
    import torch

    from .. import __version__

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        f"- platform: {platform.platform()} ({platform.machine()}), Python {platform.python_version()}",
        f"- CPUs: {os.cpu_count()} (torch threads: {threads if threads is not None else torch.get_num_threads()})",
        f"- torch {torch.__version__}; CUDA device: {cuda}; requested device: `{device}`",
        f"- wf_sc {__version__}",
    ]


def report(
    df: pd.DataFrame,
    *,
    command: str,
    seeds: Sequence[int],
    quick: bool,
    device: str,
    max_cells: int,
    seconds: float,
    threads: int | None = None,
    csv_name: str | None = None,
    reused: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
) -> str:
    """The markdown report of a suite run: command, date, machine, settings and one table per dataset.

    Parameters
    ----------
    df
        Tidy table of :func:`run_suite`.
    command
        The exact command line that produced it.
    seeds
        Seeds used.
    quick
        Whether the tiny budgets were used.
    device
        Device requested.
    max_cells
        Cells per side of each metric computation.
    seconds
        Wall-clock seconds of the whole run.
    threads
        Torch CPU threads of the run (default: the current setting).
    csv_name
        Name of the tidy CSV written beside the report (mentioned in the text).
    reused
        ``"dataset (methods)"`` entries whose rows were taken from an earlier run (``--resume``);
        said in the text.
    settings
        WeightFlow settings other than the package defaults (as given to :func:`run_suite`).

    Returns
    -------
    Markdown text.
    """
    summary = summarize(df)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    given = {**(QUICK["weightflow"] if quick else {}), **dict(settings or {})}
    wf_settings = ", ".join(f"`{k}={v}`" for k, v in given.items()) if given else "package defaults"
    if given and not quick:
        wf_settings = "package defaults except " + wf_settings
    cfm = QUICK["otcfm"] if quick else OTCFM_FULL
    cfm_settings = ", ".join(f"`{k}={v}`" for k, v in cfm.items())
    lines = [
        "# Leave-one-timepoint-out benchmark" + (" (quick smoke run: tiny budgets, not a result)" if quick else ""),
        "",
        *command_block(command),
        f"- date: {date}; total wall-clock time {seconds / 60:.1f} min",
        *_machine(device, threads),
        f"- seeds: {' '.join(str(s) for s in seeds)}",
        f"- WeightFlow settings: {wf_settings}",
        f"- OT-CFM settings: {cfm_settings} (`sigma` in standardized units)",
        f"- metric sample size: at most {max_cells} cells per side",
    ]
    if csv_name:
        lines.append(f"- every run (tidy table): [`{csv_name}`]({csv_name})")
    if reused:
        lines.append(
            f"- resumed run: the rows of {'; '.join(reused)} come from an earlier run of this command with the "
            "same settings (`--resume`); the wall-clock time above excludes them"
        )
    lines += [
        "",
        "## Protocol",
        "",
        "For each interior time point t_k, every method sees the snapshots at all other times and predicts "
        "the population at t_k. Per held-out time and seed, the real cells of t_k are split into two disjoint "
        f"halves A and B of equal size m (at most {max_cells}); each method generates m cells and is scored "
        "against B (simulators: against a fresh draw of m cells of the true population). **floor** scores A "
        "itself: the sampling floor, what no method beats in expectation at this sample size. Values are "
        "averaged over held-out times, then mean ± standard deviation over seeds; bold marks the best "
        "method per column (floor excluded). Lower is better everywhere.",
        "",
        "- **W1**: exact earth mover's distance, Euclidean cost, uniform weights (POT `ot.emd2`).",
        "- **W2**: exact 2-Wasserstein distance (squared Euclidean cost, square root).",
        "- **MMD²**: biased (V-statistic) squared MMD, mean of RBF kernels of widths 0.25, 0.5, 1, 2, 4 × "
        "the median pairwise distance of the reference cells (one kernel per reference, shared by all methods).",
        "- **fit (s)**: mean wall-clock seconds to fit the method and generate its cells.",
        "",
        "Methods: **weightflow** (this package, fitted on the training times; it predicts t_k by moving "
        "observed cells along its flow, `WeightFlow.transport`: a fraction 1 − s of the cells from t_{k−1} "
        "forward and s from t_{k+1} backward, s as for the mixture; each moved cell x is pinned to the other "
        "neighbour: also moved all the way there (e), paired by exact OT with an observed cell z there, "
        "and placed on the straight line x → z at u, the fraction of the interval travelled, plus the "
        "model's departure from its own straight line x → e averaged over the cell's nearest moved cells "
        f"(`curvature_neighbours`, default {CURVATURE_NEIGHBOURS}), `wf_sc._core.transport.pin_to_observed`); "
        "with at least three training times, the part of the moved cells' mean departure perpendicular to "
        "the chord between the neighbours' means is replaced by the bend of the natural cubic spline "
        "(chord-length knots) through the means of all training snapshots at the same fraction of the "
        "interval (`mean_bend`, default `snapshots`, `wf_sc._core.mean_path.mean_path_bend`); "
        "**previous** / **next** (the neighbouring snapshot unchanged); **mixture** (a fraction "
        "s = (t_k − t_{k−1})/(t_{k+1} − t_{k−1}) of cells from t_{k+1}, the rest from t_{k−1}); **ot** "
        "(exact-OT displacement interpolation between the neighbours, plan on at most 2000 cells each); "
        "**otcfm** (conditional flow matching with minibatch exact-OT couplings, Tong et al. 2024, trained "
        "on all training intervals, integrating the real cells of t_{k−1} with RK4).",
    ]
    present = [a for a in ABLATIONS if a in set(df["method"])]
    if present:
        lines += [
            "",
            "Ablations (WeightFlow with one setting changed, fitted and predicting like weightflow; "
            "`prediction=sample`: the same fit, predicting with fresh cells of the model's density at t_k; "
            "`prediction=transport`: the same fit, moved cells not pinned; "
            "`curvature_neighbours=1`: the same fit, pinned with each cell's own departure; "
            "`mean_bend=model`: the same fit, pinned with the model's own mean bend): "
            + "; ".join(f"**{a}** ({', '.join(f'`{k}={v}`' for k, v in ABLATIONS[a].items())})" for a in present)
            + ".",
        ]
    lines += [
        "",
        "## Results",
        "",
    ]
    for name in dict.fromkeys(summary["dataset"]):
        part = summary[summary["dataset"] == name]
        spec = DATASETS.get(name)
        held = sorted(df.loc[df["dataset"] == name, "held_out"].unique())
        lines += [f"### {name}", ""]
        if spec is not None:
            note = f" ({spec.quick_note})" if quick and spec.quick_note else ""
            lines += [spec.description + note + ".", ""]
        lines += [f"Held out: {', '.join(f'{h:g}' for h in held)}.", "", to_markdown(part).rstrip("\n"), ""]
    return "\n".join(lines)


def command_line(argv: Sequence[str]) -> str:
    """The command as a user would type it: ``python -m wf_sc.benchmark <args>``."""
    import shlex

    return shlex.join(["python", "-m", "wf_sc.benchmark", *argv])

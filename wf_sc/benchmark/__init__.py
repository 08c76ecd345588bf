"""The leave-one-timepoint-out benchmark suite: protocol, methods, baselines, datasets and report.

``python -m wf_sc.benchmark`` runs it (:mod:`wf_sc.benchmark.__main__`); from Python,
:func:`run_suite` returns the tidy table and :func:`~wf_sc.benchmark.report.report` turns it into
markdown. :func:`wf_sc.tl.leave_one_out` runs the same protocol on a user's own AnnData.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from .._logging import get_logger
from ..tl._config import parse_settings
from .datasets import DATASETS, Dataset
from .methods import ABLATIONS, KNOWN, METHODS, build
from .protocol import COLUMNS, FLOOR, METRICS, TimeCourse, leave_one_out
from .report import command_block, report
from .summary import paired, summarize, to_markdown

log = get_logger(__name__)

__all__ = [
    "ABLATIONS",
    "DATASETS",
    "METHODS",
    "QUICK",
    "Dataset",
    "command_line",
    "paired",
    "report",
    "run_suite",
    "summarize",
    "to_markdown",
]

#: OT-CFM budget of the full suite (the :class:`wf_sc.benchmark.otcfm.OTCFM` defaults, spelled out)
OTCFM_FULL: dict[str, Any] = dict(steps=2000, batch_size=256, lr=1e-3, sigma=0.1, width=64, depth=3, ode_steps=100)
#: tiny budgets of ``--quick`` (CI smoke runs)
QUICK: dict[str, dict[str, Any]] = {
    "weightflow": dict(stage1_max_steps_first=100, stage1_max_steps=50, stage2_steps=5, hidden=8, width=16),
    "otcfm": dict(steps=100, batch_size=64, ode_steps=20),
}


def _check_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """WeightFlow settings for every fit of a run; refuses unknown or per-fit keys before any work."""
    from .weightflow_methods import make_weightflow

    settings = dict(settings or {})
    per_fit = sorted(set(settings) & {"time_key", "use_rep", "random_state", "device"})
    if per_fit:
        raise ValueError(f"settings {per_fit} are chosen per fit by the benchmark (the seed, the dataset, --device)")
    try:
        make_weightflow(0, settings)
    except TypeError as err:
        raise ValueError(str(err)) from None
    return settings


def _missing(done: pd.DataFrame | None, dataset: str, seed: int, methods: Sequence[str], cells: set) -> list[str]:
    """The methods that lack a row for some (held-out time, metric) of ``cells`` for (dataset, seed)."""
    if done is None or not len(done):
        return list(methods)
    part = done[(done["dataset"] == dataset) & (done["seed"] == seed)]
    have = {m: set(zip(g["held_out"].round(9), g["metric"])) for m, g in part.groupby("method")}
    return [m for m in methods if not cells <= have.get(m, set())]


def _concat(kept: pd.DataFrame, tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The earlier rows kept and the new ones, as one table."""
    parts = [t for t in (kept, *tables) if len(t)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(COLUMNS))


def run_suite(
    datasets: Sequence[str] | None = None,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    quick: bool = False,
    device: str = "auto",
    max_cells: int = 1000,
    progress: bool = False,
    methods: Sequence[str] = METHODS,
    settings: Mapping[str, Any] | None = None,
    done: pd.DataFrame | None = None,
    on_rows: Callable[[pd.DataFrame], None] | None = None,
    fit_cache: str | None = None,
) -> pd.DataFrame:
    """Run the nested leave-one-out (:func:`~wf_sc.benchmark.protocol.leave_one_out`) on each dataset.

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
        Cells per side of each metric computation.
    progress
        Progress bars.
    methods
        Methods to run (:data:`~wf_sc.benchmark.methods.KNOWN`).
    settings
        WeightFlow settings other than the package defaults, for every WeightFlow variant (an
        ablation's own change wins); on top of the quick budgets with ``quick``.
    done
        Rows of an earlier run with the same settings: a (dataset, seed, method) already complete
        there is taken from it instead of being run again.
    on_rows
        Called with the whole table so far after each (dataset, seed) (to save it, so that an
        interrupted run can be resumed with ``done``).
    fit_cache
        Folder where WeightFlow fits are saved and reused (a later run of other prediction
        variants, or of a nested choice, then refits nothing it has).

    Returns
    -------
    The tidy table (:data:`~wf_sc.benchmark.protocol.COLUMNS`).
    """
    names = list(datasets) if datasets else (["gradient_flow"] if quick else list(DATASETS))
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"unknown datasets {unknown}; known are {list(DATASETS)}")
    wf_kwargs = {**(QUICK["weightflow"] if quick else {}), **_check_settings(settings)}
    cfm_kwargs = dict(QUICK["otcfm"]) if quick else dict(OTCFM_FULL)
    if device != "auto":
        from ..tl._settings import resolve_device

        resolve_device(device)  # refuse unknown devices before any work
        wf_kwargs["device"] = cfm_kwargs["device"] = device
    else:
        import torch

        cfm_kwargs["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    methods = list(dict.fromkeys(methods))
    build(methods)  # refuse unknown names before any work
    kept = done if done is not None else pd.DataFrame(columns=list(COLUMNS))
    tables: list[pd.DataFrame] = []
    for name in names:
        spec = DATASETS[name]
        data, reference = None, spec.ground_truth(quick)
        for seed in seeds:
            if data is None:
                data = spec.time_course(quick)
            cells = {(round(float(t), 9), m) for t in data.times[1:-1] for m in METRICS}
            todo = [m for m in _missing(done, name, seed, methods, cells)]
            if not todo:
                continue
            # a method run again replaces every earlier row it has for this dataset and seed
            stale = (kept["dataset"] == name) & (kept["seed"] == seed) & kept["method"].isin(todo)
            kept = kept[~stale]
            start = time.perf_counter()
            table = leave_one_out(
                data,
                build(todo, weightflow_kwargs=wf_kwargs, otcfm_kwargs=cfm_kwargs, fit_cache=fit_cache),
                seeds=[seed],
                max_cells=max_cells,
                reference=reference,
                dataset=name,
                progress=progress,
            )
            if not _missing(kept, name, seed, [FLOOR], cells):
                table = table[table["method"] != FLOOR]  # the earlier run has it (it depends only on the seed)
            tables.append(table)
            log.info("benchmark %s seed %d: %s in %.1f s", name, seed, todo, time.perf_counter() - start)
            if on_rows is not None:
                on_rows(_concat(kept, tables))
    out = _concat(kept, tables)
    out = out[out["dataset"].isin(names) & out["seed"].isin(list(seeds)) & out["method"].isin([FLOOR, *methods])]
    order = {m: i for i, m in enumerate((FLOOR, *methods))}
    dataset_order = {n: i for i, n in enumerate(names)}
    return out.sort_values(
        ["dataset", "seed", "held_out", "method"],
        key=lambda c: c.map(dataset_order) if c.name == "dataset" else (c.map(order) if c.name == "method" else c),
        ignore_index=True,
    )


def command_line(argv: Sequence[str]) -> str:
    """The command as a user would type it: ``python -m wf_sc.benchmark <args>``."""
    import shlex

    return shlex.join(["python", "-m", "wf_sc.benchmark", *argv])

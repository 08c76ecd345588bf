"""The markdown report of a suite run: the template's prose, the machine, and the tables."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib.resources import files
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from .datasets import DATASETS
from .methods import ABLATIONS
from .protocol import FLOOR
from .summary import paired, summarize, to_markdown

#: what each WeightFlow variant changes, for the report
ABLATION_TEXT: dict[str, str] = {
    "wf_transport": "the same fit, `prediction=\"transport\"`: observed cells of both neighbours moved to t_k along "
    "the fitted flow",
    "wf_nested": "the same fit, `sample` or `transport` chosen by the inner leave-one-out",
    "wf_ode": "a neural ODE driven by time alone instead of the CDE",
    "wf_linear": "straight lines between the anchor weights, no Stage 2",
    "wf_no_action": "no population action in Stage 2",
    "wf_constant_pace": "the action prefers constant speed inside each interval instead of the neighbours' pace",
    "wf_no_bridge": "each interval's trajectory is not bridged to end at the next anchor",
}


def _machine(device: str, threads: int | None) -> str:
    import torch

    from .. import __version__

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return "\n".join(
        [
            f"- platform: {platform.platform()} ({platform.machine()}), Python {platform.python_version()}",
            f"- CPUs: {os.cpu_count()} (torch threads: {threads if threads is not None else torch.get_num_threads()})",
            f"- torch {torch.__version__}; CUDA device: {cuda}; requested device: `{device}`",
            f"- wf_sc {__version__}",
        ]
    )


def headline(df: pd.DataFrame, dataset: str, method: str = "weightflow") -> str:
    """Markdown: mean W1 of every method with the paired difference of ``method`` against it."""
    summary = summarize(df[(df["dataset"] == dataset) & (df["metric"] == "w1")])
    diffs = paired(df[df["dataset"] == dataset], method).set_index("baseline")
    lines = [
        f"| method | W1 | {method} − method (± SE) | {method} ahead |",
        "|---|---:|---:|---:|",
    ]
    for r in summary.itertuples(index=False):
        if r.method in diffs.index:
            d = diffs.loc[r.method]
            diff = f"{d['diff']:+.4g} ± {d['se']:.2g}" if np.isfinite(d["se"]) else f"{d['diff']:+.4g}"
            ahead = f"{d['ahead']}/{d['n_seeds']}"
        else:
            diff = ahead = "—"
        name = f"**{r.method}**" if r.method == method else r.method
        lines.append(f"| {name} | {r.mean:.4g} ± {r.std:.2g} | {diff} | {ahead} |".replace("± nan", ""))
    return "\n".join(lines)


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
    csv_name: str = "benchmarks.csv",
    resumed: bool = False,
    wf_settings: Mapping[str, Any] | None = None,
    cfm_settings: Mapping[str, Any] | None = None,
) -> str:
    """The report: the template (``report_template.md``) filled in, then one section per dataset.

    Each section has the headline table (:func:`headline`: mean W1 and WeightFlow's paired
    difference against every method) and the full table of every metric (:func:`to_markdown`).
    """
    present = [a for a in ABLATIONS if a in set(df["method"])]
    ablations = ""
    if present:
        ablations = "- WeightFlow variants, each beside the default call: " + "; ".join(
            f"**{a}** ({ABLATION_TEXT[a]})" for a in present
        ) + ".\n"
    given = dict(wf_settings or {})
    text = Template((files(__package__) / "report_template.md").read_text()).substitute(
        quick_title=" (quick smoke run: tiny budgets, not a result)" if quick else "",
        command=command,
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        minutes=f"{seconds / 60:.1f}",
        resumed="; rows of earlier runs of the same command were kept (`--resume`)" if resumed else "",
        machine=_machine(device, threads),
        seeds=" ".join(str(s) for s in seeds),
        wf_settings=", ".join(f"`{k}={v}`" for k, v in given.items()) if given else "package defaults",
        cfm_settings=", ".join(f"`{k}={v}`" for k, v in (cfm_settings or {}).items()) or "defaults",
        max_cells=max_cells,
        csv_name=csv_name,
        ablations=ablations,
    )
    blocks = [text]
    summary = summarize(df)
    for name in dict.fromkeys(df["dataset"]):
        spec = DATASETS.get(name)
        held = sorted(df.loc[df["dataset"] == name, "held_out"].unique())
        n_seeds = df.loc[(df["dataset"] == name) & (df["method"] != FLOOR), "seed"].nunique()
        blocks += [f"### {name}", ""]
        if spec is not None:
            note = f" ({spec.quick_note})" if quick and spec.quick_note else ""
            blocks += [spec.description + note + ".", ""]
        blocks += [f"Held out: {', '.join(f'{h:g}' for h in held)}; {n_seeds} seeds.", ""]
        if "weightflow" in set(df.loc[df["dataset"] == name, "method"]):
            blocks += [headline(df, name), ""]
        blocks += ["All metrics:", "", to_markdown(summary[summary["dataset"] == name]).rstrip("\n"), ""]
    return "\n".join(blocks)

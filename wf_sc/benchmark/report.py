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
from .methods import ABLATIONS, NESTED_WEIGHTFLOW, default_prediction
from .protocol import FLOOR
from .summary import paired, summarize, to_markdown

#: the prose above :func:`behind_table` in the report
BEHIND_TEXT = (
    "Each held-out time where a baseline's mean W1 is lower than the default call's by more than two "
    "standard errors of the per-seed paired difference at that time. What each gap comes from, as far "
    "as it was measured, is in the method page, section \"Where WeightFlow is behind\" "
    "([method.md](method.md#where-weightflow-is-behind))."
)

#: what each WeightFlow variant changes, for the report
ABLATION_TEXT: dict[str, str] = {
    "wf_sample": "the same fit, `prediction=\"sample\"`: fresh cells of the fitted density",
    "wf_nested": "the same fit, `sample` or `transport` chosen by the inner leave-one-out",
    "wf_transport": "the same fit, the default prediction before `meet`: observed cells moved to t_k, a fraction "
    "1 − s from t_prev and s from t_next, not paired",
    "wf_meet_nested": "the same fit, `transport` or `meet` chosen by the inner leave-one-out",
    "wf_meet_growth": "the same fit, met cells whose two sides are drawn with growth weights (as `wf_growth`)",
    "wf_meet_growth_nested": "the same fit, met cells with or without growth weights, chosen by the inner "
    "leave-one-out",
    "wf_carried": "the same fit, every training snapshot's cells carried to t_k along the fitted flow, chained by "
    "exact OT between consecutive carried clouds and read off one PCHIP spline per chained path (the identity flow "
    "gives `mm_pchip`)",
    "wf_carried_nested": "the same fit, met cells or the carried multi-marginal cells, chosen by the inner leave-one-out",
    "wf_meet_model": "the same fit, two independent samples of the fitted density at t_k paired by the optimal "
    "assignment and averaged with weights 1 − s and s (the met cells' estimator on the model's cells)",
    "wf_meet_model_nested": "the same fit, met cells or `wf_meet_model`, chosen by the inner leave-one-out",
    "wf_meet_spread": "the same fit, met cells rescaled about their centroid to the spread of the two carried clouds",
    "wf_meet_spread_nested": "the same fit, met cells with or without that rescaling, chosen by the inner leave-one-out",
    "wf_meet_clock": "the same fit, met cells carried to the pace clock's time and averaged with its fraction (the "
    "identity flow gives `ot_pace`)",
    "wf_meet_clock_nested": "the same fit, met cells at the time or at the pace clock's time, chosen by the inner "
    "leave-one-out",
    "wf_meet_pace": "the same fit, met cells averaged with the pace clock's fraction (as `ot_pace` uses it) "
    "instead of the time fraction",
    "wf_meet_pace_nested": "the same fit, met cells averaged with the time fraction or the pace clock's, chosen "
    "by the inner leave-one-out",
    "wf_growth": "the default fit, its transported cells drawn with growth weights so that they divide "
    "and die on the way (the parity row is `ot_growth`)",
    "wf_lineages": "WeightFlow fitted on snapshots weighted by lineage (division and death removed by "
    "unbalanced transport), predicting like `wf_growth`",
    "wf_budget_nested": "Stage 1's warm-started anchors allowed 500 (default) or 1,500 steps before "
    "early stopping, chosen by the inner leave-one-out",
    "wf_ode": "a neural ODE driven by time alone instead of the CDE",
    "wf_linear": "straight lines between the anchor weights, no Stage 2",
    "wf_no_action": "no population action in Stage 2",
    "wf_constant_pace": "the action prefers constant speed inside each interval instead of the neighbours' pace",
    "wf_no_bridge": "each interval's trajectory is not bridged to end at the next anchor",
    "wf_bridge_clock": "the bridge grows along the pace clock (`Config(bridge_clock=True)`) instead of linearly in time",
    "wf_rebasin": "each anchor fitted from its own random start and relabelled by weight matching to the one "
    "before it (Git Re-Basin style), instead of warm-started from it",
    "wf_barzel": "the field's graph layers in Barabási-Barzel form, F(h_i) + Σ_j A_ij G(h_i, h_j) over the "
    "backbone's connectivity, instead of attention",
    "wf_stage1_validation": "every anchor may train as long as the first (1,500 steps) and stops when held-out cells "
    "stop improving, instead of warm-started anchors stopping at 500 steps",
    "wf_stage2_nested": "Stage 2 run for 200 (default) or 600 steps, chosen by the inner leave-one-out",
    "wf_stage2_600": "Stage 2 run for 600 steps instead of 200",
    "wf_strong_action": "the population action weighted 2.0 in Stage 2 instead of 0.5",
    "wf_action_nested": "the population action weighted 0.5 (default) or 2.0, chosen by the inner leave-one-out",
    "wf_no_accel": "Stage 2 without the second-order population action (`ot_accel` 0): each interval a geodesic, "
    "the default before",
    "wf_accel_nested": "with or without the second-order population action, chosen by the inner leave-one-out",
    "wf_bridge_nested": "the bridge linear in time or along the pace clock, chosen by the inner leave-one-out",
    "wf_points4": "the population actions measured at four points per anchor interval instead of two",
    "wf_points_nested": "the population actions at two or four points per anchor interval, chosen by the inner leave-one-out",
}


#: what each prediction of ``wf.tl.interpolate`` gives, for the report
PREDICTION_TEXT: dict[str, str] = {
    "sample": "fresh cells of the fitted density at t_k",
    "transport": "observed cells of both neighbours moved to t_k along the fitted flow, a fraction 1 − s of "
    "them from t_prev and s from t_next",
    "meet": "m observed cells of each neighbour moved to t_k along the fitted flow (forward from t_prev, "
    "backward from t_next), paired by exact OT where they arrive and averaged with weights 1 − s and s",
}


def code_version() -> str:
    """Short git commit of the wf_sc that runs (``unknown`` outside a git checkout)."""
    import subprocess
    from pathlib import Path

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def command_block(command: str) -> list[str]:
    """Markdown lines saying which command produced a report."""
    return ["Generated by:", "", "```", command, "```", ""]


def _machine(device: str, threads: int | None) -> str:
    import torch

    from .. import __version__

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return "\n".join(
        [
            f"- platform: {platform.platform()} ({platform.machine()}), Python {platform.python_version()}",
            f"- CPUs: {os.cpu_count()} (torch threads: {threads if threads is not None else 'not recorded'})",
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


def summary_table(df: pd.DataFrame, method: str = "weightflow") -> str:
    """Markdown: per dataset the floor, ``method`` and the best baseline by mean W1 (WeightFlow's
    variants excluded), with the
    paired difference of ``method`` against that best one (± its standard error) and the seeds ahead."""
    lines = [
        f"| dataset | seeds | floor | {method} | best baseline | {method} − best (± SE) | {method} ahead |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for name in dict.fromkeys(df["dataset"]):
        part = df[(df["dataset"] == name) & (df["metric"] == "w1")]
        means = summarize(part).set_index("method")["mean"]
        if method not in means:
            continue
        others = means.drop([m for m in means.index if m in (method, FLOOR) or m in ABLATIONS])
        if not len(others):
            continue
        best = others.idxmin()
        d = paired(part, method).set_index("baseline").loc[best]
        n = part.loc[part["method"] == method, "seed"].nunique()
        lines.append(
            f"| {name} | {n} | {means.get(FLOOR, np.nan):.4g} | {means[method]:.4g} | {best} {means[best]:.4g} | "
            f"{d['diff']:+.3g} ± {d['se']:.2g} | {d['ahead']}/{d['n_seeds']} |".replace(" ± nan", "")
        )
    return "\n".join(lines)


def behind_table(df: pd.DataFrame, method: str = "weightflow", z: float = 2.0) -> str:
    """Markdown: every (dataset, held-out time, baseline) where the baseline's mean W1 is lower than
    ``method``'s by more than ``z`` standard errors of the per-seed paired difference at that time
    (WeightFlow's variants excluded), largest difference first within each held-out time; both means
    over the seeds the two share; "" when there is none.
    """
    rows = []
    w1 = df[(df["metric"] == "w1") & ~df["method"].isin(ABLATIONS)]
    for (name, held), part in w1.groupby(["dataset", "held_out"], sort=False):
        if method not in set(part["method"]):
            continue
        per_seed = part.groupby(["method", "seed"])["value"].mean().unstack("seed")
        diffs = paired(part, method)
        se = diffs["se"].astype(float)
        ahead = diffs[(diffs["diff"].astype(float) > z * se) & np.isfinite(se)]
        for d in ahead.sort_values("diff", ascending=False).itertuples(index=False):
            shared = per_seed.loc[[method, d.baseline]].dropna(axis=1)
            own, other = shared.loc[method].mean(), shared.loc[d.baseline].mean()
            rows.append(
                f"| {name} | {held:.4g} | {d.baseline} | {other:.4g} | {own:.4g} | "
                f"{d.diff:+.3g} ± {d.se:.2g} | {d.n_seeds - d.ahead}/{d.n_seeds} |"
            )
    if not rows:
        return ""
    header = [
        f"| dataset | held out | baseline | baseline W1 | {method} W1 | {method} − baseline (± SE) | "
        f"seeds {method} not ahead |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    return "\n".join(header + rows)


def choice_counts(df: pd.DataFrame) -> list[str]:
    """``"method: setting × count, ..."`` for the methods that chose among several settings."""
    out = []
    for method in (*NESTED_WEIGHTFLOW, "mm_nested"):
        part = df[(df["method"] == method) & (df["metric"] == df["metric"].iloc[0])] if len(df) else df
        if len(part):
            counts = part["setting"].value_counts()
            out.append(f"{method}: " + ", ".join(f"`{k}` × {v}" for k, v in counts.items()))
    return out


def report(
    df: pd.DataFrame,
    *,
    command: str,
    seeds: Sequence[int],
    quick: bool,
    device: str,
    max_cells: int,
    seconds: float | None,
    threads: int | None = None,
    csv_name: str = "benchmarks.csv",
    resumed: bool = False,
    wf_settings: Mapping[str, Any] | None = None,
    cfm_settings: Mapping[str, Any] | None = None,
    title: str = "Leave-one-timepoint-out benchmark",
) -> str:
    """The report: the template (``report_template.md``) filled in, then one section per dataset.

    ``seconds=None``: a report rebuilt from rows run earlier. Each section has the headline table (:func:`headline`: mean W1 and WeightFlow's paired
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
        title=title,
        wf_prediction=default_prediction()["prediction"],
        wf_prediction_text=PREDICTION_TEXT[default_prediction()["prediction"]],
        quick_title=" (quick smoke run: tiny budgets, not a result)" if quick else "",
        command=command,
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        run_time=f"wall-clock time of this run {seconds / 60:.1f} min" if seconds is not None
        else "rebuilt from the CSV (`--report-only`); each method's fit time is in its table",
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
    table = summary_table(df) if "weightflow" in set(df["method"]) else ""
    if table.count("\n") > 1:
        blocks += ["### Summary", "", table, ""]
    behind = behind_table(df) if "weightflow" in set(df["method"]) else ""
    if behind:
        blocks += ["### Where WeightFlow is behind", "", BEHIND_TEXT, "", behind, ""]
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
        choices = choice_counts(df[df["dataset"] == name])
        if choices:
            blocks += ["Settings chosen by the inner leave-one-out (outer folds): " + "; ".join(choices) + ".", ""]
        blocks += ["All metrics:", "", to_markdown(summary[summary["dataset"] == name]).rstrip("\n"), ""]
    return "\n".join(blocks)

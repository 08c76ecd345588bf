"""Summaries of a benchmark table: mean ± std over seeds, paired per-seed differences, markdown."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .protocol import FLOOR, METRICS

#: column labels of :func:`to_markdown`
METRIC_LABELS: dict[str, str] = {"w1": "W1", "w2": "W2", "mmd": "MMD²"}


def per_seed(df: pd.DataFrame, metric: str = "w1") -> pd.DataFrame:
    """Mean over held-out times for each (dataset, method, seed): a table ``dataset x seed`` per method."""
    part = df[df["metric"] == metric]
    return part.groupby(["dataset", "method", "seed"], sort=False)["value"].mean().unstack("seed")


def paired(df: pd.DataFrame, method: str = "weightflow", metric: str = "w1") -> pd.DataFrame:
    r"""Per-seed paired differences of ``method`` against every other method, per dataset.

    With :math:`\bar v_{m,s}` the mean over held-out times of method :math:`m` at seed :math:`s`,
    :math:`\delta_s = \bar v_{\mathrm{method},s} - \bar v_{b,s}` over the seeds both have; the
    table gives the mean of :math:`\delta`, its standard deviation, its standard error
    :math:`\mathrm{sd}/\sqrt{n}` and on how many seeds ``method`` is lower (better).

    Returns
    -------
    Columns ``dataset``, ``baseline``, ``diff``, ``sd``, ``se``, ``ahead``, ``n_seeds``.
    """
    table = per_seed(df, metric)
    out = []
    for dataset in dict.fromkeys(df["dataset"]):
        if (dataset, method) not in table.index:
            continue
        own = table.loc[(dataset, method)]
        for other in table.loc[dataset].index:
            if other in (method, FLOOR):
                continue
            d = (own - table.loc[(dataset, other)]).dropna()
            n = len(d)
            sd = float(d.std(ddof=1)) if n > 1 else math.nan
            out.append(
                dict(dataset=dataset, baseline=other, diff=float(d.mean()) if n else math.nan, sd=sd,
                     se=sd / math.sqrt(n) if n > 1 else math.nan, ahead=int((d < 0).sum()), n_seeds=n)
            )
    return pd.DataFrame(out, columns=["dataset", "baseline", "diff", "sd", "se", "ahead", "n_seeds"])


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
    missing = {"dataset", "method", "metric", "seed", "value", "held_out", "fit_seconds"} - set(df.columns)
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

r"""``python -m wf_sc.benchmark.drift``: how well each drift method recovers a known velocity.

On the linear gradient flow (:class:`~wf_sc.datasets.GradientFlow`, no diffusion, so the true
velocity :math:`-A(x - m)` is the one that transports the populations), WeightFlow is fitted on
snapshots at times 0, 0.5, 1, 1.5, 2 and the drift of fresh true cells is compared with the truth
at the observed times and at the unobserved midpoints 0.25, 0.75, 1.25, 1.75. Methods:

- ``transport``: the package's drift, the Knothe–Rosenblatt transport velocity of the model's
  density path (:mod:`wf_sc._core.drift`), coordinates in their given order;
- ``transport_reversed``: the same method with the coordinates in reverse order (a second fit on
  the reversed data; the KR map depends on the order, this shows by how much);
- ``ot_model``: the barycentric projection of exact OT from the cells to ``n`` model cells at
  :math:`t + h` (h = 0.1; :math:`h = -0.1` at the last observed time, where the model ends), divided
  by :math:`h`: a drift from the same model without the transport
  map;
- ``ot_snapshots`` (no model): the barycentric projection of exact OT from the cells to the next
  observed snapshot, divided by the time to it: the naive velocity from the data alone.

Scores per (time, seed), then averaged over times, mean ± std over seeds: the median and mean
cosine similarity with the true velocity, and the relative error
:math:`\|\hat v - v\|_2 / \|v\|_2` over all cells.

Examples
--------
::

    python -m wf_sc.benchmark.drift --out docs/drift.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .report import command_block

TIMES = (0.0, 0.5, 1.0, 1.5, 2.0)
EVAL_TIMES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
METHODS = ("transport", "transport_reversed", "ot_model", "ot_snapshots")


def barycentric_velocity(x: np.ndarray, y: np.ndarray, h: float) -> np.ndarray:
    """``(n * P y - x) / h`` for the exact OT plan ``P`` (uniform weights, squared cost) from ``x`` to ``y``."""
    import ot

    P = ot.emd(ot.unif(len(x)), ot.unif(len(y)), ot.dist(x, y))
    return (len(x) * P @ y - x) / h


def scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Median and mean cosine similarity, and the relative L2 error over all cells."""
    cos = (pred * true).sum(1) / (np.linalg.norm(pred, axis=1) * np.linalg.norm(true, axis=1) + 1e-12)
    return {
        "median_cosine": float(np.median(cos)),
        "mean_cosine": float(cos.mean()),
        "relative_error": float(np.linalg.norm(pred - true) / np.linalg.norm(true)),
    }


def run(dims: Sequence[int] = (2, 5), seeds: Sequence[int] = (0, 1, 2), n_cells: int = 500, n_eval: int = 300,
        **settings) -> pd.DataFrame:
    """Tidy table (dataset, seed, time, method, metric, value) of every drift method."""
    import anndata as ad

    import wf_sc as wf

    from .weightflow_methods import make_weightflow

    rows = []
    for dim in dims:
        flow = wf.datasets.GradientFlow(dim=dim, random_state=0)
        name = f"gradient_flow_{dim}d"
        for seed in seeds:
            adata = flow.sample(times=TIMES, n_cells=n_cells, random_state=100 + seed)
            rev = ad.AnnData(X=np.ascontiguousarray(adata.X[:, ::-1]), obs=adata.obs.copy())
            fits = {}
            for key, data in (("transport", adata), ("transport_reversed", rev)):
                start = time.perf_counter()
                fits[key] = make_weightflow(seed, settings).fit(data, progress=False)
                rows.append(dict(dataset=name, seed=seed, time=np.nan, method=key, metric="fit_seconds",
                                 value=time.perf_counter() - start))
            snaps = {t: np.asarray(adata.X[adata.obs["time"].to_numpy() == t]) for t in TIMES}
            for t in EVAL_TIMES:
                x = flow.population(t, n_eval, random_state=1000 * seed + int(100 * t))
                true = flow.velocity(x, t)
                h = 0.1 if t + 0.1 <= TIMES[-1] else -0.1  # a backward difference at the last time
                preds = {
                    "transport": fits["transport"].drift(x.astype(np.float32), t),
                    "transport_reversed": fits["transport_reversed"].drift(x[:, ::-1].astype(np.float32), t)[:, ::-1],
                    "ot_model": barycentric_velocity(
                        x, fits["transport"].sample(t + h, n_eval, random_state=seed).astype(np.float64), h
                    ),
                }
                nxt = min(u for u in TIMES if u > t) if t < TIMES[-1] else None
                if nxt is not None:
                    preds["ot_snapshots"] = barycentric_velocity(x, snaps[nxt].astype(np.float64), nxt - t)
                for method, pred in preds.items():
                    for metric, value in scores(np.asarray(pred, dtype=np.float64), true).items():
                        rows.append(dict(dataset=name, seed=seed, time=t, method=method, metric=metric, value=value))
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """One table per dataset: methods as rows, metrics (mean ± std over seeds of the time average)."""
    blocks = []
    metrics = ["median_cosine", "mean_cosine", "relative_error"]
    for name, part in df.groupby("dataset", sort=False):
        per_seed = part[part["metric"].isin(metrics)].groupby(["method", "metric", "seed"], sort=False)["value"].mean()
        agg = per_seed.groupby(["method", "metric"], sort=False).agg(["mean", "std"])
        fit = part[part["metric"] == "fit_seconds"].groupby("method")["value"].mean()
        lines = [f"### {name}", "", "| method | median cosine | mean cosine | relative error | fit (s) |",
                 "|---|---:|---:|---:|---:|"]
        for method in [m for m in METHODS if m in set(part["method"])]:
            cells = [f"{agg.loc[(method, m), 'mean']:.3f} ± {agg.loc[(method, m), 'std']:.3f}" for m in metrics]
            secs = f"{fit[method]:.1f}" if method in fit else "—"
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {secs} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the tables, write the page and its CSV."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m wf_sc.benchmark.drift", description=__doc__.splitlines()[0])
    p.add_argument("--dims", nargs="+", type=int, default=[2, 5])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="docs/drift.md")
    p.add_argument("--csv", default="benchmarks/results/drift.csv", help="the scores (tidy table) to write")
    args = p.parse_args(argv)
    from ..tl._settings import torch_threads

    start = time.perf_counter()
    with torch_threads(args.threads):
        df = run(args.dims, args.seeds)
    seconds = time.perf_counter() - start
    tables = to_markdown(df)
    text = "\n".join([
        "# Drift accuracy: the drift methods against a known velocity",
        "",
        (__doc__ or "").split("\n\n", 1)[1].split("Examples")[0].strip(),
        "",
        *command_block("python -m wf_sc.benchmark.drift " + " ".join(argv)),
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; {seconds / 60:.1f} min; "
        f"{platform.platform()}, {os.cpu_count()} CPUs, torch threads {args.threads}",
        f"- seeds: {' '.join(map(str, args.seeds))}; WeightFlow: package defaults; 500 cells per snapshot, "
        "300 fresh true cells per evaluation time",
        f"- every score: [`{Path(args.csv).name}`]({os.path.relpath(args.csv, Path(args.out).parent)})",
        "",
        "## Results",
        "",
        tables,
    ])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.csv, index=False)
    print(tables, end="")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pace or shape? Where WeightFlow loses a held-out time, split the loss into the two.

Usage (the real data are read from ``WF_SC_DATA_DIR`` or downloaded)::

    python docs/pace.py [--seeds 0 1 2] [--cases emt3:0.333333 toggle_switch:1 ...] [--out docs]

For each case (a benchmark dataset and one interior time ``t_k``) and seed, WeightFlow is fitted
with the package defaults on every other time (exactly the leave-one-timepoint-out fit of
``docs/benchmarks.md``) and sampled at 11 equally spaced times across the held-out interval
``[t_{k-1}, t_{k+1}]`` plus ``t_k`` itself. Two numbers per sample:

- **progress** ``f = <m − m_prev, m_next − m_prev> / |m_next − m_prev|²``, where ``m`` is the
  sample's mean and ``m_prev``, ``m_next`` the means of the real neighbouring snapshots: how far
  along the interval the population has moved (displacement interpolation moves its mean at
  constant speed, ``f = s``).
- **W1** to the real held-out cells (simulators: a fresh draw of the true population at ``t_k``).

``W1 at t_k`` is what the benchmark scores; ``best W1`` is the smallest W1 of any sample along the
interval, the score WeightFlow would get if its population only ran at the wrong pace. Writes
``pace.csv``, ``pace.md`` and ``_static/pace.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import wf_sc as wf  # noqa: E402
from wf_sc._core.baselines import PREDICTORS  # noqa: E402
from wf_sc._core.metrics import subsample, w1  # noqa: E402
from wf_sc.benchmark import DATASETS, command_block, parse_settings  # noqa: E402

log = logging.getLogger("pace")
CASES = ("emt3:0.333333", "emt3:1", "toggle_switch:1", "gradient_flow:1", "dendritic:2", "emt10:1")
N_CELLS = 1000


def progress(x: np.ndarray, m_prev: np.ndarray, m_next: np.ndarray) -> float:
    """Fraction of the way from ``m_prev`` to ``m_next`` the mean of ``x`` has moved."""
    step = m_next - m_prev
    return float((x.mean(0) - m_prev) @ step / (step @ step))


def mean_moves(x_prev: np.ndarray, x_next: np.ndarray) -> bool:
    """Whether the mean moves by at least a quarter of the cells' spread (else progress is noise)."""
    spread = np.sqrt(0.5 * (x_prev.var(0).sum() + x_next.var(0).sum()))
    return bool(np.linalg.norm(x_next.mean(0) - x_prev.mean(0)) >= 0.25 * spread)


def run_case(name: str, held: float, seed: int, settings: dict | None = None) -> list[dict]:
    spec = DATASETS[name]
    adata = spec.load(False)
    t = adata.obs["time"].to_numpy(dtype=float)
    times = np.unique(t)
    k = int(np.argmin(np.abs(times - held)))
    t_prev, t_k, t_next = times[k - 1], times[k], times[k + 1]
    X = np.asarray(adata.obsm[spec.use_rep] if spec.use_rep != "X" else adata.X, dtype=float)
    rng = np.random.default_rng(seed)
    if spec.reference is not None:
        real = np.asarray(spec.reference(False)(t_k, N_CELLS, random_state=seed))
    else:
        real = subsample(X[t == t_k], N_CELLS, rng)
    m_prev, m_next = X[t == t_prev].mean(0), X[t == t_next].mean(0)
    moves = mean_moves(X[t == t_prev], X[t == t_next])

    def prog(x: np.ndarray) -> float:
        return progress(x, m_prev, m_next) if moves else np.nan

    train = adata[t != t_k].copy()
    start = time.perf_counter()
    model = wf.tl.WeightFlow("time", spec.use_rep, random_state=seed, **(settings or {})).fit(train, progress=False)
    seconds = time.perf_counter() - start
    log.info("%s t=%g seed %d: fitted in %.0f s", name, t_k, seed, seconds)
    s_k = (t_k - t_prev) / (t_next - t_prev)
    ot_cells = PREDICTORS["ot"](X[t == t_prev], X[t == t_next], s_k, N_CELLS, rng)
    base = dict(dataset=name, held_out=t_k, seed=seed)
    rows = [
        dict(base, s=s_k, kind="real", progress=prog(real), w1=np.nan),
        dict(base, s=s_k, kind="ot", progress=prog(ot_cells), w1=w1(ot_cells, real)),
    ]
    # the weights the model samples from across [t_{k-1}, t_{k+1}) (bridged if the model bridges),
    # and at s = 1 where the trajectory from t_{k-1} ends, not the next anchor (which
    # ``model.sample`` would restart from); the free trajectory's end is kept for "end W1"
    grid = sorted({*np.linspace(0, 1, 11).round(6).tolist(), s_k})
    core = model._check_fitted()
    k_prev = int(np.argmin(np.abs(np.asarray(model.times) - t_prev)))
    with torch.no_grad():
        taus = model._tau([t_prev + s * (t_next - t_prev) for s in grid]).to(core.tau)
        free_end = core.integrate_from(k_prev, taus[-1:])[1][-1]
        path_end = core.anchors[k_prev + 1] if core.config.bridge else free_end
        thetas = [*core.weights(taus[:-1]), path_end, free_end, core.anchors[k_prev + 1]]

        def cells(theta: torch.Tensor) -> np.ndarray:
            gen = torch.Generator(device=core.tau.device).manual_seed(seed)
            return (core.sample(theta, N_CELLS, gen) * core.x_scale + core.x_mean).cpu().numpy()

        samples = [cells(theta) for theta in thetas]
    for s, x in zip(grid, samples):
        rows.append(dict(base, s=s, kind="weightflow", progress=prog(x), w1=w1(x, real)))
    x_next = subsample(X[t == t_next], N_CELLS, rng)
    rows.append(dict(base, s=1.0, kind="end_vs_next", progress=prog(samples[-2]), w1=w1(samples[-2], x_next)))
    # (samples[-3] is the path's end at s = 1, already in the curve above)
    rows.append(dict(base, s=1.0, kind="anchor_vs_next", progress=prog(samples[-1]), w1=w1(samples[-1], x_next)))
    for row in rows:
        row["fit_seconds"] = seconds
        row["settings"] = json.dumps(settings or {}, sort_keys=True)
    return rows


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (name, t_k), g in df.groupby(["dataset", "held_out"], sort=False):
        real, ot_rows = g[g.kind == "real"], g[g.kind == "ot"]
        s_k = float(real.s.iloc[0])
        wfg = g[g.kind == "weightflow"]
        at = wfg[np.isclose(wfg.s, s_k)]
        best = wfg.loc[wfg.groupby("seed").w1.idxmin()]
        out.append(
            dict(
                case=f"{name} t={t_k:g}",
                s=s_k,
                real_progress=real.progress.mean(),
                wf_progress=at.progress.mean(),
                wf_w1=at.w1.mean(),
                wf_w1_std=at.w1.std(),
                best_w1=best.w1.mean(),
                best_s=best.s.mean(),
                ot_w1=ot_rows.w1.mean(),
                end_w1=g[g.kind == "end_vs_next"].w1.mean(),
                anchor_w1=g[g.kind == "anchor_vs_next"].w1.mean(),
            )
        )
    return pd.DataFrame(out)


def plot(df: pd.DataFrame, path: Path) -> None:
    cases = list(dict.fromkeys(zip(df.dataset, df.held_out)))
    fig, axes = plt.subplots(2, len(cases), figsize=(3.1 * len(cases), 6.0), squeeze=False)
    for col, (name, t_k) in enumerate(cases):
        g = df[(df.dataset == name) & (df.held_out == t_k)]
        top, bottom = axes[0, col], axes[1, col]
        real, ot_rows, wfg = g[g.kind == "real"], g[g.kind == "ot"], g[g.kind == "weightflow"]
        s_k = float(real.s.iloc[0])
        for seed, gs in wfg.groupby("seed"):
            label = "WeightFlow" if seed == g.seed.min() else None
            top.plot(gs.s, gs.progress, color="C0", lw=1.2, alpha=0.8, label=label)
            bottom.plot(gs.s, gs.w1, color="C0", lw=1.2, alpha=0.8, label=label)
        if real.progress.notna().any():
            top.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="OT (constant speed)")
            top.scatter(real.s, real.progress, color="C3", zorder=3, s=30, label="held-out cells")
            anchor = g[g.kind == "anchor_vs_next"]
            top.scatter(anchor.s, anchor.progress, color="C2", marker="s", zorder=3, s=20, label="next anchor")
        else:
            top.text(0.5, 0.5, "the mean barely moves:\nprogress not defined", ha="center", va="center",
                     transform=top.transAxes, fontsize=9, color="0.4")
            top.set_xticks([])
            top.set_yticks([])
        bottom.scatter(ot_rows.s, ot_rows.w1, color="0.4", marker="x", zorder=3, label="OT at t_k")
        bottom.axvline(s_k, color="C3", lw=0.8, ls=":")
        top.set_title(f"{name}, t = {t_k:g}", fontsize=10)
        bottom.set_xlabel("time across the held-out interval")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("progress of the mean")
    axes[1, 0].set_ylabel("W1 to the held-out cells")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[1, 0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _num(v: float) -> str:
    return "—" if np.isnan(v) else f"{v:.3f}"


def write_markdown(
    summary: pd.DataFrame, seeds, settings: str, fit_seconds: float, command: str, path: Path
) -> None:
    lines = [
        "# Pace or shape: where WeightFlow loses a held-out time",
        "",
        *command_block(command),
        f"- platform: {platform.platform()}, torch {torch.__version__}, 1 torch thread",
        f"- {fit_seconds / 60:.1f} min of fitting in all",
        f"- seeds: {' '.join(map(str, seeds))}; WeightFlow settings: {settings}; {N_CELLS} cells per sample",
        "",
        "WeightFlow is fitted without the held-out time (as in the benchmark) and sampled across the "
        "held-out interval. *s*: where t_k lies in the interval. *progress*: how far the population's "
        "mean has moved from the previous to the next snapshot (displacement interpolation: exactly *s*; "
        "left out (—) where the neighbours' means are closer than a quarter of the cells' spread). "
        "*W1 at t_k*: the benchmark's score (up to the choice of reference cells). *best W1*: the "
        "smallest W1 to the held-out cells of any WeightFlow sample along the interval, and where along "
        "it (*at s*). *OT W1*: displacement interpolation at t_k, scored the same way. *end W1*: W1 between "
        "where the trajectory from t_{k-1} ends at t_{k+1} and the real cells of t_{k+1}; *anchor W1*: the "
        "same for the Stage-1 anchor of t_{k+1} (what the model samples at t_{k+1} itself). Means over seeds.",
        "",
        "| case | s | real progress | WeightFlow progress | W1 at t_k | best W1 | at s | OT W1 at t_k "
        "| end W1 | anchor W1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in summary.itertuples():
        lines.append(
            f"| {r.case} | {r.s:.3f} | {_num(r.real_progress)} | {_num(r.wf_progress)} | "
            f"{r.wf_w1:.3f} ± {r.wf_w1_std:.3f} | {r.best_w1:.3f} | {r.best_s:.2f} | {r.ot_w1:.3f} | "
            f"{r.end_w1:.3f} | {r.anchor_w1:.3f} |"
        )
    lines += ["", "![progress of the population mean across each held-out interval](_static/pace.png)", ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--csv-only", action="store_true", help="write only the CSV (to merge runs)")
    parser.add_argument("--merge", nargs="*", default=[], help="CSVs of earlier runs to report with this one")
    parser.add_argument("--command", help="command text for the report (default: this invocation)")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="WeightFlow settings other than the defaults"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    out = Path(args.out)
    (out / "_static").mkdir(parents=True, exist_ok=True)
    settings = parse_settings(args.set)
    rows = []
    for case in args.cases:
        name, held = case.split(":")
        for seed in args.seeds:
            rows += run_case(name, float(held), seed, settings)
    df = pd.concat([pd.DataFrame(rows), *(pd.read_csv(p) for p in args.merge)], ignore_index=True)
    df.to_csv(out / "pace.csv", index=False)
    if args.csv_only:
        return
    invocation = argv if argv is not None else sys.argv[1:]
    command = args.command or "python docs/pace.py " + " ".join(invocation)
    order = [tuple(c.split(":")) for c in CASES]
    key = {(n, float(h)): i for i, (n, h) in enumerate(order)}
    df["_order"] = [key.get((n, h), len(key)) for n, h in zip(df.dataset, df.held_out.round(6))]
    df = df.sort_values(["_order", "seed", "s"], kind="stable").drop(columns="_order")
    plot(df, out / "_static" / "pace.png")
    fit_seconds = df.groupby(["dataset", "held_out", "seed"]).fit_seconds.first().sum()
    seeds = sorted(df.seed.unique().tolist())
    chosen = sorted(df.settings.unique().tolist())
    settings = "package defaults" if chosen == ["{}"] else ", ".join(f"`{c}`" for c in chosen)
    write_markdown(summarize(df), seeds, settings, fit_seconds, command, out / "pace.md")


if __name__ == "__main__":
    main()

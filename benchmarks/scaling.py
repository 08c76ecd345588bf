"""Wall time and peak memory against the number of cells: wf_sc and the optimal-transport tools.

Every (method, cells per time) pair runs in a fresh Python process on the same synthetic time
course (a linear gradient flow, ``--times`` snapshots of ``n`` cells each in ``--dim`` dimensions):

- ``wf_sc``: ``wf.tl.fit`` with the package defaults (or ``--effort``), per-cell outputs included;
- ``ot_exact``: POT's exact plan (``ot.emd``) between each pair of consecutive snapshots;
- ``sinkhorn``: POT's entropic plan (``ot.sinkhorn``, ``reg`` 0.05 of the median cost) for each pair;
- ``otcfm``: the benchmark's OT-CFM (:class:`wf_sc.benchmark.otcfm.OTCFM`) trained on all snapshots;
- ``moscot``: moscot's ``TemporalProblem`` (``prepare`` + ``solve``) over consecutive times, when
  moscot is installed (otherwise the row says so).

Times exclude imports and loading the data; peak RSS includes them (POT imports torch when it is
installed, about 0.4 GB). A run is stopped past ``--time-limit`` seconds or ``--memory-limit`` GB of resident memory (polled
every 0.2 s), and a method that is stopped is not tried at larger sizes. Peak RSS is the child's own
(``os.wait4``). The machine's load average is recorded: above the CPU count, times are upper bounds.

Examples
--------
::

    python benchmarks/scaling.py --cells 1000 10000 100000 1000000 --dim 30
    python benchmarks/scaling.py --cells 300 1000 --dim 5 --times 3 --quick   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

METHODS = ("wf_sc", "ot_exact", "sinkhorn", "otcfm", "moscot")
HERE = Path(__file__).resolve().parent


def make_data(n: int, dim: int, n_times: int, seed: int = 0):
    """``(X, t)``: ``n_times`` snapshots of ``n`` cells of a linear gradient flow in ``dim`` dimensions."""
    import numpy as np

    import wf_sc as wf

    flow = wf.datasets.GradientFlow(dim=dim, random_state=seed)
    times = np.linspace(0.0, 2.0, n_times)
    adata = flow.sample(times=tuple(times), n_cells=n, random_state=seed)
    return np.asarray(adata.X, dtype=np.float32), adata.obs["time"].to_numpy(dtype=float)


def run_child(method: str, data: str, quick: bool, effort: str, threads: int | str = 1) -> dict:
    """One measurement, inside the fresh process, on the snapshots saved in ``data`` (.npz)."""
    import numpy as np

    with np.load(data) as f:
        X, t = f["X"], f["t"]
    times = np.unique(t)
    pairs = [(X[t == a].astype(np.float64), X[t == b].astype(np.float64)) for a, b in zip(times[:-1], times[1:])]
    if method == "wf_sc":
        import anndata as ad

        import wf_sc as wf

        adata = ad.AnnData(X=X)
        adata.obs["time"] = t
        budgets = dict(stage1_max_steps_first=60, stage1_max_steps=30, stage2_steps=3) if quick else {}
        config = wf.tl.Config(n_threads=threads, **budgets)
        start = time.perf_counter()
        wf.tl.fit(adata, "time", use_rep="X", progress=False, effort=effort, config=config)
        seconds = time.perf_counter() - start
        h = adata.uns["weightflow"]["history"]
        return {"seconds": seconds, "stage1_seconds": float(h["stage1"]["seconds"]),
                "stage2_seconds": float(h["stage2"]["seconds"]),
                "stage1_steps": " ".join(str(int(s)) for s in h["stage1"]["steps"])}
    elif method in ("ot_exact", "sinkhorn"):
        import ot

        start = time.perf_counter()
        for a, b in pairs:
            M = ot.dist(a, b)
            w = np.full(len(a), 1 / len(a))
            if method == "ot_exact":
                ot.emd(w, w, M, numItermax=10_000_000)
            else:
                ot.sinkhorn(w, w, M / np.median(M), reg=0.05)
    elif method == "otcfm":
        from wf_sc.benchmark.otcfm import OTCFM

        kwargs = dict(steps=20, ode_steps=5) if quick else {}
        start = time.perf_counter()
        OTCFM(random_state=0, device="cpu", **kwargs).fit([X[t == s] for s in times], times)
    elif method == "moscot":
        import anndata as ad
        from moscot.problems.time import TemporalProblem

        adata = ad.AnnData(X=X)
        adata.obs["time"] = t
        adata.obsm["X_rep"] = X
        start = time.perf_counter()
        TemporalProblem(adata).prepare(time_key="time", joint_attr="X_rep").solve()
    else:
        raise ValueError(f"unknown method {method!r}")
    return {"seconds": time.perf_counter() - start}


def _rss_gb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def measure(method: str, n: int, args) -> dict:
    """Run one measurement in a fresh process under the time and memory limits."""
    import numpy as np

    from wf_sc.benchmark.performance import threads_env
    from wf_sc.benchmark.report import code_version

    data = Path(tempfile.gettempdir()) / f"wf_scaling_{n}_{args.dim}_{args.times}.npz"
    if not data.exists():
        X, t = make_data(n, args.dim, args.times)
        np.savez(data, X=X, t=t)
    threads = args.wf_threads if method == "wf_sc" else 1
    # "auto" (the package default): one thread for training, every core for large per-cell queries
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, str(data), str(int(args.quick)), args.effort,
           str(threads)]
    env = {**threads_env(threads), "PYTHONWARNINGS": "ignore"}
    if method == "moscot" and args.moscot_path:  # moscot installed apart (pip install --target), for its run only
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), args.moscot_path]))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True, env=env)
        start, status = time.perf_counter(), "ok"
        while True:
            pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > args.time_limit:
                status = f"stopped: over {args.time_limit:g} s"
            elif _rss_gb(proc.pid) > args.memory_limit:
                status = f"stopped: over {args.memory_limit:g} GB"
            if status != "ok":
                proc.send_signal(signal.SIGKILL)
                _, code, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.2)
        proc.returncode = code  # reaped here, so Popen must not wait for it again
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    row = {"method": method, "cells_per_time": n, "cells": n * args.times, "dim": args.dim, "times": args.times,
           "wall_seconds": time.perf_counter() - start, "peak_rss_mb": usage.ru_maxrss / 1024,
           "load_before": load_before, "load_after": os.getloadavg()[0], "status": status, "seconds": float("nan"),
           # wf_sc only: its two training stages (the rest of "seconds" is data and the per-cell outputs)
           "stage1_seconds": float("nan"), "stage2_seconds": float("nan"), "stage1_steps": "", "threads": threads,
           "code": code_version()}
    if status == "ok" and code == 0:
        row.update(json.loads(out.strip().splitlines()[-1]))
    elif status == "ok":
        last = (err.strip().splitlines() or ["?"])[-1]
        row["status"] = "not installed" if "No module named 'moscot'" in err else f"failed: {last[:120]}"
    row["status"] = _short(row["status"])
    return row


def _short(status: str) -> str:
    """A numpy allocation failure reads as what it is: the method ran out of memory."""
    if "MemoryError" in status and "allocate" in status:
        need = status.split("allocate", 1)[1].split("for", 1)[0].strip()
        return f"stopped: out of memory (asked for {need})"
    return status


def plot(rows: list[dict], png: Path) -> None:
    """Fit time and peak memory against cells per time point, log-log, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, method in enumerate(METHODS):
        mine = [r for r in rows if r["method"] == method and r["status"] == "ok"]
        if not mine:
            continue
        x = [r["cells_per_time"] for r in mine]
        axes[0].plot(x, [r["seconds"] for r in mine], "o-", color=f"C{i}", label=method)
        axes[1].plot(x, [r["peak_rss_mb"] / 1024 for r in mine], "o-", color=f"C{i}", label=method)
        for r in (r for r in rows if r["method"] == method and r["status"].startswith("stopped")):
            x_cross = r["cells_per_time"] * 1.08**i  # methods stopped alike would hide each other's cross
            if r["status"].endswith(" s"):  # over the time limit: a cross on the time panel
                axes[0].plot(x_cross, r["wall_seconds"], "x", color=f"C{i}", ms=9, mew=2)
            else:  # out of memory: a cross on the memory panel, at what it asked for when known
                asked = r["status"].split("asked for ")[-1].rstrip(")").split()
                gb = float(asked[0]) if len(asked) == 2 and asked[1] == "GiB" else r["peak_rss_mb"] / 1024
                axes[1].plot(x_cross, gb, "x", color=f"C{i}", ms=9, mew=2)
    for ax, label in zip(axes, ("time (s)", "peak RSS (GB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("cells per time point")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize="small")
    axes[0].set_title("x: stopped at the time limit", fontsize=9)
    axes[1].set_title("x: out of memory (at the memory it asked for)", fontsize=9)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)


def to_markdown(rows: list[dict], command: str, rebuilt: bool = False) -> str:
    """The table (included by ``docs/performance.md``), with the command and the machine."""
    when = "table rebuilt from the CSV" if rebuilt else "run finished"
    lines = ["```", command, "```", "",
             f"- {when}: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; {platform.platform()}, "
             f"{os.cpu_count()} CPUs, one torch/OMP thread per run",
             "",
             "| method | cells per time | cells | dims | times | time (s) | peak RSS (MB) | load | status |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        over_time = r["status"].startswith("stopped") and r["status"].endswith(" s")
        secs = f"{r['seconds']:.1f}" if r["status"] == "ok" else f"> {r['wall_seconds']:.0f}" if over_time else ""
        lines.append(f"| {r['method']} | {r['cells_per_time']} | {r['cells']} | {r['dim']} | {r['times']} | {secs} | "
                     f"{r['peak_rss_mb']:.0f} | {r['load_before']:.1f} / {r['load_after']:.1f} | {r['status']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        method, data, quick, effort, threads = argv[1:6]
        # parsed here, not by threads_arg: a peer's child must not import the package
        print(json.dumps(run_child(method, data, bool(int(quick)), effort, threads if threads == "auto" else int(threads))))
        return 0
    from wf_sc.benchmark.performance import threads_arg

    p = argparse.ArgumentParser(prog="python benchmarks/scaling.py", description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", type=int, default=[1000, 10_000, 100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=30)
    p.add_argument("--times", type=int, default=6)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--effort", default="default", choices=["fast", "default", "thorough"])
    p.add_argument("--wf-threads", type=threads_arg, default=1,
                   help="Config.n_threads of the wf_sc fit: a number (default 1, as the other methods) or 'auto' (the package default)")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds per run")
    p.add_argument("--memory-limit", type=float, default=8.0, help="GB of resident memory per run")
    p.add_argument("--quick", action="store_true", help="tiny training budgets (a smoke run)")
    p.add_argument("--moscot-path", default=None, help="a folder holding moscot (pip install --target), for its run")
    p.add_argument("--from-csv", action="store_true", help="rebuild the table and figure from --csv, run nothing")
    p.add_argument("--csv", default=str(HERE / "results" / "scaling.csv"))
    p.add_argument("--out", default=str(HERE / "results" / "scaling.md"))
    p.add_argument("--png", default=str(HERE.parent / "docs" / "_static" / "scaling.png"))
    args = p.parse_args(argv)
    import pandas as pd

    if args.from_csv:
        rows = [{**r, "status": _short(str(r["status"]))} for r in pd.read_csv(args.csv).to_dict("records")]
        plot(rows, Path(args.png))
        Path(args.out).write_text(to_markdown(rows, "python benchmarks/scaling.py " + " ".join(argv), rebuilt=True))
        print(f"wrote {args.out} and {args.png} from {args.csv}")
        return 0
    rows, stopped = [], set()
    for n in sorted(args.cells):
        for method in args.methods:
            if method in stopped:
                continue
            row = measure(method, n, args)
            rows.append(row)
            print(f"{method} n={n}: {row['status']}, {row['seconds']:.1f} s, {row['peak_rss_mb']:.0f} MB", flush=True)
            if row["status"] != "ok":
                stopped.add(method)
            Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(args.csv, index=False)  # written as it goes
    plot(rows, Path(args.png))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_markdown(rows, "python benchmarks/scaling.py " + " ".join(argv)))
    print(f"wrote {args.csv}, {args.out} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m wf_sc.benchmark``: run the leave-one-timepoint-out suite and write the report.

Examples
--------
The headline (all datasets, 10 seeds; 16 held-out times x 10 seeds = 160 WeightFlow and 160 OT-CFM
fits: several hours on a 2-core CPU; ``--resume`` continues an interrupted run)::

    python -m wf_sc.benchmark --data-dir ../shared/data --seeds 0 1 2 3 4 5 6 7 8 9 --resume

WeightFlow variants beside it (``--methods`` replaces the default list)::

    python -m wf_sc.benchmark --methods weightflow wf_sample wf_nested wf_ode --out docs/ablations.md --resume

Your own WeightFlow settings against the same baselines (here: the free trajectory and a weaker
action; the report records them)::

    python -m wf_sc.benchmark --datasets emt3 --set bridge=false 'loss_weights={"ot_action": 0.05}' --out mine.md

Smoke run for CI (one small simulation, one seed, tiny budgets; well under a minute)::

    python -m wf_sc.benchmark --quick --out /tmp/bench.md

The report (markdown) records the exact command, date, machine, seeds and settings, with one
table per dataset; the tidy table of every run is written beside it with the suffix ``.csv``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import DATASETS, METHODS, OTCFM_FULL, QUICK, command_line, parse_settings, report, run_suite, summarize, to_markdown
from .methods import KNOWN


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wf_sc.benchmark",
        description="Leave-one-timepoint-out benchmark of WeightFlow against baselines (DESIGN §5).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny budgets for CI smoke runs (default datasets: gradient_flow; default seeds: 0)",
    )
    p.add_argument(
        "--datasets",
        nargs="+",
        choices=list(DATASETS),
        default=None,
        metavar="NAME",
        help=f"datasets to run (default: all; --quick: gradient_flow); known: {', '.join(DATASETS)}",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds (default: 0 1 2; --quick: 0)")
    p.add_argument(
        "--out",
        default=None,
        help="markdown report; the CSV goes beside it (default: docs/benchmarks.md; "
        "--quick: wf_sc_benchmarks_quick.md in the temporary directory)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding (or to receive) the real data files; sets WF_SC_DATA_DIR (default: its current value, "
        "else ~/.cache/wf_sc)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:i] (default: auto)")
    p.add_argument("--max-cells", type=int, default=1000, help="cells per side of each metric (default: 1000)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads during the run (default: torch's choice; --quick: 1, which is faster for "
        "tiny models and robust on a busy machine)",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"methods to run (default: {' '.join(METHODS)}); known: {', '.join(KNOWN)}",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows of the CSV beside --out (written after every dataset and seed) and run only what is "
        "missing from it",
    )
    p.add_argument(
        "--fit-cache",
        default=None,
        metavar="DIR",
        help="save every WeightFlow fit in DIR and reuse the fits found there (prediction variants and nested "
        "choices run later then refit nothing)",
    )
    p.add_argument(
        "--csv",
        default=None,
        help="the tidy table to write, resume from or report (default: beside --out, with the suffix .csv)",
    )
    p.add_argument("--title", default="Leave-one-timepoint-out benchmark", help="the report's title")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild the report from the rows of the CSV beside --out (those of --datasets, "
        "--seeds and --methods)",
    )
    p.add_argument(
        "--rerun",
        nargs="+",
        default=[],
        metavar="NAME",
        help="with --resume: run these methods again even if the CSV has them (e.g. weightflow after a change)",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="WeightFlow settings other than the package defaults, for weightflow and every ablation; VALUE is "
        "JSON where it parses (--set bridge=false 'loss_weights={\"ot_action\": 0.05}' conv=gat)",
    )
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log each fit to stderr")
    return p


#: the columns that name one row of the tidy table
ROW_KEY: tuple[str, ...] = ("dataset", "held_out", "method", "seed", "metric")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; write the markdown report and the CSV; print the tables. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        wf_logger = logging.getLogger("wf_sc")
        wf_logger.addHandler(handler)
        wf_logger.setLevel(logging.INFO)
    if args.data_dir is not None:
        os.environ["WF_SC_DATA_DIR"] = str(Path(args.data_dir).expanduser())
    seeds = args.seeds if args.seeds else ([0] if args.quick else [0, 1, 2])
    if args.out is not None:
        out = Path(args.out)
    elif args.quick:
        out = Path(tempfile.gettempdir()) / "wf_sc_benchmarks_quick.md"
    else:
        out = Path("docs") / "benchmarks.md"
    csv = Path(args.csv) if args.csv else out.with_suffix(".csv")

    try:
        settings = parse_settings(args.set)
    except ValueError as err:
        print(f"wf_sc.benchmark: {err}", file=sys.stderr)
        return 2

    methods = list(args.methods) if args.methods else list(METHODS)
    unknown = [m for m in [*methods, *args.rerun] if m not in KNOWN]
    if unknown:
        print(f"wf_sc.benchmark: unknown methods {unknown}; known are {list(KNOWN)}", file=sys.stderr)
        return 2
    if args.rerun and not args.resume:
        print("wf_sc.benchmark: --rerun works with --resume (it replaces rows of the CSV)", file=sys.stderr)
        return 2

    import torch

    from ..tl._settings import torch_threads

    threads = args.threads if args.threads is not None else (1 if args.quick else None)
    if threads is not None and threads < 1:
        print("wf_sc.benchmark: --threads must be >= 1", file=sys.stderr)
        return 2
    if args.report_only:
        return _report_only(args, argv, csv, out, seeds, methods, settings)
    done, order = None, None
    if args.resume and csv.exists():
        import pandas as pd

        done = pd.read_csv(csv, keep_default_na=False, na_values=[""], float_precision="round_trip")
        # where each row stood in the file, so a rerun writes its rows back in place (small diffs)
        order = {key: i for i, key in enumerate(zip(*(done[c] for c in ROW_KEY)))}
        names = args.datasets or (["gradient_flow"] if args.quick else list(DATASETS))
        # --rerun replaces only the rows of this run's datasets and seeds
        again = done["method"].isin(args.rerun) & done["dataset"].isin(names) & done["seed"].isin(seeds)
        done = done[~again]
    start = time.perf_counter()
    threads_used = threads if threads is not None else torch.get_num_threads()

    def save(table) -> None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        if order:  # rows of the file first, in its order; new rows after, in the run's
            place = [order.get(key, len(order) + i) for i, key in enumerate(zip(*(table[c] for c in ROW_KEY)))]
            table = table.iloc[np.argsort(place, kind="stable")]
        table.to_csv(csv, index=False)

    try:
        with torch_threads(threads):  # in-process callers (tests) get their setting back
            df = run_suite(
                args.datasets,
                seeds=seeds,
                quick=args.quick,
                device=args.device,
                max_cells=args.max_cells,
                progress=args.progress,
                methods=methods,
                settings=settings,
                done=done,
                on_rows=save,
                fit_cache=args.fit_cache,
            )
    except (ValueError, KeyError) as err:
        print(f"wf_sc.benchmark: {err}", file=sys.stderr)
        return 2
    finally:
        seconds = time.perf_counter() - start

    text = report(
        df,
        command=command_line(argv),
        seeds=seeds,
        quick=args.quick,
        device=args.device,
        max_cells=args.max_cells,
        seconds=seconds,
        threads=threads_used,
        csv_name=os.path.relpath(csv, out.parent),
        resumed=done is not None and len(done) > 0,
        wf_settings={**(QUICK["weightflow"] if args.quick else {}), **settings},
        cfm_settings=QUICK["otcfm"] if args.quick else OTCFM_FULL,
        title=args.title,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if done is None:
        save(df)
    print(to_markdown(summarize(df)), end="")
    print(f"\nwrote {out} and {csv} ({seconds:.1f} s)")
    return 0


def _report_only(args, argv, csv: Path, out: Path, seeds, methods, settings) -> int:
    """``--report-only``: the report of the CSV's rows, nothing run."""
    import pandas as pd

    from .protocol import FLOOR

    if not csv.exists():
        print(f"wf_sc.benchmark: --report-only needs the CSV {csv}", file=sys.stderr)
        return 2
    df = pd.read_csv(csv, keep_default_na=False, na_values=[""], float_precision="round_trip")
    names = args.datasets or list(dict.fromkeys(df["dataset"]))
    # without --seeds / --methods: every seed and every method the CSV has
    seeds = args.seeds if args.seeds else sorted(set(df["seed"]))
    if not args.methods:
        methods = [m for m in KNOWN if m in set(df["method"])]
    df = df[df["dataset"].isin(names) & df["seed"].isin(seeds) & df["method"].isin([FLOOR, *methods])]
    order = {m: i for i, m in enumerate((FLOOR, *methods))}
    df = df.sort_values(["method"], key=lambda c: c.map(order), kind="stable", ignore_index=True)
    text = report(
        df,
        command=command_line(argv),
        seeds=sorted(set(df["seed"])),
        quick=args.quick,
        device=args.device,
        max_cells=args.max_cells,
        seconds=None,
        csv_name=os.path.relpath(csv, out.parent),
        wf_settings={**(QUICK["weightflow"] if args.quick else {}), **settings},
        cfm_settings=QUICK["otcfm"] if args.quick else OTCFM_FULL,
        title=args.title,
        threads=args.threads,  # of the runs, as the caller states it; not recorded in the CSV
    )
    out.write_text(text)
    print(to_markdown(summarize(df)), end="")
    print(f"\nwrote {out} from {csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

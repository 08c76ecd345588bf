"""Command line: ``wf-sc fit [input.h5ad] --time-key time -o out.h5ad``.

With no input file, ``wf-sc fit`` runs on the built-in toggle-switch simulation (no download), so
a fresh install can be checked end to end offline.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from pathlib import Path

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wf-sc", description="WeightFlow for single-cell time courses")
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit WeightFlow to a time course (.h5ad) and write the results")
    f.add_argument("input", nargs="?", help="input .h5ad; omitted: the built-in toggle-switch example")
    f.add_argument("--time-key", default="time", help="obs column with each cell's time (default: time)")
    f.add_argument("--use-rep", default=None, help="obsm key or X (default: X_pca; X for the example)")
    f.add_argument("-o", "--output", default=None, help="output .h5ad (default: <input>_wf.h5ad / wf_example.h5ad)")
    f.add_argument("--key-added", default="weightflow", help="uns namespace (default: weightflow)")
    f.add_argument("--device", default="auto", help="auto, cpu or cuda[:i] (default: auto)")
    f.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    f.add_argument("--effort", default="default", choices=["fast", "default", "thorough"],
                   help="training length (default: default, the benchmarked budget)")
    f.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an expert setting of wf.tl.Config (repeatable), e.g. --set hidden=64")
    f.add_argument("--save-model", default=None, help="also save the model (torch, weights only) here")
    f.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log messages")
    return p


#: the Python spelling of a setting in a message -> its command-line option
_OPTIONS = {"time_key": "--time-key", "use_rep": "--use-rep", "key_added": "--key-added", "random_state": "--seed",
            "device": "--device", "effort": "--effort"}


def _for_the_shell(message: str) -> str:
    """A package message with settings spelled as this command's options (``time_key=...`` -> ``--time-key ...``)."""
    for name, option in _OPTIONS.items():
        message = re.sub(rf"\b{name}=", f"{option} ", message)
        if "_" in name:  # a bare Python name; plain words such as "device" stay
            message = re.sub(rf"\b{name}\b(?!\])", option, message)
    return message


def _fit(args) -> int:
    import anndata as ad

    import wf_sc as wf
    from wf_sc.tl._config import parse_settings

    if args.input is None:
        adata = wf.datasets.toggle_switch()
        use_rep = args.use_rep or "X"
        output = Path(args.output or "wf_example.h5ad")
        source = "built-in toggle-switch simulation"
    else:
        path = Path(args.input)
        if not path.exists():
            print(f"wf-sc: input file {path} does not exist", file=sys.stderr)
            return 2
        try:
            adata = ad.read_h5ad(path)
        except Exception as err:  # h5py/anndata raise various types for foreign files
            print(f"wf-sc: cannot read {path} as .h5ad ({type(err).__name__}: {err})", file=sys.stderr)
            return 2
        use_rep = args.use_rep or "X_pca"
        output = Path(args.output or path.with_name(path.stem + "_wf.h5ad"))
        source = str(path)
    if output.is_dir():
        print(f"wf-sc: output {output} is a folder; give a file name, e.g. -o {output / 'fitted.h5ad'}", file=sys.stderr)
        return 2
    if not output.parent.is_dir():
        print(f"wf-sc: output folder {output.parent} does not exist; create it or choose -o", file=sys.stderr)
        return 2
    if use_rep != "X" and use_rep not in adata.obsm:
        print(
            f"wf-sc: representation {use_rep!r} not found in the input's obsm (available: {list(adata.obsm)}); "
            "pass --use-rep <key>, or --use-rep X to model adata.X directly, or add PCA first (scanpy: sc.pp.pca).",
            file=sys.stderr,
        )
        return 2
    start = time.perf_counter()
    try:
        config = wf.tl.Config.from_dict(parse_settings(args.set))
        wf.tl.fit(
            adata,
            args.time_key,
            use_rep=use_rep,
            key_added=args.key_added,
            device=args.device,
            random_state=args.seed,
            effort=args.effort,
            config=config,
            progress=not args.quiet,
        )
    except (KeyError, ValueError, TypeError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"wf-sc: {_for_the_shell(str(msg))}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    adata.write_h5ad(output)
    if args.save_model:
        wf.tl.WeightFlow.from_adata(adata, args.key_added).save(args.save_model)
    rec = adata.uns[args.key_added]
    vkey, dkey = rec["keys"]["velocity"], rec["keys"]["log_density"]
    print(f"data:        {source}: {adata.n_obs} cells, {adata.obsm[vkey].shape[1]} dims ({use_rep})")
    print(f"times:       {np.round(rec['times'], 4).tolist()}")
    print(f"fit:         {seconds:.1f} s")
    print(f"NLL/cell:    {np.round(rec['nll']['validation'], 3).tolist()} (validation, per time, in {use_rep} units)")
    print(f"speed:       median |drift| {np.median(np.linalg.norm(adata.obsm[vkey], axis=1)):.3g} per time unit")
    print(f"written:     {output} (uns['{args.key_added}'], obsm['{vkey}'], obs['{dkey}'])")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not getattr(args, "quiet", False):
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.command == "fit":
        return _fit(args)
    return 2  # pragma: no cover - argparse enforces the subcommand


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

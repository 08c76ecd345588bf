"""Regenerate the plot gallery of ``docs/plots.md`` (the PNGs in ``docs/_static``).

Usage (the real data are read from ``WF_SC_DATA_DIR`` or downloaded)::

    python docs/gallery.py [--out docs/_static]

Fits WeightFlow with the package defaults (seed 0) to EMT 3-D (trajectory, drift,
weights, history) and to the dendritic cells in 10 principal components (gene marginals), then
saves one PNG per ``wf.pl`` call. About 5 minutes on one CPU core.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import scanpy as sc  # noqa: E402

import wf_sc as wf  # noqa: E402

log = logging.getLogger("gallery")


def _save(fig, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    log.info("wrote %s", path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "_static"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    emt = wf.datasets.emt(dims=3)
    wf.pp.prepare(emt, "time", use_rep="X")
    wf.tl.fit(emt, "time", use_rep="X", random_state=0, progress=False)
    sc.pp.pca(emt, n_comps=2, random_state=0)
    sc.pp.neighbors(emt, n_neighbors=15, use_rep="X", random_state=0)
    sc.tl.umap(emt, random_state=0)
    _save(wf.pl.trajectory(emt, basis="pca", show=False, return_fig=True), out, "pl_trajectory")
    _save(wf.pl.trajectory(emt, basis="umap", show=False, return_fig=True), out, "pl_trajectory_umap")
    _save(wf.pl.drift(emt, basis="pca", show=False, return_fig=True), out, "pl_drift")
    _save(wf.pl.weights(emt, show=False, return_fig=True), out, "pl_weights")
    _save(wf.pl.history(emt, show=False, return_fig=True), out, "pl_history")

    dc = wf.datasets.dendritic_cells()
    sc.pp.pca(dc, n_comps=10, random_state=0)
    wf.pp.prepare(dc, "time")
    wf.tl.fit(dc, "time", random_state=0, progress=False)
    fig = wf.pl.marginals(dc, dims=["EGR1", "CCL4", "IFITM3"], ridge=True, show=False, return_fig=True)
    _save(fig, out, "pl_marginals")


if __name__ == "__main__":
    main()

"""Loaders for real single-cell time courses (derived embeddings / expression of public studies).

Each loader downloads its files once into :func:`~wf_sc.datasets.data_dir` (verified by SHA-256
before parsing) and returns an :class:`~anndata.AnnData` with

- ``.X``: the embedding or expression (float32): fit with ``use_rep="X"``;
- ``obs['time']``: numeric time (float), ``obs['time_label']``: ordered categorical;
- ``uns['dataset']``: ``name``, ``url``, ``citation``, ``license`` and a ``description``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from ._fetch import REGISTRY, fetch

logger = logging.getLogger(__name__)

_EMT_CITATION = (
    "Cook & Vanderhyden, Nat Commun 11:2142 (2020); "
    "Sha, Qiu, Zhou & Nie, Nat Mach Intell 6:25-39 (2024) (TIGON)"
)


def _anndata(
    X: np.ndarray,
    labels: Sequence[str],
    label_times: dict[str, float],
    var_names: Sequence[str],
    obs_names: Sequence[str],
    dataset: dict[str, str],
) -> ad.AnnData:
    """AnnData with float32 ``X``, ``obs['time']`` and ordered ``obs['time_label']``."""
    order = sorted(label_times, key=label_times.get)
    obs = pd.DataFrame(
        {
            "time": np.array([label_times[lab] for lab in labels], dtype=float),
            "time_label": pd.Categorical(labels, categories=order, ordered=True),
        },
        index=pd.Index([str(name) for name in obs_names]),
    )
    adata = ad.AnnData(
        X=np.ascontiguousarray(X, dtype=np.float32),
        obs=obs,
        var=pd.DataFrame(index=pd.Index([str(v) for v in var_names])),
    )
    adata.uns["dataset"] = dataset
    logger.debug("Loaded %s: %d cells x %d dims", dataset["name"], *adata.shape)
    return adata


def _load_pickled_snapshots(relpath: str) -> list[np.ndarray]:
    """Blocks of a TIGON ``.npy`` (object array of shape (1, T)); hash verified before loading."""
    path = fetch(relpath)  # verifies SHA-256: only then is the pickle trusted
    arr = np.load(path, allow_pickle=True)
    return [np.asarray(block, dtype=float) for block in arr[0]]


def _stack(
    blocks: list[np.ndarray], labels: Sequence[str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """Concatenate per-time blocks; per-cell labels and names ``<label>_<i>``."""
    cell_labels = [lab for lab, b in zip(labels, blocks) for _ in range(len(b))]
    names = [f"{lab}_{i}" for lab, b in zip(labels, blocks) for i in range(len(b))]
    return np.concatenate(blocks), cell_labels, names


def _emt_info(name: str, relpath: str, description: str) -> dict[str, str]:
    citation = _EMT_CITATION
    if relpath.startswith("deepruot"):
        citation += "; Zhang, Li & Zhou, ICLR 2025, arXiv:2410.00844 (DeepRUOT)"
    return {
        "name": name,
        "url": REGISTRY[relpath][0],
        "citation": citation,
        "license": "MIT",
        "description": "A549 EMT time course (TGF-beta1); " + description,
    }


def emt(dims: int = 10) -> ad.AnnData:
    """A549 cells under TGF-beta1: epithelial-mesenchymal transition (Cook & Vanderhyden 2020).

    Parameters
    ----------
    dims
        ``10``: the DeepRUOT 10-D autoencoder latent (min-max scaled), 4 times: ``0d``, ``8h``,
        ``1d`` and ``3d+7d`` merged (577/885/788/883 cells); ``obs['time']`` is the index 0..3
        as in the published benchmarks. ``obs_names`` are the cell barcodes and
        ``obs['sample_label']`` keeps ``3d`` and ``7d`` apart (rows match TIGON's
        ``AE_EMT_time.csv`` one to one). ``3``: the TIGON 3-D embedding, 5 times in days
        ``0, 1/3, 1, 3, 7`` (577/885/788/754/129 cells).

    Returns
    -------
    AnnData (see the module notes); fit with ``use_rep="X"``.
    """
    if dims == 10:
        table = pd.read_csv(fetch("deepruot/emt.csv"))
        barcodes = pd.read_csv(fetch("tigon/AE_EMT_time.csv"), index_col=0)["x"]
        merged = {"0d": 0, "8h": 1, "1d": 2, "3d": 3, "7d": 3}
        if not np.array_equal(barcodes.map(merged).to_numpy(), table["samples"].to_numpy()):
            raise RuntimeError("EMT files disagree on the time of each row; please report this.")
        names = ["0d", "8h", "1d", "3d+7d"]
        adata = _anndata(
            table[[f"x{i}" for i in range(1, 11)]].to_numpy(),
            [names[k] for k in table["samples"]],
            {lab: float(k) for k, lab in enumerate(names)},
            [f"x{i}" for i in range(1, 11)],
            barcodes.index,
            _emt_info("emt10", "deepruot/emt.csv", "10-D autoencoder latent; time index 0..3."),
        )
        adata.obs["sample_label"] = pd.Categorical(
            barcodes.to_numpy(), categories=list(merged), ordered=True
        )
        return adata
    if dims == 3:
        labels = ["0d", "8h", "1d", "3d", "7d"]
        days = dict(zip(labels, [0.0, 1 / 3, 1.0, 3.0, 7.0]))
        X, cell_labels, names = _stack(_load_pickled_snapshots("tigon/EMT.npy"), labels)
        info = _emt_info("emt3", "tigon/EMT.npy", "3-D embedding; time in days.")
        return _anndata(X, cell_labels, days, ["x1", "x2", "x3"], names, info)
    raise ValueError(f"dims must be 10 (DeepRUOT latent) or 3 (TIGON embedding), got {dims!r}.")


def hematopoiesis() -> ad.AnnData:
    """Mouse hematopoiesis with lineage tracing (Weinreb et al. 2020), TIGON's 2-D embedding.

    Days 2, 4 and 6 (1429/3781/5788 cells); ``obs['time']`` is the day.

    Returns
    -------
    AnnData (see the module notes); fit with ``use_rep="X"``.
    """
    labels = ["2d", "4d", "6d"]
    X, cell_labels, names = _stack(_load_pickled_snapshots("tigon/Lineage.npy"), labels)
    info = {
        "name": "hematopoiesis",
        "url": REGISTRY["tigon/Lineage.npy"][0],
        "citation": "Weinreb, Rodriguez-Fraticelli, Camargo & Klein, Science 367:eaaw3381 "
        "(2020); Sha, Qiu, Zhou & Nie, Nat Mach Intell 6:25-39 (2024) (TIGON)",
        "license": "MIT",
        "description": "Lineage-traced mouse hematopoiesis, 2-D embedding; time in days.",
    }
    return _anndata(X, cell_labels, {"2d": 2.0, "4d": 4.0, "6d": 6.0}, ["x1", "x2"], names, info)


def dendritic_cells() -> ad.AnnData:
    """Mouse dendritic cells after LPS stimulation (Shalek et al. 2014), BEELINE-processed.

    383 cells x 821 genes (log-scale normalized expression; gene symbols upper-case as in
    BEELINE) at 1, 2, 4 and 6 hours; ``obs['time']`` is in hours.

    Returns
    -------
    AnnData (see the module notes); ``.X`` is expression: reduce it (e.g. PCA) or fit with
    ``use_rep="X"``.
    """
    relpath = "beeline_mdc/BL--ExpressionData.csv"
    table = pd.read_csv(fetch(relpath), index_col=0)
    hours = table.columns.str.extract(r"^LPS_(\d+)h_", expand=False)
    if hours.isna().any():
        bad = list(table.columns[hours.isna()])
        raise RuntimeError(f"Unexpected cell names in {relpath}: {bad}.")
    labels = [f"{h}h" for h in hours]
    info = {
        "name": "dendritic_cells",
        "url": REGISTRY[relpath][0],
        "citation": "Shalek et al., Nature 510:363-369 (2014); "
        "Pratapa et al., Nat Methods 17:147-154 (2020) (BEELINE)",
        "license": "MIT (GENELink)",
        "description": "Mouse dendritic cells after LPS, 821 genes (TFs + 500 variable genes); "
        "time in hours.",
    }
    label_times = {f"{h}h": float(h) for h in sorted(set(hours.astype(int)))}
    return _anndata(table.to_numpy().T, labels, label_times, table.index, table.columns, info)


def reprogramming() -> ad.AnnData:
    """Early mouse fibroblast reprogramming subset (Schiebinger et al. 2019), Waddington-OT tests.

    Day 0 (4060 cells) and day 2 (5619 cells); ``.X`` is the 20-D diffusion map ``DC1..DC20``,
    ``obs['growth_score']`` the per-cell growth score. Two time points only: use it for growth
    and two-snapshot checks.

    Returns
    -------
    AnnData (see the module notes); fit with ``use_rep="X"``.
    """
    days = pd.read_csv(fetch("wot_tests/days.csv.gz"), index_col="id")
    dmap = pd.read_csv(fetch("wot_tests/diffusion_map.csv.gz"), index_col="id")
    growth = pd.read_csv(fetch("wot_tests/growth_scores.csv.gz"), index_col="id")
    table = days.join(dmap, how="inner").join(growth, how="inner")
    if len(table) != len(days):
        raise RuntimeError("Reprogramming files do not share the same cell ids; please report it.")
    day_values = sorted(set(table["day"].astype(float)))
    label_times = {f"{d:g}d": d for d in day_values}
    labels = [f"{d:g}d" for d in table["day"].astype(float)]
    info = {
        "name": "reprogramming",
        "url": REGISTRY["wot_tests/days.csv.gz"][0].rsplit("/", 1)[0] + "/",
        "citation": "Schiebinger et al., Cell 176:928-943 (2019) (Waddington-OT)",
        "license": "BSD-3-Clause",
        "description": "Fibroblast reprogramming, days 0 and 2; 20-D diffusion map; time in days.",
    }
    X = table[dmap.columns].to_numpy()
    adata = _anndata(X, labels, label_times, dmap.columns, table.index, info)
    adata.obs["growth_score"] = table["growth_score"].to_numpy(dtype=float)
    return adata

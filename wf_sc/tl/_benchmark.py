"""``wf.tl.leave_one_out``: the benchmark's nested leave-one-timepoint-out on a user's own time course."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from .. import _keys
from .._bridge import MIN_CELLS, check_time_points, encode_time, get_representation
from ._config import Config, Effort

#: what :func:`leave_one_out` runs by default: the default call and the baselines of the benchmark
DEFAULT_METHODS: tuple[str, ...] = ("weightflow", "previous", "next", "mixture", "ot", "ot_meet", "mm_cubic", "otcfm")


def leave_one_out(
    adata: AnnData,
    time_key: str = "time",
    *,
    use_rep: str = _keys.USE_REP,
    methods: Sequence[str] = DEFAULT_METHODS,
    metrics: Sequence[str] = ("w1", "w2", "mmd"),
    seeds: Sequence[int] = (0, 1, 2),
    held_out: float | Sequence[float] | None = None,
    max_cells: int = 1000,
    effort: Effort = "default",
    config: Config | None = None,
    device: str = "auto",
    otcfm_kwargs: Mapping[str, Any] | None = None,
    reference: Callable[..., np.ndarray] | None = None,
    dataset: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Hold out each interior time point, predict it from the others, and score the prediction.

    The protocol of ``docs/benchmarks.md`` (:mod:`wf_sc.benchmark.protocol`) on your own data: each
    held-out time's real cells are split into two halves; every method predicts as many cells as
    one half from the other times only and is scored against the other half; ``floor`` scores
    the first half itself (what sampling noise alone costs). Methods with settings to choose do so
    by an inner leave-one-out over the training times only.

    Parameters
    ----------
    adata
        Time course with ``obs[time_key]`` and the representation ``use_rep``; read only.
    time_key
        Column of ``adata.obs`` with each cell's time.
    use_rep
        Representation every method works in: a key of ``adata.obsm`` or ``"X"``.
    methods
        Methods to run: ``weightflow`` (``wf.tl.fit`` + ``wf.tl.interpolate`` with their defaults),
        its variants and the baselines (:mod:`wf_sc.benchmark.methods` lists them all). The
        default includes ``ot_meet``, the default prediction with a flow that moves nothing from the
        same draws: ``weightflow`` minus ``ot_meet`` is what the learned flow adds on your data.
    metrics
        A subset of ``("w1", "w2", "mmd")``.
    seeds
        One run per seed (fits, draws and held-out halves).
    held_out
        Interior time point(s) to hold out; ``None``: every interior time.
    max_cells
        Most cells on each side of a metric (exact OT costs grow with its square).
    effort
        Training length of every WeightFlow fit, as in :func:`wf_sc.tl.fit`.
    config
        WeightFlow settings for experts (:class:`~wf_sc.tl.Config`); every variant starts from it.
    device
        Device of the WeightFlow fits, as in :func:`wf_sc.tl.fit`.
    otcfm_kwargs
        Settings of the OT-CFM baseline (:class:`wf_sc.benchmark.otcfm.OTCFM`).
    reference
        For simulated data: ``reference(t, n, random_state=...)`` returns ``n`` fresh cells of the
        true population at ``t``, scored against instead of the second half of the real cells.
    dataset
        Name in the ``dataset`` column; default ``adata.uns['dataset']['name']`` if present, else ``"adata"``.
    progress
        A progress bar over (seed, held-out time).

    Returns
    -------
    A tidy :class:`pandas.DataFrame`, one row per (held-out time, method, seed, metric), with
    columns ``dataset``, ``held_out``, ``method``, ``seed``, ``metric``, ``value``, ``fit_seconds``
    and ``setting`` (the setting a nested method chose, as JSON). Nothing is written to ``adata``.
    Summarize with :func:`wf_sc.benchmark.summarize` and :func:`wf_sc.benchmark.paired`.
    """
    from ..benchmark.methods import build
    from ..benchmark.protocol import TimeCourse
    from ..benchmark.protocol import leave_one_out as run

    if dataset is None:
        info = adata.uns.get("dataset", {})
        dataset = str(info.get("name", "adata")) if isinstance(info, Mapping) else "adata"
    t, _ = encode_time(adata, time_key)
    X = get_representation(adata, use_rep).astype(np.float64)
    check_time_points(t, time_key, MIN_CELLS)
    methods = [methods] if isinstance(methods, str) else list(methods)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    seeds = [int(s) for s in np.atleast_1d(seeds)]
    if not seeds:
        raise ValueError("no seeds given")
    config = Config() if config is None else config
    if not isinstance(config, Config):
        raise TypeError(f"config must be a wf.tl.Config, got {type(config).__name__}")
    settings = {**config.changed(), "effort": effort, "device": device}
    return run(
        TimeCourse(X, t),
        build(list(methods), weightflow_kwargs=settings, otcfm_kwargs=otcfm_kwargs),
        metrics=list(metrics),
        seeds=seeds,
        held_out=held_out,
        max_cells=max_cells,
        reference=reference,
        dataset=dataset,
        progress=progress,
    )

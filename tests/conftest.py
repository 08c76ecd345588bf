"""Shared fixtures: a tiny time course and training settings small enough for a 2-core CPU."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from wf_sc.tl import Config

#: model and training settings for smoke fits (about a second on 2 CPU cores at 40 cells x 3 times)
TINY_CONFIG = Config(stage1_max_steps_first=100, stage1_max_steps=50, stage2_steps=5, hidden=8, width=16)
TINY_FIT = dict(config=TINY_CONFIG, progress=False, device="cpu")


def make_tiny_adata(
    n_per_time: int = 40,
    times: Sequence[float] = (0.0, 1.0, 2.0),
    *,
    dim: int = 2,
    time_key: str = "time",
    seed: int = 0,
) -> ad.AnnData:
    """``len(times) * n_per_time`` cells in ``dim`` dimensions (in ``.X``), drifting with time.

    The population at time ``t`` is Gaussian around ``(t, t/2, 0, ...)``; ``obs[time_key]`` holds
    the float time and ``obs['batch']`` an unrelated column.
    """
    rng = np.random.default_rng(seed)
    centre = np.zeros(dim)
    blocks = []
    for t in times:
        centre[0], centre[min(1, dim - 1)] = t, t / 2 if dim > 1 else t
        blocks.append(rng.normal(loc=centre, scale=0.5, size=(n_per_time, dim)))
    X = np.concatenate(blocks).astype(np.float32)
    n = len(X)
    obs = pd.DataFrame(
        {time_key: np.repeat(np.asarray(times, dtype=float), n_per_time), "batch": np.tile(["a", "b"], n // 2 + 1)[:n]},
        index=[f"cell{i}" for i in range(n)],
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(dim)])
    return ad.AnnData(X=X, obs=obs, var=var)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Every test on one torch thread: tiny models run fastest so, and do not slow to a crawl when
    the CPU is shared (the setting is restored at the end of the session)."""
    from wf_sc.tl._settings import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture
def tiny_adata() -> ad.AnnData:
    """40 cells at each of the times 0, 1, 2 in 2-D (``.X``), times in ``obs['time']``."""
    return make_tiny_adata()


@pytest.fixture(scope="session")
def tiny_adata_factory() -> Callable[..., ad.AnnData]:
    """:func:`make_tiny_adata`, for tests that need other sizes, times or a different time column."""
    return make_tiny_adata


@pytest.fixture
def tiny_fit_kwargs() -> dict:
    """A fresh copy of :data:`TINY_FIT` to pass to ``wf.tl.fit`` / ``WeightFlow``."""
    return dict(TINY_FIT)

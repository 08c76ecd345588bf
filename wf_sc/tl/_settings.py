"""Run-time settings of a fit or query: device, CPU threads, seeds and cell counts, checked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; refuses unknown or unavailable devices."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:<index>'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use device='cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:<index>'")
    return dev


#: under ``n_threads="auto"``, the fewest cells from which a per-cell query runs on torch's own
#: thread setting (all cores) instead of one thread: below about 10^4 cells a second thread buys
#: nothing (docs/performance.md, the per-cell outputs against cells and threads)
AUTO_THREADS_CELLS = 10_000


def resolve_threads(n: int | str | None, n_cells: int | None = None) -> int | None:
    """The torch CPU threads for work on ``n_cells`` cells (``None``: training): ``n`` itself, or
    for ``"auto"`` one thread, except per-cell work on at least :data:`AUTO_THREADS_CELLS` cells,
    which keeps torch's setting (``None``)."""
    if n != "auto":
        return n
    return None if n_cells is not None and n_cells >= AUTO_THREADS_CELLS else 1


@contextmanager
def torch_threads(n: int | str | None, n_cells: int | None = None) -> Iterator[None]:
    """Run the block on the threads :func:`resolve_threads` gives and restore the previous setting
    (``None``: leave it)."""
    n = resolve_threads(n, n_cells)
    if n is None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def seed(random_state) -> int:
    """A seed from an integer, or a fresh one for ``None`` (the scanpy idiom)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise TypeError(f"random_state must be an integer or None, got {random_state!r}")
    if not 0 <= int(random_state) < 2**63:
        raise ValueError(f"random_state must be a non-negative integer, got {random_state}")
    return int(random_state)


def check_count(n, name: str) -> int:
    """A positive whole number of cells, or a clear error."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be a positive integer (a number of cells), got {n!r}")
    return int(n)

"""The tutorials (``tutorials/*.ipynb``) run end to end, so they cannot go stale.

Each notebook is executed with ``fast = True`` injected after its ``parameters`` cell (as papermill
would), in a fresh kernel working in a temporary folder, with the real-data cache pointed at the
shared data folder beside the repository. The outputs stored in the repository come from
``fast = False``; they are never overwritten here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
SHARED_DATA = ROOT.parent / "shared" / "data"
NOTEBOOKS = sorted(p.stem for p in TUTORIALS.glob("*.ipynb"))


def inject_parameters(nb: nbformat.NotebookNode, **params) -> nbformat.NotebookNode:
    """Insert a cell setting ``params`` right after the cell tagged ``parameters``."""
    index = next(
        (i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None
    )
    assert index is not None, "the notebook has no cell tagged 'parameters'"
    source = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    cell["id"] = "injected-parameters"
    nb.cells.insert(index + 1, cell)
    return nb


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_tutorial_runs(name, tmp_path, monkeypatch):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not found (real-data files are not shipped)")
    path = TUTORIALS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # the stored outputs must come from the real settings
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            assert "fast = False" in cell.source, f"{name}: store the notebook with fast = False"
    inject_parameters(nb, fast=True)
    # the kernel inherits this environment: the package from this checkout, the shared data cache,
    # this interpreter's "python" first on PATH, no GUI backend
    monkeypatch.setenv("WF_SC_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        nbformat.write(nb, tmp_path / f"{name}.ipynb")  # executed copy, for inspection
    print(f"{name}: executed with fast=True in {time.perf_counter() - start:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors

"""The documentation builds with warnings as errors, and its API page covers every public name."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: modules whose ``__all__`` must be documented on docs/api.md
PUBLIC_MODULES = ["wf_sc", "wf_sc.pp", "wf_sc.tl", "wf_sc.pl", "wf_sc.datasets", "wf_sc.benchmark"]


def _resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def documented_objects() -> list:
    """Objects listed in the autosummary blocks of docs/api.md."""
    text = (DOCS / "api.md").read_text()
    names = re.findall(r"^\s+(wf_sc(?:\.\w+)+)\s*$", text, flags=re.M)
    assert names, "no autosummary entries found in docs/api.md"
    return [_resolve(n) for n in names]


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_api_page_lists_every_public_name(module):
    documented = documented_objects()
    mod = importlib.import_module(module)
    missing = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if name.startswith("__") or type(obj).__name__ == "module":
            continue  # __version__, subpackages
        if not any(obj is d for d in documented):
            missing.append(f"{module}.{name}")
    assert not missing, f"public names missing from docs/api.md: {missing}"


def test_docs_build_without_warnings(tmp_path):
    """``sphinx-build -W --keep-going`` (stored notebook outputs, no execution) into a temporary folder."""
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout[-5000:]}\n{result.stderr[-10000:]}"
    html = tmp_path / "html"
    for page in ["index", "installation", "api", "method", "tutorials", "plots", "benchmarks", "ablations", "reliability", "drift", "performance"]:
        assert (html / f"{page}.html").is_file(), page
    gallery = (html / "plots.html").read_text()
    assert gallery.count("<img") >= 6, "the plot gallery lost its figures"
    for nb in ["quickstart_emt", "dendritic_genes", "benchmark"]:
        page = (html / "tutorials" / f"{nb}.html").read_text()
        assert "<img" in page, f"tutorial {nb} rendered without its stored figures"

"""Sphinx configuration of the wf_sc documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (from the repository root).
The tutorials are the notebooks in ``tutorials/`` with their stored outputs; they are copied into
``docs/tutorials/`` at build time (that copy is ignored by git) and rendered without execution.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document the source tree, installed or not

import wf_sc  # noqa: E402,F401  (fail early when the package cannot be imported)

# -- tutorials: copy the stored notebooks next to the sources --------------------------------------
_dest = HERE / "tutorials"
_dest.mkdir(exist_ok=True)
for _src in sorted((ROOT / "tutorials").glob("*.ipynb")):
    _out = _dest / _src.name
    if not _out.exists() or _out.read_bytes() != _src.read_bytes():
        shutil.copyfile(_src, _out)

# -- project ---------------------------------------------------------------------------------------
project = "wf_sc"
author = "wf_sc developers"
copyright = f"{date.today().year}, {author}"
# the version the package declares (also when documenting a source tree that is not installed)
release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
version = ".".join(release.split(".")[:2])

# -- extensions ------------------------------------------------------------------------------------
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# myst / myst-nb: render the outputs stored in the notebooks, never execute (fast, deterministic)
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"wf_sc {release}"
html_static_path: list[str] = []

"""Package structure: the scanpy-style conventions of DESIGN §4 and STYLE.md, checked for every public function.

Parametrized over the functions in ``__all__`` of ``wf_sc.tl``, ``wf_sc.pp`` and ``wf_sc.pl`` so that a
failure names the function. Known violations are marked ``xfail(strict=True)`` in ``KNOWN_DEFECTS``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import wf_sc as wf

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = ("wf_sc.tl", "wf_sc.pp", "wf_sc.pl")

#: (check, function) -> why it currently fails; strict xfail so a fix is noticed
KNOWN_DEFECTS: dict[tuple[str, str], str] = {}




def _public_functions() -> list[tuple[str, object]]:
    out = []
    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name, None)
            if inspect.isfunction(obj):
                out.append((f"{modname}.{name}", obj))
    return out


FUNCTIONS = _public_functions()


def _params(check: str) -> list:
    """The public functions as pytest params, with the known defects of ``check`` marked xfail."""
    params = []
    for qualname, func in FUNCTIONS:
        reason = KNOWN_DEFECTS.get((check, qualname))
        marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)] if reason else []
        params.append(pytest.param(func, id=qualname, marks=marks))
    return params


def _sections(doc: str | None) -> dict[str, list[str]]:
    """numpydoc sections of a docstring: ``{'Parameters': [lines], 'Returns': [lines], ...}``."""
    lines = inspect.cleandoc(doc or "").splitlines()
    sections: dict[str, list[str]] = {"": []}
    current = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and not line.startswith(" ") and len(underline) >= 3 and set(underline) == {"-"}:
            current = line.strip()
            sections[current] = []
            i += 2
            continue
        sections[current].append(line)
        i += 1
    return sections


def _documented_params(doc: str | None) -> list[str]:
    """Names in the Parameters section (``name``, ``name : type``, ``a, b`` and ``**kwargs`` forms)."""
    names = []
    for line in _sections(doc).get("Parameters", []):
        if line.strip() and not line.startswith((" ", "\t")):
            head = line.split(" : ")[0]
            names.extend(n.strip() for n in head.split(",") if n.strip())
    return names


def _writes_results(func) -> bool:
    """scanpy's convention: a function that can work on a copy writes its results into ``adata``."""
    return "copy" in inspect.signature(func).parameters


# --------------------------------------------------------------------------- the function list itself


def test_the_public_functions_are_found():
    """Guard against a parametrization that silently collects nothing."""
    names = {q for q, _ in FUNCTIONS}
    assert {"wf_sc.tl.fit", "wf_sc.tl.interpolate", "wf_sc.pp.prepare"} <= names, names


@pytest.mark.parametrize("modname", ["wf_sc", "wf_sc.tl", "wf_sc.pp", "wf_sc.pl", "wf_sc.datasets"])
def test_every_all_name_resolves(modname):
    mod = importlib.import_module(modname)
    assert hasattr(mod, "__all__"), f"{modname} has no __all__"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{modname}.__all__ names that do not exist: {missing}"
    assert len(set(mod.__all__)) == len(mod.__all__), f"duplicates in {modname}.__all__"


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("func", _params("adata_first"))
def test_first_parameter_is_adata(func):
    params = list(inspect.signature(func).parameters.values())
    assert params, f"{func.__qualname__} takes no parameters"
    assert params[0].name == "adata", f"first parameter is {params[0].name!r}, not 'adata'"
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


@pytest.mark.parametrize("func", _params("positional"))
def test_at_most_three_positional_parameters(func):
    params = inspect.signature(func).parameters.values()
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var_positional = [p.name for p in params if p.kind is p.VAR_POSITIONAL]
    assert len(positional) <= 3, f"positional parameters {positional}; make all but three keyword-only"
    assert not var_positional, f"*{var_positional[0]} makes options positional; use keyword-only parameters"


@pytest.mark.parametrize("func", _params("annotations"))
def test_every_parameter_and_the_return_are_annotated(func):
    sig = inspect.signature(func)
    missing = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
    assert not missing, f"parameters without annotation: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, "no return annotation"


@pytest.mark.parametrize("func", _params("copy"))
def test_copy_defaults_to_false_and_returns_anndata_or_none(func):
    sig = inspect.signature(func)
    if "copy" not in sig.parameters:
        pytest.skip("no copy parameter")
    copy = sig.parameters["copy"]
    assert copy.default is False, f"copy defaults to {copy.default!r}"
    assert copy.kind is inspect.Parameter.KEYWORD_ONLY, "copy must be keyword-only"
    ret = sig.return_annotation
    text = ret if isinstance(ret, str) else inspect.formatannotation(ret)
    assert "AnnData | None" in text.replace("anndata._core.anndata.", ""), f"return annotation {text!r}"


@pytest.mark.parametrize("func", _params("key_added"))
def test_functions_that_write_results_have_key_added(func):
    if not _writes_results(func):
        pytest.skip("does not write into adata (no copy parameter)")
    params = inspect.signature(func).parameters
    # scVelo's convention for what is derived from a velocity: outputs named after ``vkey``
    name = "key_added" if "key_added" in params or "vkey" not in params else "vkey"
    assert name in params, "writes results into adata but has no key_added parameter"
    assert params[name].kind is inspect.Parameter.KEYWORD_ONLY


# --------------------------------------------------------------------------- docstrings


@pytest.mark.parametrize("func", _params("docstring"))
def test_docstring_documents_every_parameter_and_the_return(func):
    doc = func.__doc__
    assert doc and doc.strip(), "no docstring"
    sections = _sections(doc)
    assert "Parameters" in sections, f"no numpydoc 'Parameters' section; sections: {list(sections)}"
    assert "Returns" in sections, f"no numpydoc 'Returns' section; sections: {list(sections)}"
    assert any(line.strip() for line in sections["Returns"]), "empty Returns section"
    documented = _documented_params(doc)
    expected = []
    for p in inspect.signature(func).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            expected.append(f"**{p.name}" if f"**{p.name}" in documented else p.name)
        elif p.kind is p.VAR_POSITIONAL:
            expected.append(f"*{p.name}")
        else:
            expected.append(p.name)
    undocumented = [n for n in expected if n not in documented]
    stale = [n for n in documented if n not in expected]
    assert not undocumented, f"parameters missing from the docstring: {undocumented}"
    assert not stale, f"docstring documents parameters the function does not have: {stale}"
    assert documented == expected, f"docstring order {documented} differs from signature order {expected}"


def test_docstring_parser_finds_what_it_should():
    """The helper must not pass vacuously: it reads names, ``**kwargs`` and the Returns section."""
    doc = """Summary.

    Parameters
    ----------
    adata
        Data.
    a, b : int
        Two.
    **kwargs
        More.

    Returns
    -------
    Nothing.
    """
    assert _documented_params(doc) == ["adata", "a", "b", "**kwargs"]
    assert [line.strip() for line in _sections(doc)["Returns"] if line.strip()] == ["Nothing."]
    assert _documented_params("Summary only.") == []


def _run_prepare(adata, fit_kwargs):
    wf.pp.prepare(adata, "time")  # 5 genes, no X_pca: computes PCA


def _run_fit(adata, fit_kwargs):
    wf.tl.fit(adata, "time", use_rep="X", **fit_kwargs)


def _fit_and_cluster(adata, fit_kwargs):
    _run_fit(adata, fit_kwargs)
    adata.obs["cluster"] = pd.Categorical(np.where(np.asarray(adata.X)[:, 0] > 0, "a", "b"))


def _run_trajectories(adata, fit_kwargs):
    wf.tl.trajectories(adata, groupby="cluster")


WRITERS = {"wf_sc.pp.prepare": _run_prepare, "wf_sc.tl.fit": _run_fit, "wf_sc.tl.trajectories": _run_trajectories}
#: what a writer needs done first (not counted as its writes)
BEFORE = {"wf_sc.tl.trajectories": _fit_and_cluster}


@pytest.mark.parametrize("qualname", sorted(WRITERS))
def test_returns_section_lists_every_field_written(qualname, tiny_adata_factory, tiny_fit_kwargs):
    """STYLE: every tl/pp docstring's Returns lists each field it writes (``adata.obsm['...']``)."""
    func = dict(FUNCTIONS)[qualname]
    adata = tiny_adata_factory(dim=5 if qualname == "wf_sc.pp.prepare" else 2)
    if qualname in BEFORE:
        BEFORE[qualname](adata, tiny_fit_kwargs)
    before = {attr: set(getattr(adata, attr).keys()) for attr in ("obs", "obsm", "varm", "uns", "layers", "obsp")}
    WRITERS[qualname](adata, tiny_fit_kwargs)
    returns = "\n".join(_sections(func.__doc__)["Returns"])
    written = [
        (attr, key) for attr, keys in before.items() for key in getattr(adata, attr).keys() if key not in keys
    ]
    assert written, f"{qualname} wrote nothing"
    for attr, key in written:
        default_namespace = (
            attr == "uns" and "key_added" in inspect.signature(func).parameters and "uns[key_added]" in returns
        )
        assert f"adata.{attr}['{key}']" in returns or default_namespace, (
            f"{qualname} writes adata.{attr}[{key!r}] but its Returns section does not list it"
        )
        if attr == "uns" and default_namespace:
            for sub in adata.uns[key]:
                assert sub in returns, f"{qualname} writes uns[{key!r}][{sub!r}], not listed in Returns"


# --------------------------------------------------------------------------- import hygiene


def test_import_prints_nothing():
    """``import wf_sc`` writes nothing to stdout or stderr (no banners, warnings or handlers firing)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import wf_sc"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"} | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", f"import wf_sc printed to stdout: {proc.stdout!r}"
    assert proc.stderr == "", f"import wf_sc printed to stderr: {proc.stderr!r}"


def test_logger_is_silent_by_default():
    log = logging.getLogger("wf_sc")
    assert log is wf.logger
    assert any(isinstance(h, logging.NullHandler) for h in log.handlers), log.handlers
    # no handler that would print on its own
    assert not [h for h in log.handlers if not isinstance(h, logging.NullHandler)], log.handlers


def _imports_in(folder: Path) -> list[tuple[str, int, str, int]]:
    """(file, line, imported module, relative level) for every import statement in ``folder``'s .py files."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):  # also imports inside functions
            if isinstance(node, ast.Import):
                found += [(path.name, node.lineno, alias.name, 0) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((path.name, node.lineno, node.module or "", node.level))
    return found


def _violations(imports: list[tuple[str, int, str, int]]) -> list[tuple[str, int, str, int]]:
    """Imports of anndata/scanpy, or of wf_sc outside ``_core`` (which pulls in the AnnData layer)."""
    bad = []
    for item in imports:
        _, _, module, level = item
        top = module.split(".")[0]
        if level == 0 and top in {"anndata", "scanpy"}:
            bad.append(item)
        elif level == 0 and top == "wf_sc" and not module.startswith("wf_sc._core"):
            bad.append(item)
        elif level >= 2 and not module.startswith("_logging"):  # ``from ..tl import ...``
            bad.append(item)
    return bad


def test_core_never_imports_anndata_or_scanpy():
    """``wf_sc/_core`` is pure torch/numpy/POT: no AnnData-facing import, directly or via the package."""
    imports = _imports_in(ROOT / "wf_sc" / "_core")
    assert len(imports) > 10, "the scan found too few imports to be meaningful"
    assert not _violations(imports), f"_core imports the AnnData side: {_violations(imports)}"


def test_core_import_scan_detects_violations(tmp_path):
    """The scanner itself must catch nested and indirect imports (so the test above can fail)."""
    (tmp_path / "mod.py").write_text(
        "import torch\n"
        "from . import backbone\n"
        "def f():\n"
        "    import anndata as ad\n"
        "    from scanpy import pp\n"
        "    from ..tl import fit\n"
        "    import wf_sc.tl\n"
    )
    bad = {module for _, _, module, _ in _violations(_imports_in(tmp_path))}
    assert bad == {"anndata", "scanpy", "tl", "wf_sc.tl"}, bad


def test_fixed_choices_are_typed_literal():
    """Options with a fixed set of values carry it in the signature (scanpy's ``Literal`` habit)."""
    import typing

    from wf_sc.tl._fit import PREDICTIONS

    hints = typing.get_type_hints(wf.tl.interpolate)
    assert typing.get_origin(hints["prediction"]) is typing.Literal
    assert typing.get_args(hints["prediction"]) == PREDICTIONS
    assert inspect.signature(wf.tl.interpolate).parameters["prediction"].default == PREDICTIONS[0] == "meet"


def test_core_never_imports_the_benchmark():
    """The model core knows nothing of the suite that scores it."""
    imports = _imports_in(ROOT / "wf_sc" / "_core")
    bad = [item for item in imports if "benchmark" in item[2]]
    assert not bad, bad

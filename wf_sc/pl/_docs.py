"""Parameter text shared by the plotting functions, written once (scanpy's ``_docs`` habit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

#: ``show``, ``return_fig`` and ``save`` of every plot; ``{name}`` is the plot's file stem
FIGURE_PARAMS = """\
    show
        Show the figure (default: scanpy's ``settings.autoshow`` when scanpy is loaded, else True).
    return_fig
        Return the figure instead of the axes.
    save
        ``True`` or a suffix: save into scanpy's ``settings.figdir`` as
        ``wf_{name}{{suffix}}.{{settings.file_format_figs}}``; a path with a figure extension
        (``.png``, ``.pdf``, ``.svg``, ...): save there."""


def figure_doc(name: str) -> Callable[[F], F]:
    """Put :data:`FIGURE_PARAMS` for the plot ``name`` where the docstring says ``{figure_params}``."""

    def decorate(func: F) -> F:
        func.__doc__ = func.__doc__.replace("    {figure_params}", FIGURE_PARAMS.format(name=name))
        return func

    return decorate

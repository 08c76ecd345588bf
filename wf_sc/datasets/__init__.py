"""Datasets: simulators with known ground truth and loaders for real time courses.

Simulators (:class:`GradientFlow`, :class:`ToggleSwitch`, :class:`BirthDeath` and their one-call shortcuts) give
unlimited snapshots with true populations at any time; loaders (:func:`emt`,
:func:`hematopoiesis`, :func:`dendritic_cells`, :func:`reprogramming`) download the original
files once into :func:`data_dir` and verify their SHA-256 before parsing.
"""

from ._fetch import data_dir
from ._real import dendritic_cells, emt, hematopoiesis, reprogramming
from ._birth_death import BirthDeath, birth_death
from ._simulate import GradientFlow, gradient_flow
from ._toggle import ToggleSwitch, toggle_switch

__all__ = [
    "BirthDeath",
    "birth_death",
    "GradientFlow",
    "ToggleSwitch",
    "data_dir",
    "dendritic_cells",
    "emt",
    "gradient_flow",
    "hematopoiesis",
    "reprogramming",
    "toggle_switch",
]

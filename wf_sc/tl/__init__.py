"""Tools: fit WeightFlow to a time course and query it."""

from ._fit import fit, interpolate
from ._model import WeightFlow

__all__ = ["WeightFlow", "fit", "interpolate"]

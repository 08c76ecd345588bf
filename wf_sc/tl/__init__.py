"""Tools: fit WeightFlow to a time course and query it."""

from ._config import Config
from ._fit import fit, interpolate
from ._growth import growth
from ._model import WeightFlow
from ._trajectories import trajectories
from ._velocity_embedding import velocity_embedding

__all__ = ["Config", "WeightFlow", "fit", "growth", "interpolate", "leave_one_out", "trajectories", "velocity_embedding"]
from ._benchmark import leave_one_out  # noqa: E402

"""wf_sc: WeightFlow for single-cell time courses (scverse plugin).

``import wf_sc as wf``; then ``wf.pp.prepare``, ``wf.tl.fit``, ``wf.tl.interpolate``,
``wf.tl.WeightFlow``, ``wf.datasets``.
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, pl, pp, tl
from ._logging import logger

try:
    __version__ = version("wf_sc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["datasets", "logger", "pl", "pp", "tl", "__version__"]

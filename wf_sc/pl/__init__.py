"""Plotting: read-only views of a fit (``import wf_sc as wf; wf.pl.trajectory(adata)``).

Every function takes ``adata`` first and keyword-only options, follows scanpy's ``ax`` /
``show`` / ``return_fig`` / ``save`` habits, and only reads the AnnData: nothing is trained,
cached or written. matplotlib is imported when a plot is drawn, not on ``import wf_sc``.
"""

from ._embedding import drift, trajectory
from ._marginals import marginals
from ._training import history, weights

__all__ = ["drift", "history", "marginals", "trajectory", "weights"]

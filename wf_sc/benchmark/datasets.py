"""The benchmark's datasets (:data:`DATASETS`), all fitted in the space named by ``use_rep``:

========================  ==========================================================  ==========
name                      data                                                        held out
========================  ==========================================================  ==========
``emt10``                 EMT, DeepRUOT 10-D latent, time index 0..3 (``X``)          1, 2
``emt3``                  EMT, TIGON 3-D embedding, days 0, 1/3, 1, 3, 7 (``X``)      1/3, 1, 3
``hematopoiesis``         Weinreb hematopoiesis, 2-D, days 2, 4, 6 (``X``)            4
``dendritic``             mouse dendritic cells after LPS, 821 log-expression genes   2, 4 h
                          -> 10 principal components (``X_pca``), hours 1, 2, 4, 6
``dendritic30``           the same at 30 principal components                         2, 4 h
``gradient_flow``         :class:`~wf_sc.datasets.GradientFlow` 2-D, times 0..2       0.5, 1, 1.5
                          by 0.5, 500 cells each; scored against the true population
``toggle_switch``         :class:`~wf_sc.datasets.ToggleSwitch`, times 0..4,          1, 2, 3
                          500 cells each; scored against the true population
========================  ==========================================================  ==========

The dendritic cells' expression is already log-normalized (BEELINE): it is reduced with
:func:`scanpy.pp.pca` (10 components, ``random_state=0``, genes centred, not scaled) on all cells,
the held-out ones included, as in the published leave-one-out benchmarks; 10 rather than 20
components because each time point has only about 95 cells (``dendritic30``: the dimension users
fit, 30 components, for the same cells).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from anndata import AnnData

from .protocol import TimeCourse


@dataclass
class Dataset:
    """One benchmark dataset: how to load it and how to score on it."""

    name: str
    description: str
    load: Callable[[bool], AnnData]
    use_rep: str = "X"
    #: ``(quick) -> reference(t, n, random_state=...)`` for simulators (ground truth), else None
    reference: Callable[[bool], Callable[..., np.ndarray]] | None = None
    #: what ``quick`` changes, if anything (shown in quick reports)
    quick_note: str | None = None

    def time_course(self, quick: bool = False) -> TimeCourse:
        """The dataset as arrays: cells in ``use_rep`` (float64) and their times (``obs['time']``)."""
        from .._bridge import encode_time, get_representation

        adata = self.load(quick)
        t, _ = encode_time(adata, "time")
        return TimeCourse(get_representation(adata, self.use_rep).astype(np.float64), t)

    def ground_truth(self, quick: bool = False) -> Callable[..., np.ndarray] | None:
        """The simulator's ``reference(t, n, random_state=...)``, or None for real data."""
        return self.reference(quick) if self.reference is not None else None


def _emt10(quick: bool) -> AnnData:
    from ..datasets import emt

    return emt(dims=10)


def _emt3(quick: bool) -> AnnData:
    from ..datasets import emt

    return emt(dims=3)


def _hematopoiesis(quick: bool) -> AnnData:
    from ..datasets import hematopoiesis

    return hematopoiesis()


def _dendritic(n_comps: int) -> Callable[[bool], AnnData]:
    def load(quick: bool) -> AnnData:
        import scanpy as sc

        from ..datasets import dendritic_cells

        adata = dendritic_cells()
        sc.pp.pca(adata, n_comps=n_comps, random_state=0)
        return adata

    return load


def _gradient_flow_model():
    from ..datasets import GradientFlow

    return GradientFlow(dim=2, random_state=0)


def _gradient_flow(quick: bool) -> AnnData:
    times, n = ((0.0, 1.0, 2.0), 150) if quick else ((0.0, 0.5, 1.0, 1.5, 2.0), 500)
    return _gradient_flow_model().sample(times=times, n_cells=n, random_state=1)


def _toggle_switch(quick: bool) -> AnnData:
    from ..datasets import ToggleSwitch

    times, n = ((0.0, 2.0, 4.0), 150) if quick else ((0.0, 1.0, 2.0, 3.0, 4.0), 500)
    return ToggleSwitch().sample(times=times, n_cells=n, random_state=1)


def _toggle_reference(quick: bool) -> Callable[..., np.ndarray]:
    from ..datasets import ToggleSwitch

    return ToggleSwitch().population


#: the suite, in report order
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("emt10", "EMT (A549, TGF-β1), DeepRUOT 10-D latent; time index 0..3; `use_rep='X'`", _emt10),
        Dataset("emt3", "EMT (A549, TGF-β1), TIGON 3-D embedding; days 0, 1/3, 1, 3, 7; `use_rep='X'`", _emt3),
        Dataset(
            "hematopoiesis",
            "Weinreb hematopoiesis, TIGON 2-D embedding; days 2, 4, 6; `use_rep='X'`",
            _hematopoiesis,
        ),
        Dataset(
            "dendritic",
            "mouse dendritic cells after LPS (821 log-normalized genes -> 10 PCs); hours 1, 2, 4, 6; "
            "`use_rep='X_pca'`",
            _dendritic(10),
            use_rep="X_pca",
        ),
        Dataset(
            "dendritic30",
            "the same dendritic cells at 30 PCs, the dimension users fit; hours 1, 2, 4, 6; `use_rep='X_pca'`",
            _dendritic(30),
            use_rep="X_pca",
        ),
        Dataset(
            "gradient_flow",
            "simulated 2-D linear gradient flow, times 0, 0.5, 1, 1.5, 2, 500 cells each; "
            "scored against fresh draws of the true population",
            _gradient_flow,
            reference=lambda quick: _gradient_flow_model().population,
            quick_note="quick: times 0, 1, 2 only, 150 cells each",
        ),
        Dataset(
            "toggle_switch",
            "simulated bistable toggle switch, times 0..4, 500 cells each; "
            "scored against fresh draws of the true population",
            _toggle_switch,
            reference=_toggle_reference,
            quick_note="quick: times 0, 2, 4 only, 150 cells each",
        ),
    )
}

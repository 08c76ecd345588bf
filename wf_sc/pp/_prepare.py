"""``wf.pp.prepare``: validate a time course, encode its time column and make sure a representation exists."""

from __future__ import annotations

from anndata import AnnData

from .. import _keys
from .._bridge import MIN_CELLS, check_time_points, encode_time, get_representation, warn_counts
from .._logging import get_logger

log = get_logger(__name__)


def prepare(
    adata: AnnData,
    time_key: str,
    *,
    use_rep: str = _keys.USE_REP,
    n_comps: int = 30,
    min_cells: int = MIN_CELLS,
    key_added: str = _keys.TIME,
    copy: bool = False,
) -> AnnData | None:
    """Validate a time course and get it ready for :func:`wf_sc.tl.fit`.

    Checks the time column (numeric, numeric strings, or an ordered categorical), that there are
    at least two time points with ``min_cells`` cells each, and that the representation is
    finite. Computes PCA with :func:`scanpy.pp.pca` when ``use_rep="X_pca"`` is missing.

    Parameters
    ----------
    adata
        Annotated data matrix (cells x genes).
    time_key
        Column of ``adata.obs`` with each cell's collection time.
    use_rep
        Representation to fit on: a key of ``adata.obsm`` or ``"X"``.
    n_comps
        Number of principal components when PCA has to be computed.
    min_cells
        Fewest cells allowed at one time point.
    key_added
        Column of ``adata.obs`` receiving the numeric time.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None`` or a copy (``copy=True``), with

    ``adata.obs['wf_time']`` (or ``adata.obs[key_added]``)
        Numeric time of each cell (category positions for non-numeric ordered labels).
    ``adata.obsm['X_pca']``, ``adata.varm['PCs']``, ``adata.uns['pca']``
        Only when PCA was computed.
    """
    t, labels = encode_time(adata, time_key)
    check_time_points(t, time_key, min_cells)
    needs_pca = use_rep == _keys.USE_REP and use_rep not in adata.obsm
    get_representation(adata, "X" if needs_pca else use_rep)  # refuse NaN/inf before anything runs
    adata = adata.copy() if copy else adata
    if needs_pca:
        import scanpy as sc

        warn_counts(adata.X, "adata.X, about to be reduced by PCA")
        n = int(min(n_comps, adata.n_vars - 1, adata.n_obs - 1))
        log.info("computing PCA with %d components (scanpy)", n)
        sc.pp.pca(adata, n_comps=n)
    adata.obs[key_added] = t
    if labels is not None:
        log.info("time labels %s encoded as positions 0..%d", labels, len(labels) - 1)
    return adata if copy else None

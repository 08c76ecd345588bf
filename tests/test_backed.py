"""Representations that are not in-memory numpy arrays (a backed .h5ad, sparse, dask) are read in
chunks of rows and fit exactly as the in-memory AnnData does."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import wf_sc as wf
from wf_sc._bridge import read_rows

from conftest import TINY_FIT, make_tiny_adata


def test_read_rows_gives_the_same_array_whatever_the_container():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(103, 4)).astype(np.float32)
    np.testing.assert_array_equal(read_rows(X, chunk=10), X)
    S = sparse.random(103, 4, density=0.3, format="csr", random_state=1, dtype=np.float32)
    np.testing.assert_array_equal(read_rows(S, chunk=10), S.toarray())
    np.testing.assert_array_equal(read_rows(X.astype(np.float64), chunk=10), X.astype(np.float64))
    assert read_rows(X[:0], chunk=10).shape == (0, 4)


@pytest.mark.parametrize("layout", ["dense", "csr"])
def test_a_backed_h5ad_fits_like_the_in_memory_one(tmp_path, layout):
    adata = make_tiny_adata(dim=3)
    if layout == "csr":
        adata.X = sparse.csr_matrix(np.asarray(adata.X))
    path = tmp_path / "tiny.h5ad"
    adata.write_h5ad(path)
    memory = ad.read_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    assert not isinstance(backed.X, np.ndarray | sparse.spmatrix)  # really read from disk
    for a in (memory, backed):
        wf.tl.fit(a, "time", use_rep="X", random_state=2, **TINY_FIT)
    np.testing.assert_array_equal(backed.obsm["wf_velocity"], memory.obsm["wf_velocity"])
    np.testing.assert_array_equal(backed.obs["wf_log_density"], memory.obs["wf_log_density"])
    np.testing.assert_array_equal(
        backed.uns["weightflow"]["populations"]["X"], memory.uns["weightflow"]["populations"]["X"]
    )
    backed.file.close()


def test_a_dask_representation_fits_like_the_numpy_one():
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    adata = make_tiny_adata(dim=3)
    lazy = adata.copy()
    lazy.obsm["X_lazy"] = da.from_array(np.asarray(adata.X), chunks=(17, 3))
    adata.obsm["X_lazy"] = np.asarray(adata.X)
    for a in (adata, lazy):
        wf.tl.fit(a, "time", use_rep="X_lazy", random_state=2, **TINY_FIT)
    np.testing.assert_array_equal(lazy.obsm["wf_velocity"], adata.obsm["wf_velocity"])

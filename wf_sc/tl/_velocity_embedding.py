"""``wf.tl.velocity_embedding``: the drift projected to an embedding, under scVelo's keys.

The numerical helpers (:func:`linear_map`, :func:`knn`, :func:`project_transition`,
:func:`project_jacobian`) are pure numpy/scipy on arrays and can be reused by plotting code.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from anndata import AnnData
from scipy.spatial import cKDTree

from .. import _keys
from .._bridge import write_or_restore
from .._logging import get_logger

log = get_logger(__name__)

METHODS = ("auto", "linear", "transition", "jacobian")
#: relative residual below which a basis counts as an exact affine image of the representation
LINEAR_TOL = 1e-4
#: softmax temperature of the transition method (scVelo's default ``scale=10`` is ``1 / 0.1``)
TEMPERATURE = 0.1
#: ridge of the jacobian method, relative to the mean squared neighbour distance
RIDGE = 1e-3
_CHUNK = 4096


# --------------------------------------------------------------------------- numpy helpers


def linear_map(X: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares affine map ``E ≈ X A + b``: returns ``(A, relative residual)``.

    The relative residual is ``‖E − X A − b‖_F / ‖E − Ē‖_F``; it is ``inf`` when there are too
    few cells (``n ≤ 2 (d + 1)``) for a fit to say anything about linearity.
    """
    X = np.asarray(X, dtype=np.float64)
    E = np.asarray(E, dtype=np.float64)
    n, d = X.shape
    if n <= 2 * (d + 1):
        return np.full((d, E.shape[1]), np.nan), float("inf")
    mx, me = X.mean(0), E.mean(0)
    Xc, Ec = X - mx, E - me
    A, *_ = np.linalg.lstsq(Xc, Ec, rcond=None)
    scale = np.linalg.norm(Ec)
    resid = np.linalg.norm(Ec - Xc @ A) / scale if scale > 0 else float("inf")
    return A, float(resid)


def knn(X: np.ndarray, k: int) -> np.ndarray:
    """Indices (n, k) of the ``k`` nearest other cells of each cell (Euclidean, self excluded)."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    k = min(k, n - 1)
    _, idx = cKDTree(X).query(X, k=k + 1)
    idx = np.asarray(idx).reshape(n, k + 1)
    is_self = idx == np.arange(n)[:, None]
    # duplicates can push a cell out of its own first slot: then drop the farthest instead
    is_self[~is_self.any(1), -1] = True
    is_self[np.cumsum(is_self, 1) > 1] = False
    return idx[~is_self].reshape(n, k)


def _unit(a: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(a, axis=-1, keepdims=True)
    return np.divide(a, norm, out=np.zeros_like(a), where=norm > 0)


def project_transition(
    X: np.ndarray, V: np.ndarray, E: np.ndarray, neighbors: np.ndarray, *, temperature: float = TEMPERATURE
) -> np.ndarray:
    r"""Transition-probability projection of drifts ``V`` (n, d) at ``X`` (n, d) into ``E`` (n, m).

    For cell :math:`i` with neighbours :math:`N(i)` (``neighbors[i]``, :math:`k` of them):

    .. math::

        c_{ij} = \cos(x_j - x_i,\, v_i), \qquad
        p_{ij} = \frac{\exp(c_{ij}/\tau)}{\sum_{l \in N(i)} \exp(c_{il}/\tau)}, \qquad
        \tilde v_i = \sum_{j \in N(i)} \Big(p_{ij} - \frac1k\Big) \frac{e_j - e_i}{\lVert e_j - e_i\rVert}

    (:math:`\cos = 0` where a vector is zero). :math:`\tilde v_i` is the expected unit step in the
    embedding under the drift-aligned transition probabilities minus that under a uniform choice
    of neighbour: its direction is where the drift points, its length (at most 2) measures how
    consistently the neighbours lie in that direction, not a speed.
    """
    n, m = len(X), E.shape[1]
    out = np.zeros((n, m))
    for s in range(0, n, _CHUNK):
        sl = slice(s, min(s + _CHUNK, n))
        nb = neighbors[sl]
        dX = _unit(X[nb] - X[sl, None, :])
        c = np.einsum("ikd,id->ik", dX, _unit(V[sl]))
        logits = c / temperature
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dE = _unit(E[nb] - E[sl, None, :])
        out[sl] = np.einsum("ik,ikm->im", p - 1.0 / nb.shape[1], dE)
    return out


def project_jacobian(
    X: np.ndarray, V: np.ndarray, E: np.ndarray, neighbors: np.ndarray, *, ridge: float = RIDGE
) -> np.ndarray:
    r"""Local-Jacobian projection of drifts ``V`` (n, d) at ``X`` (n, d) into ``E`` (n, m).

    With :math:`\Delta X_i` (k, d) and :math:`\Delta E_i` (k, m) the displacements from cell
    :math:`i` to its neighbours ``neighbors[i]`` in the representation and in the embedding, the
    ridge regression :math:`J_i = \arg\min_J \lVert \Delta E_i - \Delta X_i J^\top\rVert^2 +
    \lambda_i \lVert J\rVert^2` estimates the Jacobian of the embedding map at :math:`x_i`, and the
    chain rule gives the velocity of the cell's embedding position:

    .. math::

        \tilde v_i = J_i v_i
        = \Delta E_i^\top \big(\Delta X_i \Delta X_i^\top + \lambda_i I_k\big)^{-1} \Delta X_i\, v_i,
        \qquad \lambda_i = \rho\, \tfrac1k \operatorname{tr}(\Delta X_i \Delta X_i^\top)

    (a k x k solve per cell). In embedding units per time unit; exact for an affine embedding map
    when the neighbours span the representation (up to the ridge :math:`\rho`), first-order
    accurate for a smooth one, and blind to drift components orthogonal to the neighbours' span.
    """
    n, m = len(X), E.shape[1]
    out = np.zeros((n, m))
    for s in range(0, n, _CHUNK):
        sl = slice(s, min(s + _CHUNK, n))
        nb = neighbors[sl]
        k = nb.shape[1]
        dX = X[nb] - X[sl, None, :]
        dE = E[nb] - E[sl, None, :]
        G = dX @ dX.transpose(0, 2, 1)
        lam = ridge * np.trace(G, axis1=1, axis2=2) / k
        lam = np.where(lam > 0, lam, 1.0)
        G[:, np.arange(k), np.arange(k)] += lam[:, None]
        w = np.linalg.solve(G, np.einsum("ikd,id->ik", dX, V[sl])[..., None])[..., 0]
        out[sl] = np.einsum("ik,ikm->im", w, dE)
    return out


# --------------------------------------------------------------------------- AnnData entry point


def project_drift(
    X: np.ndarray,
    V: np.ndarray,
    E: np.ndarray,
    *,
    method: str = "auto",
    n_neighbors: int = 30,
    identity: bool = False,
    names: tuple[str, str] = ("the basis", "the representation"),
) -> tuple[np.ndarray, str]:
    """The drift ``V`` of cells ``X`` (n, d) projected to their basis coordinates ``E`` (n, m), and
    the method used (see :func:`velocity_embedding` for the methods); ``identity``: ``E`` is ``X``;
    ``names`` of the basis and the representation, for messages."""
    used = method
    if identity and method in ("auto", "linear"):
        return V.copy(), "linear"
    if method in ("auto", "linear"):
        A, resid = linear_map(X, E)
        if resid < LINEAR_TOL:
            return V @ A, "linear"
        if method == "linear":
            raise ValueError(
                f"{names[0]} is not an affine image of {names[1]} (relative residual {resid:.3g}); "
                "use method='transition' or 'jacobian'."
            )
        used = "jacobian"
    if len(X) < 2:
        raise ValueError(f"method {used!r} needs at least 2 cells")
    nb = knn(X, int(n_neighbors))
    project = project_transition if used == "transition" else project_jacobian
    return project(X, V, E, nb), used


def velocity_embedding(
    adata: AnnData,
    basis: str = "umap",
    *,
    vkey: str | None = None,
    key: str = _keys.UNS,
    method: str = "auto",
    n_neighbors: int = 30,
    copy: bool = False,
) -> AnnData | None:
    r"""Project the WeightFlow drift to an embedding, where scVelo and CellRank look for it.

    The drift :math:`v_i` of each cell lives in the representation the model was fitted on
    (``use_rep``, e.g. ``X_pca``); this writes its image :math:`\tilde v_i` in
    ``adata.obsm['X_<basis>']`` (all columns of the basis) under scVelo's key names, so that
    ``scvelo.pl.velocity_embedding_stream(adata, vkey='wf_velocity', basis='umap')`` plots it
    without recomputing anything. CellRank needs no projection:
    ``VelocityKernel(adata, attr='obsm', xkey='X_pca', vkey='wf_velocity')`` reads the drift itself.

    Methods (``x_i``, ``e_i``: cell :math:`i` in the representation and in the basis):

    ``"linear"``
        The basis is an affine image of the representation, :math:`e = A^\top x + b` (the
        representation itself, its leading PCA components, any linear map of it): the drift is
        mapped exactly, :math:`\tilde v_i = A^\top v_i`, in basis units per time unit. :math:`A` is
        the least-squares fit of the basis on the representation; the basis counts as affine when
        the relative residual is below ``1e-4`` (otherwise ``"linear"`` raises).
    ``"transition"``
        scVelo-style: with :math:`N(i)` the ``n_neighbors`` nearest cells in the representation,
        :math:`c_{ij} = \cos(x_j - x_i, v_i)`, :math:`p_{ij} = \operatorname{softmax}_{j \in N(i)}
        (c_{ij} / 0.1)` and
        :math:`\tilde v_i = \sum_{j \in N(i)} (p_{ij} - 1/k)\,(e_j - e_i)/\lVert e_j - e_i\rVert`:
        the expected unit step in the basis under drift-aligned transitions minus the uniform
        baseline. Robust on non-smooth embeddings (UMAP, t-SNE); its length is a consistency
        score (at most 2), not a speed.
    ``"jacobian"``
        Local linear regression of the basis on the representation over the same neighbours,
        :math:`J_i = \Delta E_i^\top \Delta X_i (\Delta X_i^\top \Delta X_i + \lambda_i I)^{-1}`
        with a small ridge :math:`\lambda_i`, and the chain rule :math:`\tilde v_i = J_i v_i`: the
        velocity of the cell's position in the basis, in basis units per time unit. Exact for
        affine maps, first-order for smooth ones; noisy where the embedding tears neighbourhoods
        apart.
    ``"auto"``
        ``"linear"`` when the basis is an affine image of the representation, else
        ``"jacobian"``, which keeps the drift's units.

    Parameters
    ----------
    adata
        AnnData fitted by :func:`wf_sc.tl.fit`, with the basis in ``adata.obsm['X_<basis>']``.
    basis
        Embedding to project to: ``"umap"`` reads ``adata.obsm['X_umap']`` (``"X_umap"`` works too);
        the fit's ``use_rep`` (e.g. ``"pca"``) gives the drift itself.
    vkey
        obsm key of the drift; default: the fit's (``"wf_velocity"`` for the default ``key``).
        Outputs are named after it, as in scVelo.
    key
        Namespace of the fit in ``adata.uns`` (as in :func:`wf_sc.tl.fit`); the projection is
        read from and written to the keys derived from ``vkey``.
    method
        ``"auto"``, ``"linear"``, ``"transition"`` or ``"jacobian"`` (see above).
    n_neighbors
        Neighbours in the representation for ``"transition"`` and ``"jacobian"`` (use more than
        the representation's dimension for ``"jacobian"``).
    copy
        Return a copy with the projection instead of writing to ``adata``.

    Returns
    -------
    ``None`` or a copy (``copy=True``), with

    ``adata.obsm['wf_velocity_<basis>']``
        The projected drift (n_cells x basis columns), ``'{vkey}_<basis>'`` for another ``vkey``.
    ``adata.uns['wf_velocity_params']``
        ``embeddings``: the bases projected to so far (scVelo's list), ``projection``: the method
        used per basis (``'{vkey}_params'`` for another ``vkey``). Other entries are kept.

    Nothing is written when an error is raised.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known are {list(METHODS)}")
    if int(n_neighbors) < 1:
        raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors!r}")
    fit = adata.uns.get(key)
    if not isinstance(fit, Mapping) or _keys.PARAMS not in fit or "use_rep" not in fit[_keys.PARAMS]:
        fits = [k for k, v in adata.uns.items() if isinstance(v, Mapping) and _keys.MODEL in v]
        raise KeyError(
            f"no WeightFlow fit in adata.uns[{key!r}] (fits found: {fits}); run wf.tl.fit(adata, time_key) "
            "first, or pass key= the namespace of your fit."
        )
    use_rep = str(fit[_keys.PARAMS]["use_rep"])
    if vkey is None:
        keys = fit.get("keys", {})
        vkey = str(keys["velocity"]) if isinstance(keys, Mapping) and "velocity" in keys else _keys.output_keys(key)[0]
    if vkey not in adata.obsm:
        raise KeyError(
            f"drift {vkey!r} not found in adata.obsm (available: {list(adata.obsm.keys())}); "
            "it is written by wf.tl.fit, or pass vkey= the key of your drift."
        )
    bkey = _keys.basis_key(basis)
    if bkey not in adata.obsm:
        raise KeyError(
            f"basis {basis!r} not found: no adata.obsm[{bkey!r}] (available: {list(adata.obsm.keys())}); "
            "compute it first, e.g. sc.pp.neighbors(adata, use_rep=...) and sc.tl.umap(adata)."
        )
    from .._bridge import get_representation

    X = get_representation(adata, use_rep).astype(np.float64)
    V = np.asarray(adata.obsm[vkey], dtype=np.float64)
    if V.shape != X.shape:
        raise ValueError(
            f"drift adata.obsm[{vkey!r}] has shape {V.shape} but the representation {use_rep!r} of the fit has "
            f"shape {X.shape}; refit with wf.tl.fit or pass the matching vkey/key."
        )
    E = np.asarray(adata.obsm[bkey], dtype=np.float64)
    if E.ndim != 2:
        raise ValueError(f"basis adata.obsm[{bkey!r}] must be a 2-D array (cells x dims), got shape {E.shape}")
    if not np.isfinite(E).all():
        rows = np.flatnonzero(~np.isfinite(E).all(1))
        raise ValueError(
            f"basis adata.obsm[{bkey!r}] has NaN/inf in {len(rows)} cells (first: {adata.obs_names[rows[:5]].tolist()}); "
            "recompute the embedding or drop those cells."
        )
    if not np.isfinite(V).all():
        raise ValueError(f"drift adata.obsm[{vkey!r}] has NaN/inf; refit with wf.tl.fit")

    V_emb, used = project_drift(
        X, V, E, method=method, n_neighbors=n_neighbors, identity=bkey == use_rep, names=(repr(bkey), repr(use_rep))
    )
    log.info("projected %r to %r with method %r", vkey, bkey, used)

    target = adata.copy() if copy else adata
    _write(target, vkey, bkey, V_emb.astype(np.float32), used)
    return target if copy else None


def _write(adata: AnnData, vkey: str, bkey: str, V_emb: np.ndarray, method: str) -> None:
    """Write the projection and the scVelo params; on any interruption restore what was there."""
    okey, pkey = _keys.velocity_basis(bkey, vkey), _keys.velocity_params(vkey)
    name = bkey.removeprefix("X_")
    old_p = adata.uns.get(pkey)
    params = dict(old_p) if isinstance(old_p, Mapping) else {}
    embeddings = [str(b) for b in np.atleast_1d(params.get("embeddings", []))]
    params["embeddings"] = embeddings + ([name] if name not in embeddings else [])
    projection = dict(params.get("projection", {})) if isinstance(params.get("projection"), Mapping) else {}
    projection[name] = method
    params["projection"] = projection
    write_or_restore(adata, {("obsm", okey): V_emb, ("uns", pkey): params})
    log.info("wrote obsm[%r], uns[%r]", okey, pkey)

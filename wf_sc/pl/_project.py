"""Placing points and vectors of the representation space on a 2-D embedding of the real cells.

Plots draw generated cells, cell trajectories and drift vectors that live in the fit's
representation (``use_rep``) on any 2-D basis of the real cells (``X_pca``, ``X_umap``, ...).
:func:`embedding_projection` picks the projection:

``"linear"``
    The basis is an affine function of the representation, ``E = X A + b`` (the representation
    itself, some of its columns, or a PCA of it). This is detected, not assumed: ``A, b`` are
    fitted by least squares on the real cells and accepted only when they reproduce the basis to
    a relative error ``tol`` on cells held out of the fit. Points map as ``x A + b`` and vectors
    as ``v A`` -- exact.
``"knn"``
    Any other basis (UMAP, t-SNE, diffusion maps, ...) has no map defined off the real cells.
    A point ``x`` is placed at the mean embedding of its ``k`` nearest real cells in the
    representation space (kNN regression),

    .. math:: \\hat e(x) = \\frac{1}{k} \\sum_{i \\in N_k(x)} e_i ,

    with ``N_k(x)`` found by a :class:`scipy.spatial.cKDTree` over the real cells' representation.
    Generated cells therefore land on the manifold the embedding draws; positions are averaged, so
    a point far from every real cell is pulled onto the nearest cells. Vectors have no kNN image
    (use ``wf.tl.velocity_embedding``).

:func:`velocity_grid` smooths per-cell 2-D velocities onto a regular grid for stream plots.
All helpers are pure numpy/scipy and never touch an AnnData.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["EmbeddingProjection", "affine_map", "embedding_projection", "velocity_grid"]


def affine_map(
    source: np.ndarray,
    target: np.ndarray,
    *,
    tol: float = 1e-3,
    max_rows: int = 4000,
    max_dim: int = 300,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(A, b)`` with ``target = source @ A + b`` to relative error ``tol``, or ``None`` if no such map.

    ``A`` (d, m) and ``b`` (m,) are fitted by least squares on up to ``max_rows`` random rows
    (at least ``4 (d + 1)`` are needed, so the fit cannot interpolate arbitrary data) and checked on
    up to ``max_rows`` other rows: the RMS residual of each target column must be below ``tol``
    times that column's standard deviation. Sources wider than ``max_dim`` are not tried.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    n, d = source.shape
    need = 4 * (d + 1)
    if d > max_dim or n < need + 10 or len(target) != n:
        return None
    rng = np.random.default_rng(random_state)
    order = rng.permutation(n)
    n_fit = min(max(need, n // 2), max_rows)
    fit_rows, check_rows = order[:n_fit], order[n_fit : n_fit + max_rows]
    design = np.hstack([source[fit_rows], np.ones((n_fit, 1))])
    coef, *_ = np.linalg.lstsq(design, target[fit_rows], rcond=None)
    A, b = coef[:-1], coef[-1]
    residual = target[check_rows] - (source[check_rows] @ A + b)
    rms = np.sqrt((residual**2).mean(0))
    spread = target.std(0)
    if np.all(rms <= tol * np.maximum(spread, 1e-12)):
        return A, b
    return None


@dataclass
class EmbeddingProjection:
    """Maps points (and, for linear maps, vectors) of the representation space to a 2-D basis.

    Build with :func:`embedding_projection`. ``method`` is ``"linear"`` (``A``, ``b`` set) or
    ``"knn"`` (``tree``, ``embedding``, ``n_neighbors`` set).
    """

    method: str
    A: np.ndarray | None = None
    b: np.ndarray | None = None
    tree: cKDTree | None = None
    embedding: np.ndarray | None = None
    n_neighbors: int = 15

    def points(self, x: np.ndarray) -> np.ndarray:
        """Embedding coordinates (n, 2) of points ``x`` (n, d) of the representation space."""
        x = np.asarray(x, dtype=np.float64)
        if self.method == "linear":
            return x @ self.A + self.b
        k = min(self.n_neighbors, len(self.embedding))
        _, idx = self.tree.query(x, k=k)
        idx = idx.reshape(len(x), k)
        return self.embedding[idx].mean(1)

    def vectors(self, v: np.ndarray) -> np.ndarray:
        """Embedding of vectors ``v`` (n, d) under a linear projection: ``v A``."""
        if self.method != "linear":
            raise ValueError("vectors have no kNN projection; project them with wf.tl.velocity_embedding")
        return np.asarray(v, dtype=np.float64) @ self.A


def embedding_projection(
    representation: np.ndarray,
    embedding: np.ndarray,
    *,
    n_neighbors: int = 15,
    tol: float = 1e-3,
) -> EmbeddingProjection:
    """The projection from the representation to a basis, fitted on the real cells.

    Parameters
    ----------
    representation
        The real cells in the fit's representation space, (n, d).
    embedding
        The same cells in the basis, (n, 2).
    n_neighbors
        ``k`` of the kNN regression used when the basis is not affine in the representation.
    tol
        Relative error up to which the basis counts as affine (see :func:`affine_map`).

    Returns
    -------
    An :class:`EmbeddingProjection` with ``method`` ``"linear"`` (exact) or ``"knn"``.
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    affine = affine_map(representation, embedding, tol=tol)
    if affine is not None:
        return EmbeddingProjection("linear", A=affine[0], b=affine[1])
    rep = np.asarray(representation, dtype=np.float64)
    return EmbeddingProjection("knn", tree=cKDTree(rep), embedding=embedding, n_neighbors=int(n_neighbors))


def velocity_grid(
    coords: np.ndarray,
    velocity: np.ndarray,
    *,
    n_grid: int = 40,
    smooth: float = 1.0,
    n_neighbors: int | None = None,
    min_mass: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian-kernel average of per-cell 2-D velocities on a regular grid (for stream plots).

    On an ``n_grid x n_grid`` grid spanning the cells (with a margin of one grid step), the
    velocity at grid point ``g`` is the kernel-weighted mean of the velocities of its
    ``n_neighbors`` nearest cells,

    .. math:: V(g) = \\frac{\\sum_i w_i v_i}{\\sum_i w_i}, \\quad
              w_i = \\exp\\Big(-\\tfrac12 \\sum_a \\big(\\tfrac{g_a - x_{ia}}{h_a}\\big)^2\\Big),

    with bandwidth ``h_a = smooth`` grid steps along axis ``a``. Grid points whose kernel mass
    ``sum_i w_i`` is below ``min_mass`` times its 99th percentile lie outside the cells and are
    set to NaN, so stream lines stay on the data.

    Parameters
    ----------
    coords
        Cell coordinates (n, 2).
    velocity
        Cell velocities (n, 2).
    n_grid
        Grid points per axis.
    smooth
        Kernel bandwidth in grid steps.
    n_neighbors
        Cells per grid point; default ``max(10, min(n // 50, 100))``.
    min_mass
        Kernel mass threshold, as a fraction of the 99th percentile of the mass.

    Returns
    -------
    ``(x, y, U, V, mass)``: grid axes ``x`` (n_grid,), ``y`` (n_grid,), velocity components
    ``U``, ``V`` (n_grid, n_grid; rows follow ``y``, NaN off the data) and the kernel mass.
    """
    coords = np.asarray(coords, dtype=np.float64)
    velocity = np.asarray(velocity, dtype=np.float64)
    if coords.shape != velocity.shape or coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords and velocity must both be (n, 2); got {coords.shape} and {velocity.shape}")
    lo, hi = coords.min(0), coords.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    step = span / (n_grid - 1)
    lo, hi = lo - step, hi + step
    x, y = np.linspace(lo[0], hi[0], n_grid), np.linspace(lo[1], hi[1], n_grid)
    step = np.array([x[1] - x[0], y[1] - y[0]])
    h = smooth * step
    gx, gy = np.meshgrid(x, y)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    k = n_neighbors if n_neighbors is not None else max(10, min(len(coords) // 50, 100))
    k = int(min(k, len(coords)))
    tree = cKDTree(coords / h)
    dist, idx = tree.query(grid / h, k=k)
    dist, idx = dist.reshape(len(grid), k), idx.reshape(len(grid), k)
    w = np.exp(-0.5 * dist**2)
    mass = w.sum(1)
    vel = (w[:, :, None] * velocity[idx]).sum(1) / np.maximum(mass, 1e-300)[:, None]
    off = mass < min_mass * np.percentile(mass, 99)
    vel[off] = np.nan
    shape = (n_grid, n_grid)
    return x, y, vel[:, 0].reshape(shape), vel[:, 1].reshape(shape), mass.reshape(shape)

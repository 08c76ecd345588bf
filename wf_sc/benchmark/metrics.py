r"""Distances between two populations of cells (numpy in, float out), for the benchmark.

All three compare two finite point clouds :math:`a = \{a_i\}_{i=1}^n` and
:math:`b = \{b_j\}_{j=1}^m` in :math:`\mathbb{R}^d`, each cell carrying the uniform weight
(:math:`1/n`, :math:`1/m`):

- :func:`w1`: exact earth mover's distance with Euclidean cost;
- :func:`w2`: exact 2-Wasserstein distance (squared Euclidean cost, square root at the end);
- :func:`mmd_rbf`: squared maximum mean discrepancy with a sum of Gaussian (RBF) kernels.

The Wasserstein distances solve the full ``n x m`` transport problem with POT's network simplex
(:func:`ot.emd2`): memory and time grow as ``n * m`` (about a second at 1000 x 1000), so cap the
clouds with :func:`subsample` first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ot
from scipy.spatial.distance import cdist

#: bandwidths of :func:`mmd_rbf`, as multiples of the median pairwise distance, when none are given
RELATIVE_BANDWIDTHS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)

#: iteration cap of the network simplex (POT's default 1e5 is too small for 1000 x 1000 problems)
_MAX_ITER = 10_000_000


def _cloud(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty array of shape (n, d), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has NaN or inf entries")
    return x


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _cloud(a, "a"), _cloud(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b live in different dimensions: {a.shape[1]} and {b.shape[1]}")
    return a, b


def _cost(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Pairwise cost ``(n, m)``, the matrix of ``ot.dist(a, b, metric=metric)``.

    Computed with :func:`scipy.spatial.distance.cdist`, which subtracts coordinates before squaring:
    ``ot.dist`` expands ``|a|^2 + |b|^2 - 2 a.b`` and so leaves ~1e-8 at coinciding points.
    """
    return cdist(a, b, metric=metric)


def _emd2(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    """Optimal transport cost between uniform weights on the rows of ``a`` and ``b``."""
    wa = np.full(len(a), 1.0 / len(a))
    wb = np.full(len(b), 1.0 / len(b))
    return float(ot.emd2(wa, wb, cost, numItermax=_MAX_ITER))


def subsample(x: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    r"""At most ``cap`` rows of ``x``, drawn uniformly without replacement.

    :math:`x_{\pi(1)}, \dots, x_{\pi(\min(n, \mathrm{cap}))}` for a uniformly random injection
    :math:`\pi`; ``x`` itself (not a copy) when it has no more than ``cap`` rows or ``cap`` is None.

    Parameters
    ----------
    x
        Cells, shape ``(n, d)``.
    cap
        Largest number of rows to keep; ``None`` keeps all.
    rng
        Source of randomness.

    Returns
    -------
    Array of shape ``(min(n, cap), d)``.
    """
    if cap is None or len(x) <= cap:
        return x
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    return x[np.sort(rng.choice(len(x), size=int(cap), replace=False))]


def w1(a: np.ndarray, b: np.ndarray) -> float:
    r"""Exact earth mover's (1-Wasserstein) distance with Euclidean cost and uniform weights.

    .. math::
        W_1(a, b) = \min_{P \in U(n, m)} \sum_{i, j} P_{ij}\,\lVert a_i - b_j \rVert_2,
        \qquad U(n, m) = \{P \ge 0 : P\mathbf{1} = \tfrac1n\mathbf{1},\ P^\top\mathbf{1} = \tfrac1m\mathbf{1}\}.

    Parameters
    ----------
    a
        First cloud, shape ``(n, d)``.
    b
        Second cloud, shape ``(m, d)``.

    Returns
    -------
    The distance (in the units of the coordinates).
    """
    a, b = _pair(a, b)
    return _emd2(a, b, _cost(a, b, "euclidean"))


def w2(a: np.ndarray, b: np.ndarray) -> float:
    r"""Exact 2-Wasserstein distance with uniform weights.

    .. math::
        W_2(a, b) = \Big(\min_{P \in U(n, m)} \sum_{i, j} P_{ij}\,\lVert a_i - b_j \rVert_2^2\Big)^{1/2}.

    ``a`` (n, d) and ``b`` (m, d) as in :func:`w1`; the distance is in the units of the coordinates.
    """
    a, b = _pair(a, b)
    return float(np.sqrt(max(_emd2(a, b, _cost(a, b, "sqeuclidean")), 0.0)))


def median_distance(x: np.ndarray) -> float:
    r"""Median of the pairwise Euclidean distances :math:`\lVert x_i - x_j \rVert`, :math:`i < j`.

    The usual scale for RBF bandwidths (the "median heuristic"); 1.0 when all points coincide.

    Parameters
    ----------
    x
        Cells, shape ``(n, d)``, ``n >= 2``.

    Returns
    -------
    The median distance.
    """
    x = _cloud(x, "x")
    if len(x) < 2:
        raise ValueError("the median pairwise distance needs at least 2 points")
    dist = _cost(x, x, "euclidean")[np.triu_indices(len(x), k=1)]
    med = float(np.median(dist))
    return med if med > 0 else 1.0


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidths: Sequence[float] | None = None) -> float:
    r"""Squared maximum mean discrepancy (biased V-statistic) with a multi-bandwidth RBF kernel.

    With :math:`k(x, y) = \frac1L \sum_{l=1}^L \exp\!\big(-\lVert x - y \rVert^2 / (2\sigma_l^2)\big)`,

    .. math::
        \widehat{\mathrm{MMD}}^2_b(a, b) = \frac{1}{n^2}\sum_{i,i'} k(a_i, a_{i'})
            + \frac{1}{m^2}\sum_{j,j'} k(b_j, b_{j'}) - \frac{2}{nm}\sum_{i,j} k(a_i, b_j).

    The biased estimate keeps the diagonal terms ``i = i'``; it is the squared RKHS distance
    between the two empirical distributions, so it is never negative and is exactly 0 for
    identical clouds (the unbiased U-statistic can be negative). It is symmetric in ``a`` and ``b``.

    Parameters
    ----------
    a
        First cloud, shape ``(n, d)``.
    b
        Second cloud, shape ``(m, d)``.
    bandwidths
        Kernel widths :math:`\sigma_l` in the units of the coordinates. ``None``: the multiples
        :data:`RELATIVE_BANDWIDTHS` ``(0.25, 0.5, 1, 2, 4)`` of the median pairwise distance of the
        pooled cloud :math:`a \cup b` (symmetric, but it then depends on both clouds; to compare
        several clouds against one reference, pass widths computed once from the reference, e.g.
        ``median_distance(ref) * np.array(RELATIVE_BANDWIDTHS)``).

    Returns
    -------
    :math:`\widehat{\mathrm{MMD}}^2_b` (dimensionless, in ``[0, 2]``).
    """
    a, b = _pair(a, b)
    if bandwidths is None:
        sigma = median_distance(np.concatenate([a, b])) * np.asarray(RELATIVE_BANDWIDTHS)
    else:
        sigma = np.asarray(bandwidths, dtype=np.float64).ravel()
        if len(sigma) == 0 or not (np.isfinite(sigma).all() and (sigma > 0).all()):
            raise ValueError(f"bandwidths must be positive and finite, got {bandwidths!r}")

    def mean_kernel(x: np.ndarray, y: np.ndarray) -> float:
        sq = _cost(x, y, "sqeuclidean")
        return float(np.mean([np.exp(-sq / (2 * s**2)).mean() for s in sigma]))

    value = mean_kernel(a, a) + mean_kernel(b, b) - 2 * mean_kernel(a, b)
    return max(value, 0.0)

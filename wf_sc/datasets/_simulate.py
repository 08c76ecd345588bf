"""Simulated time courses with known ground truth (pure numpy).

Two systems:

- :class:`GradientFlow` — a linear (Ornstein-Uhlenbeck type) gradient flow with exact Gaussian
  marginals and an exact velocity field: the reference for checking a learned drift.
- :class:`~wf_sc.datasets.ToggleSwitch` (in ``_toggle.py``, built on the helpers here) — two
  mutually repressing genes (a bistable SDE): cells start at the saddle and split into two
  branches; no closed form, but unlimited fresh populations.

Both return snapshots as :class:`~anndata.AnnData` with ``obs['time']``: the cells of each time
point are independent draws, as in a real single-cell time course.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

RandomState = int | np.random.Generator | None


def _rng(random_state: RandomState) -> np.random.Generator:
    return np.random.default_rng(random_state)


def _cells_per_time(n_cells: int | Sequence[int], n_times: int) -> list[int]:
    counts = [int(n_cells)] * n_times if np.isscalar(n_cells) else [int(c) for c in n_cells]
    if len(counts) != n_times:
        raise ValueError(f"n_cells has {len(counts)} entries but there are {n_times} time points.")
    if any(c < 1 for c in counts):
        raise ValueError(f"n_cells must be positive, got {counts}.")
    return counts


def _snapshots(
    blocks: list[np.ndarray],
    times: Sequence[float],
    var_names: list[str],
    obsm: dict[str, list[np.ndarray]],
    uns: dict,
) -> ad.AnnData:
    """Stack per-time blocks of cells into one AnnData with ``obs['time']``."""
    counts = [len(b) for b in blocks]
    time = np.repeat(np.asarray(times, dtype=float), counts)
    obs = pd.DataFrame({"time": time}, index=[f"cell_{i}" for i in range(len(time))])
    adata = ad.AnnData(
        X=np.concatenate(blocks).astype(np.float32),
        obs=obs,
        var=pd.DataFrame(index=var_names),
    )
    for key, parts in obsm.items():
        adata.obsm[key] = np.concatenate(parts).astype(np.float32)
    adata.uns["simulation"] = uns
    return adata


def _random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-random orthogonal matrix; for ``dim == 2`` a rotation within 15 degrees of the axes.

    In 2-D the default target ``m`` lies on the diagonal; eigenvectors near the axes keep the
    displacement far from an eigenvector, so the mean path visibly curves.
    """
    if dim == 2:
        angle = rng.uniform(-np.pi / 12, np.pi / 12)
        c, s = np.cos(angle), np.sin(angle)
        return np.array([[c, -s], [s, c]])
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


class GradientFlow:
    r"""Linear gradient flow :math:`dx = -A(x - m)\,dt + \sqrt{D}\,dW` with Gaussian start.

    The potential is :math:`\tfrac12 (x-m)^\top A (x-m)`; with :math:`x_0 \sim N(\mu_0,
    \sigma_0^2 I)` every marginal is Gaussian and known exactly:

    .. math::
        \mu_t = m + e^{-At}(\mu_0 - m), \qquad
        \Sigma_t = e^{-At}\Sigma_0 e^{-At} + D\,(2A)^{-1}(I - e^{-2At}).

    Parameters
    ----------
    dim
        Dimension of the state space.
    A
        Symmetric positive definite matrix (``dim x dim``). Default: a random rotation of the
        eigenvalues ``linspace(0.5, 1.5, dim)`` drawn with ``random_state`` (condition number 3;
        in 2-D the eigenvectors stay within 15 degrees of the axes so the mean path curves).
    m
        Minimum of the potential (where cells go). Default ``2 * ones(dim)``.
    mu0
        Mean of the start population. Default ``zeros(dim)``.
    sigma0
        Standard deviation of the (isotropic) start population.
    diffusion
        Diffusion coefficient :math:`D \ge 0` (noise variance per unit time).
    random_state
        Seed for the default ``A``.
    """

    def __init__(
        self,
        dim: int = 2,
        *,
        A: np.ndarray | None = None,
        m: np.ndarray | Sequence[float] | None = None,
        mu0: np.ndarray | Sequence[float] | None = None,
        sigma0: float = 0.5,
        diffusion: float = 0.0,
        random_state: RandomState = 0,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}.")
        if sigma0 <= 0 or diffusion < 0:
            raise ValueError(f"need sigma0 > 0 and diffusion >= 0, got {sigma0}, {diffusion}.")
        if A is None:
            q = _random_rotation(dim, _rng(random_state))
            A = (q * np.linspace(0.5, 1.5, dim)) @ q.T
        A = np.asarray(A, dtype=float)
        if A.shape != (dim, dim) or not np.allclose(A, A.T):
            raise ValueError(f"A must be a symmetric {dim}x{dim} matrix, got shape {A.shape}.")
        self.A = (A + A.T) / 2
        self.eigvals, self.eigvecs = np.linalg.eigh(self.A)
        if self.eigvals.min() <= 0:
            smallest = self.eigvals.min()
            raise ValueError(f"A must be positive definite; smallest eigenvalue {smallest:g}.")
        self.dim = dim
        self.m = np.full(dim, 2.0) if m is None else np.asarray(m, dtype=float).reshape(dim)
        self.mu0 = np.zeros(dim) if mu0 is None else np.asarray(mu0, dtype=float).reshape(dim)
        self.sigma0 = float(sigma0)
        self.diffusion = float(diffusion)

    def _spectral(self, values: np.ndarray) -> np.ndarray:
        """Matrix ``V diag(values) V^T`` in the eigenbasis of ``A``."""
        return (self.eigvecs * values) @ self.eigvecs.T

    def mean(self, t: float) -> np.ndarray:
        """Exact mean of the population at time ``t`` (shape ``(dim,)``)."""
        decay = self._spectral(np.exp(-self.eigvals * t))
        return self.m + decay @ (self.mu0 - self.m)

    def cov(self, t: float) -> np.ndarray:
        """Exact covariance of the population at time ``t`` (shape ``(dim, dim)``)."""
        lam = self.eigvals
        decay2 = np.exp(-2 * lam * t)
        # Sigma_0 = sigma0^2 I commutes with A, so everything is diagonal in A's eigenbasis.
        return self._spectral(self.sigma0**2 * decay2 + self.diffusion * (1 - decay2) / (2 * lam))

    def population(self, t: float, n: int, random_state: RandomState = None) -> np.ndarray:
        """Exact samples of the population at time ``t``.

        Parameters
        ----------
        t
            Time.
        n
            Number of cells.
        random_state
            Seed or generator (``None``: fresh entropy).

        Returns
        -------
        Array of shape ``(n, dim)``.
        """
        chol = np.linalg.cholesky(self.cov(t))
        z = _rng(random_state).standard_normal((n, self.dim))
        return self.mean(t) + z @ chol.T

    def velocity(self, x: np.ndarray, t: float | np.ndarray) -> np.ndarray:
        r"""Probability-flow velocity, the deterministic field that transports the marginals.

        :math:`v(x, t) = -A(x - m) + \tfrac{D}{2}\Sigma_t^{-1}(x - \mu_t)`; it equals the drift
        :math:`-A(x - m)` when ``diffusion == 0``.

        Parameters
        ----------
        x
            Points, shape ``(n, dim)`` or ``(dim,)``.
        t
            One time, or one time per point (shape ``(n,)``).

        Returns
        -------
        Velocities with the shape of ``x``.
        """
        x = np.asarray(x, dtype=float)
        points = np.atleast_2d(x)
        v = -(points - self.m) @ self.A
        if self.diffusion > 0:
            tt = np.broadcast_to(np.asarray(t, dtype=float), points.shape[:1])
            for ti in np.unique(tt):
                rows = tt == ti
                score = np.linalg.solve(self.cov(ti), (points[rows] - self.mean(ti)).T).T
                v[rows] += 0.5 * self.diffusion * score
        return v.reshape(x.shape)

    def sample(
        self,
        times: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
        n_cells: int | Sequence[int] = 500,
        random_state: RandomState = 0,
    ) -> ad.AnnData:
        """Independent snapshots at ``times``.

        Parameters
        ----------
        times
            Observation times.
        n_cells
            Cells per time: one number for all, or one per time.
        random_state
            Seed or generator for the cells.

        Returns
        -------
        AnnData with ``.X`` (float32 cells, var_names ``x1..xd``), ``obs['time']``,
        ``obsm['velocity_true']`` (the true velocity of each cell at its own time) and
        ``uns['simulation']`` (the parameters).
        """
        rng = _rng(random_state)
        counts = _cells_per_time(n_cells, len(times))
        blocks = [self.population(t, c, rng) for t, c in zip(times, counts)]
        velocities = [self.velocity(b, t) for b, t in zip(blocks, times)]
        uns = {
            "name": "gradient_flow",
            "A": self.A,
            "m": self.m,
            "mu0": self.mu0,
            "sigma0": self.sigma0,
            "diffusion": self.diffusion,
        }
        names = [f"x{i + 1}" for i in range(self.dim)]
        return _snapshots(blocks, times, names, {"velocity_true": velocities}, uns)


_SAMPLE_KEYS = ("times", "n_cells", "random_state")


def _split(kwargs: dict) -> tuple[dict, dict]:
    sample_kw = {k: kwargs.pop(k) for k in _SAMPLE_KEYS if k in kwargs}
    return kwargs, sample_kw


def gradient_flow(**kwargs) -> ad.AnnData:
    """Snapshots of a :class:`GradientFlow`.

    Keyword arguments ``times``, ``n_cells`` and ``random_state`` go to
    :meth:`GradientFlow.sample` (``random_state`` also seeds the default ``A``); all others to
    the constructor.

    Returns
    -------
    See :meth:`GradientFlow.sample`.
    """
    model_kw, sample_kw = _split(dict(kwargs))
    if "random_state" in sample_kw:
        model_kw.setdefault("random_state", sample_kw["random_state"])
    return GradientFlow(**model_kw).sample(**sample_kw)

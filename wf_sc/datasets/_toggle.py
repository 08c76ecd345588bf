"""The toggle switch: two mutually repressing genes (a bistable SDE). Cells start at the saddle
and split into two branches; no closed form, but unlimited fresh populations (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np

from ._simulate import RandomState, _cells_per_time, _rng, _snapshots, _split


class ToggleSwitch:
    r"""Bistable toggle switch: two genes that activate themselves and repress each other.

    .. math::
        dx_1 = \Big(a\frac{x_1^n}{s^n + x_1^n} + b\frac{s^n}{s^n + x_2^n} - k x_1\Big)dt
               + \sigma\,dW_1

    and symmetrically for :math:`x_2`, simulated by Euler-Maruyama with states clipped at 0.
    With the defaults (``a = b``) the symmetric fixed point is :math:`x_1 = x_2 = a/k = 0.5 = s`,
    a saddle (unstable rate :math:`2a n/(4s) - k = 1`, stable rate :math:`-k = -1`); the stable
    states are about (0.97, 0.03) and (0.03, 0.97). Cells start at the saddle and split into the
    two branches over times 0..4 (half-way by t = 2, nearly settled by t = 4).

    Parameters
    ----------
    a
        Self-activation strength.
    b
        Strength of the repression-relief term (production when the other gene is low).
    s
        Hill threshold.
    n
        Hill coefficient.
    k
        Degradation rate.
    noise
        Additive noise amplitude :math:`\sigma`.
    x0
        Mean start state.
    x0_std
        Standard deviation of the start state (isotropic Gaussian, clipped at 0).
    dt
        Largest Euler-Maruyama step.
    """

    def __init__(
        self,
        *,
        a: float = 0.5,
        b: float = 0.5,
        s: float = 0.5,
        n: float = 4,
        k: float = 1.0,
        noise: float = 0.1,
        x0: Sequence[float] = (0.5, 0.5),
        x0_std: float = 0.1,
        dt: float = 0.01,
    ) -> None:
        if dt <= 0 or noise < 0 or x0_std < 0:
            raise ValueError(f"need dt > 0, noise >= 0, x0_std >= 0; got {dt}, {noise}, {x0_std}.")
        self.a, self.b, self.s, self.n, self.k = float(a), float(b), float(s), float(n), float(k)
        self.noise, self.x0_std, self.dt = float(noise), float(x0_std), float(dt)
        self.x0 = np.asarray(x0, dtype=float).reshape(2)

    def drift(self, x: np.ndarray) -> np.ndarray:
        """Deterministic drift at states ``x`` (shape ``(n, 2)`` or ``(2,)``)."""
        x = np.asarray(x, dtype=float)
        xn, sn = np.clip(x, 0, None) ** self.n, self.s**self.n
        activation = self.a * xn / (sn + xn)
        repression = self.b * sn / (sn + xn)
        return activation + repression[..., ::-1] - self.k * x

    def population(self, t: float, n: int, random_state: RandomState = None) -> np.ndarray:
        """Simulate ``n`` fresh cells from time 0 to ``t``: a draw of the true population.

        Parameters
        ----------
        t
            Time (>= 0).
        n
            Number of cells.
        random_state
            Seed or generator (``None``: fresh entropy).

        Returns
        -------
        Array of shape ``(n, 2)``.
        """
        if t < 0:
            raise ValueError(f"t must be >= 0, got {t}.")
        rng = _rng(random_state)
        x = np.clip(self.x0 + self.x0_std * rng.standard_normal((n, 2)), 0, None)
        n_steps = int(np.ceil(t / self.dt - 1e-9))
        if n_steps == 0:
            return x
        h = t / n_steps
        for _ in range(n_steps):
            x = x + h * self.drift(x) + self.noise * np.sqrt(h) * rng.standard_normal((n, 2))
            np.clip(x, 0, None, out=x)
        return x

    def sample(
        self,
        times: Sequence[float] = (0.0, 1.0, 2.0, 3.0, 4.0),
        n_cells: int | Sequence[int] = 500,
        random_state: RandomState = 0,
    ) -> ad.AnnData:
        """Independent snapshots at ``times`` (each time simulated with fresh cells).

        Parameters
        ----------
        times
            Observation times.
        n_cells
            Cells per time: one number for all, or one per time.
        random_state
            Seed or generator.

        Returns
        -------
        AnnData with ``.X`` (float32, var_names ``gene_A``, ``gene_B``), ``obs['time']``,
        ``obsm['drift_true']`` (deterministic drift at each cell) and ``uns['simulation']``.
        """
        rng = _rng(random_state)
        counts = _cells_per_time(n_cells, len(times))
        blocks = [self.population(t, c, rng) for t, c in zip(times, counts)]
        uns = {
            "name": "toggle_switch",
            **{key: getattr(self, key) for key in ("a", "b", "s", "n", "k", "noise", "x0_std")},
            "dt": self.dt,
            "x0": self.x0,
        }
        drifts = [self.drift(b) for b in blocks]
        return _snapshots(blocks, times, ["gene_A", "gene_B"], {"drift_true": drifts}, uns)


def toggle_switch(**kwargs) -> ad.AnnData:
    """Snapshots of a :class:`ToggleSwitch`.

    Keyword arguments ``times``, ``n_cells`` and ``random_state`` go to
    :meth:`ToggleSwitch.sample`; all others to the constructor.

    Returns
    -------
    See :meth:`ToggleSwitch.sample`.
    """
    model_kw, sample_kw = _split(dict(kwargs))
    return ToggleSwitch(**model_kw).sample(**sample_kw)

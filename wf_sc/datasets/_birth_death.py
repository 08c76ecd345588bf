"""A time course with known birth and death: cells drift, diffuse and grow at a rate set by their state.

Cells follow

.. math:: dx_1 = v\\,dt, \\qquad dx_2 = -\\kappa x_2\\,dt + \\sigma\\,dW, \\qquad
          g(x) = \\gamma \\tanh(x_2 / \\ell),

and each divides or dies so that its lineage grows at the net rate ``g(x)``: cells with
``x_2 > 0`` proliferate, cells with ``x_2 < 0`` die. The population is simulated as weighted
particles (Euler-Maruyama; each particle's log-weight gains ``g(x) dt`` per step); a snapshot
draws cells in proportion to the weights, so, as in a real experiment, its size is chosen by the
experimenter and only the proportions carry the growth. The total mass ``M(t) = E[weight]`` and
each cell's true rate ``g(x)`` are returned with the cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np

from ._simulate import RandomState, _cells_per_time, _rng, _snapshots


class BirthDeath:
    """Drifting, diffusing cells whose net growth rate ``gamma * tanh(x_2 / scale)`` depends on their state.

    Parameters
    ----------
    gamma
        Largest net growth rate (per unit time), reached far from ``x_2 = 0``.
    scale
        Width ``l`` of the switch between death and proliferation.
    speed
        Drift ``v`` along ``x_1``.
    relaxation
        Pull ``kappa`` of ``x_2`` back to 0.
    sigma
        Noise of ``x_2``; the start population is the stationary spread ``sigma / sqrt(2 kappa)``.
    n_particles
        Weighted particles simulating the population.
    dt
        Euler-Maruyama step.
    """

    def __init__(
        self,
        *,
        gamma: float = 1.0,
        scale: float = 0.5,
        speed: float = 1.0,
        relaxation: float = 0.5,
        sigma: float = 0.5,
        n_particles: int = 20_000,
        dt: float = 0.01,
    ) -> None:
        if scale <= 0 or relaxation <= 0 or sigma <= 0 or dt <= 0 or n_particles < 1:
            raise ValueError("scale, relaxation, sigma, dt and n_particles must be positive.")
        self.gamma, self.scale, self.speed = float(gamma), float(scale), float(speed)
        self.relaxation, self.sigma = float(relaxation), float(sigma)
        self.n_particles, self.dt = int(n_particles), float(dt)

    def growth(self, x: np.ndarray) -> np.ndarray:
        """True net growth rate ``g(x) = gamma tanh(x_2 / scale)`` of cells ``x`` (n, 2): (n,)."""
        return self.gamma * np.tanh(np.asarray(x)[:, 1] / self.scale)

    def _populations(self, times: Sequence[float], rng: np.random.Generator):
        """Weighted particles at each of ``times`` (sorted, >= 0): list of (positions, log-weights)."""
        spread = self.sigma / np.sqrt(2 * self.relaxation)
        x = np.column_stack([np.zeros(self.n_particles), rng.normal(0, spread, self.n_particles)])
        log_w = np.zeros(self.n_particles)
        t, out = 0.0, []
        for target in times:
            while t < target - 1e-12:
                h = min(self.dt, target - t)
                log_w += self.growth(x) * h
                x[:, 0] += self.speed * h
                x[:, 1] += -self.relaxation * x[:, 1] * h + self.sigma * np.sqrt(h) * rng.standard_normal(len(x))
                t += h
            out.append((x.copy(), log_w.copy()))
        return out

    def sample(
        self,
        times: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
        n_cells: int | Sequence[int] = 500,
        random_state: RandomState = 0,
    ) -> ad.AnnData:
        """Snapshots at ``times``: cells drawn in proportion to the particle weights.

        Returns
        -------
        AnnData with ``.X`` (float32, var_names ``x1``, ``x2``), ``obs['time']``,
        ``obs['true_growth']`` (``g`` at each cell), and ``uns['simulation']`` with the parameters
        and ``mass`` (``M(t)`` at each time, ``M(0) = 1``).
        """
        times = [float(t) for t in times]
        if any(t < 0 for t in times) or times != sorted(times):
            raise ValueError(f"times must be sorted and >= 0, got {times}.")
        rng = _rng(random_state)
        counts = _cells_per_time(n_cells, len(times))
        blocks, mass = [], []
        for (x, log_w), count in zip(self._populations(times, rng), counts):
            w = np.exp(log_w - log_w.max())
            blocks.append(x[rng.choice(len(x), size=count, p=w / w.sum())])
            mass.append(float(np.exp(log_w.max()) * w.mean()))
        uns = {
            "name": "birth_death",
            "gamma": self.gamma,
            "scale": self.scale,
            "speed": self.speed,
            "relaxation": self.relaxation,
            "sigma": self.sigma,
            "mass": np.asarray(mass),
        }
        adata = _snapshots(blocks, times, ["x1", "x2"], {}, uns)
        adata.obs["true_growth"] = self.growth(np.concatenate(blocks)).astype(np.float32)
        return adata


def birth_death(**kwargs) -> ad.AnnData:
    """Snapshots of a :class:`BirthDeath`; ``times``, ``n_cells``, ``random_state`` go to
    :meth:`BirthDeath.sample`, the rest to the constructor."""
    sample_kw = {k: kwargs.pop(k) for k in ("times", "n_cells", "random_state") if k in kwargs}
    return BirthDeath(**kwargs).sample(**sample_kw)

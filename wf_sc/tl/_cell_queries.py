"""Per-cell queries of a fitted :class:`~wf_sc.tl.WeightFlow`: log-density, drift, growth, score and transport.

Cells are grouped by time, so each time's weights are computed once, and evaluated in chunks, so
memory stays bounded whatever the number of cells.
"""

from __future__ import annotations

import numpy as np
import torch

from ._settings import torch_threads


class CellQueries:
    """Mixed into :class:`~wf_sc.tl.WeightFlow`, whose helpers it uses (``_check_fitted``, ``_check_x``,
    ``_per_cell_times``, ``_tau``, ``_outside``, ``n_threads``)."""

    def _grouped(self, x, t, fn, chunk: int, *, zero_outside: tuple[bool, ...] = (False,)):
        """Apply ``fn(theta, tau)(x_std_chunk)`` to cells grouped by time (``fn`` runs once per time,
        its result on every chunk). The result is one array, or a tuple when ``fn``'s chunks return
        a tuple of tensors; ``zero_outside[i]``: output ``i`` is 0 for cells at times outside the
        fitted range (a held population; outputs beyond the tuple's length are kept)."""
        core = self._check_fitted()
        xs = self._check_x(x)
        if len(xs) == 0:
            raise ValueError("no cells: x has 0 rows")
        with torch_threads(self.n_threads, len(xs)):
            return self._grouped_body(core, xs, t, fn, chunk, zero_outside)

    def _grouped_body(self, core, xs, t, fn, chunk: int, zero_outside: tuple[bool, ...]):
        tt = self._per_cell_times(t, len(xs))
        uniq, inv = np.unique(tt, return_inverse=True)
        taus = self._tau(uniq)
        with torch.no_grad():
            thetas = core.weights(taus)
        raw = core.to_tau(torch.as_tensor(uniq, dtype=torch.float64, device=core.tau.device))
        held = self._outside(raw) if any(zero_outside) else np.zeros(len(uniq), dtype=bool)
        outs, single = None, True
        for i in range(len(uniq)):
            rows, per_chunk = np.flatnonzero(inv == i), fn(thetas[i], taus[i])
            for a in range(0, len(rows), chunk):
                r = rows[a : a + chunk]
                vals = per_chunk(xs[torch.as_tensor(r, device=xs.device)])
                single = not isinstance(vals, tuple)
                vals = [v.detach().cpu().numpy() for v in ((vals,) if single else vals)]
                zero = tuple(zero_outside) + (False,) * (len(vals) - len(zero_outside))
                vals = [np.zeros_like(v) if held[i] and z else v for v, z in zip(vals, zero)]
                if outs is None:
                    outs = [np.empty((len(xs),) + v.shape[1:], dtype=v.dtype) for v in vals]
                for out, v in zip(outs, vals):
                    out[r] = v
        return outs[0] if single else tuple(outs)

    def log_density(self, x, t, *, chunk: int = 8192) -> np.ndarray:
        """Exact log-density of cells ``x`` (n, d) at time(s) ``t`` in the ``use_rep`` space: (n,).

        ``log p(x) = log p_std((x - mean) / scale) - sum_j log scale_j``.
        """
        core = self._check_fitted()
        shift = float(torch.log(core.x_scale).sum())
        return self._grouped(x, t, lambda theta, tau: lambda xb: core.log_prob(theta, xb).detach() - shift, chunk)

    def drift(self, x, t, *, chunk: int = 8192) -> np.ndarray:
        """Transport drift ``dx/dt`` of cells ``x`` (n, d) at time(s) ``t``, in ``use_rep`` units per time unit.

        The velocity that moves each cell with its conditional quantiles as the density path
        evolves (see :mod:`wf_sc._core.drift`).
        """
        return self._drift(x, t, chunk, with_log_density=False)

    def drift_and_log_density(self, x, t, *, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`drift` and :meth:`log_density` of the same cells, read off one pass over the coordinates."""
        return self._drift(x, t, chunk, with_log_density=True)

    def _drift(self, x, t, chunk: int, with_log_density: bool):
        core = self._check_fitted()
        unit = core.x_scale / (core.t_range[1] - core.t_range[0])
        shift = float(torch.log(core.x_scale).sum())

        def fn(theta, tau):
            with torch.no_grad():  # d theta / d tau once per time
                theta_dot = core.weight_velocity(theta, tau)
            if not with_log_density:
                return lambda xb: core.drift(theta, tau, xb, theta_dot=theta_dot).detach() * unit

            def both(xb):
                v, log_p = core.drift_and_log_prob(theta, tau, xb, theta_dot)
                return v.detach() * unit, log_p.detach() - shift

            return both

        return self._grouped(x, t, fn, chunk, zero_outside=(True, False))

    def growth_rate(self, x, t, *, chunk: int = 8192, n_reference: int = 4096) -> np.ndarray:
        """Relative growth rate of cells ``x`` (n, d) at time(s) ``t``, per time unit: (n,).

        ``g(x, t) - E_{p_t}[g]``, from the growth field learned with the path (a fit with
        ``wf.tl.Config(growth=True)``, :mod:`wf_sc._core.growth_field`); the mean over the model's
        population at each time (``n_reference`` of its cells, drawn with a fixed seed) is removed,
        because proportions fix growth only up to the population's mean rate. The field is learned
        at the points where Stage 2's transport action starts a step (every half interval), so it is
        least constrained in the last half interval and extrapolated at the last time, where
        :func:`wf_sc.tl.growth` writes NaN. At times outside the fitted range the population is held
        (with a warning), and its rate is 0. The rates are shrunk towards 0, as unbalanced
        transport's are (``docs/method.md`` §9): their ranking is the robust readout.
        """
        core = self._check_fitted()
        if core.growth is None:
            raise ValueError("this model was fitted without a growth field; fit with wf.tl.Config(growth=True)")
        span = float(core.t_range[1] - core.t_range[0])

        def fn(theta, tau):
            with torch.no_grad():
                gen = torch.Generator(device=core.tau.device).manual_seed(0)
                mean = core.growth(core.sample(theta, n_reference, gen), tau).mean()
            def rates(xb):
                with torch.no_grad():
                    return (core.growth(xb, tau) - mean) / span

            return rates

        return self._grouped(x, t, fn, chunk, zero_outside=(True,))

    def score(self, x, t, *, chunk: int = 2048) -> np.ndarray:
        """Score ``grad_x log p_t(x)`` of cells ``x`` (n, d) at time(s) ``t``, in ``use_rep`` units: (n, d)."""
        core = self._check_fitted()
        return self._grouped(x, t, lambda theta, tau: lambda xb: core.score(theta, xb) / core.x_scale, chunk)

    def transport(self, x, t_from: float, t_to: float, *, chunk: int = 8192) -> np.ndarray:
        """Move cells ``x`` (n, d) observed at ``t_from`` to ``t_to`` along the model's flow: (n, d).

        Each cell keeps its conditional quantiles, ``x' = F_{theta(t_to)}^{-1}(F_{theta(t_from)}(x))``
        (:mod:`wf_sc._core.transport`): exactly the cell's path under :meth:`drift`, without an ODE
        solver. Applied to the observed cells of a snapshot, it predicts the population at ``t_to``
        keeping the detail of the real cells that the density at ``t_from`` smooths away
        (``wf.tl.interpolate`` carries both neighbouring snapshots this way and pairs them).
        """
        core = self._check_fitted()
        if np.ndim(t_from) != 0 or np.ndim(t_to) != 0:
            raise ValueError("transport takes one start time and one end time")
        xs = self._check_x(x)
        tau = self._tau([t_from, t_to])
        with torch.no_grad(), torch_threads(self.n_threads, len(xs)):
            out = [core.transport(xs[a : a + chunk], tau[0], tau[1]) for a in range(0, len(xs), chunk)]
        return (torch.cat(out) * core.x_scale + core.x_mean).cpu().numpy() if out else np.asarray(x, float)

"""``wf.tl.growth``: per-cell growth rates and the population's mass over time."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from anndata import AnnData

from .. import _keys
from .._bridge import encode_time, get_representation, write_or_restore
from .._core.growth import growth_rates
from .._logging import get_logger

log = get_logger(__name__)


def _settings_from_fit(adata: AnnData, key: str, time_key: str | None, use_rep: str | None) -> tuple[str, str]:
    """``time_key`` and ``use_rep`` as given, else as the fit under ``uns[key]`` used them."""
    if time_key is not None and use_rep is not None:
        return time_key, use_rep
    record = adata.uns.get(key)
    if not _keys.is_fit_record(record):
        raise ValueError(
            f"no WeightFlow fit under adata.uns[{key!r}] to take time_key and use_rep from; "
            "pass both, e.g. wf.tl.growth(adata, 'day', use_rep='X_pca')"
        )
    params = record[_keys.PARAMS]
    return (time_key or str(params["time_key"])), (use_rep or str(params["use_rep"]))


def growth(
    adata: AnnData,
    time_key: str | None = None,
    *,
    use_rep: str | None = None,
    method: Literal["transport", "path"] = "transport",
    prior: str | None = None,
    epsilon: float = 0.05,
    tau: tuple[float, float] = (1.0, 50.0),
    max_cells: int = 3000,
    key: str = _keys.UNS,
    key_added: str = _keys.GROWTH,
    random_state: int = 0,
) -> None:
    r"""Growth rate of every cell, and the mass of the population over time.

    ``method="transport"`` (default) reads growth off the snapshots, beside the model. Between
    consecutive snapshots, unbalanced optimal transport (:mod:`wf_sc._core.growth`) decides how much
    of the change in proportions is growth and how much is motion: the number of descendants of a
    cell ``i`` over ``dt`` gives its rate ``g_i = log(descendants_i) / dt``. The rates are shrunk
    towards the prior by ``tau[0]``; their ranking is the robust readout. A population that moves as
    a whole also reads as growth at its front and death at its back (rates of about +-0.35 per unit
    time for a shift of one standard deviation per unit time): where motion dominates, give a prior
    or a larger ``tau[0]``.

    ``method="path"`` reads the growth field learned with the density path by a fit with
    ``wf.tl.Config(growth=True)`` (:mod:`wf_sc._core.growth_field`: the split of the fitted path
    into motion and growth of least Wasserstein-Fisher-Rao action): the instantaneous rate
    ``g(x, t)`` of each cell at its own time, available for any cell and time through
    :meth:`~wf_sc.tl.WeightFlow.growth_rate`. The field is learned on the populations that have a
    next time, so the last time point gets NaN, as with ``"transport"``. The field is fitted with
    the flow and adds nothing to it: the fit's drift, densities and predictions are those without
    it. Its rates are shrunk more than unbalanced transport's (``docs/method.md`` §9); their
    ranking is the robust readout. ``epsilon``, ``tau``, ``max_cells`` and ``random_state`` do not
    apply.

    Snapshots fix proportions, not sizes, so the population's total mass comes from ``prior``
    alone, in both methods. With ``"transport"``, the rates of each snapshot are shifted so that
    ``mean_i exp(g_i dt)`` equals ``mean_i exp(g^0_i dt)`` and the mass is the product of those
    means; with ``"path"``, only each snapshot's mean prior is used: the rates are shifted so that
    their mean over the snapshot equals it, and the mass grows between snapshots by the trapezoid
    of those means. Without a prior the rates are relative (mean growth 0) and the mass stays 1.

    Parameters
    ----------
    adata
        Annotated data matrix.
    time_key
        Column of ``adata.obs`` with each cell's time; default: the fit's.
    use_rep
        Representation the transport is computed in; default: the fit's (``"path"``: must be the fit's).
    method
        ``"transport"``: unbalanced optimal transport between the snapshots; ``"path"``: the growth
        field of the fit under ``uns[key]``.
    prior
        Column of ``adata.obs`` with prior growth rates ``g^0`` (natural log per unit of time, for
        example from proliferation and apoptosis scores); default: none (0). ``"path"`` uses each
        snapshot's mean of it.
    epsilon
        Entropic blur, in units of the median squared distance between consecutive snapshots.
    tau
        Relaxation of the source (growth) and target marginals; smaller ``tau[0]``: more growth.
    max_cells
        Cells per snapshot the transport is solved on; every cell gets a rate.
    key
        Namespace of the fit the defaults are read from.
    key_added
        Name of the outputs below.
    random_state
        Seed of the cells drawn when a snapshot has more than ``max_cells``.

    Returns
    -------
    Nothing; writes

    ``adata.obs['wf_growth']``
        Growth rate of each cell (towards the next time point with ``"transport"``, at its own time
        with ``"path"``; NaN at the last one), natural log per unit of time.
    ``adata.uns['wf_growth']``
        ``time`` (the time points), ``mass`` (total mass at each, 1 at the first), ``params``,
        ``keys`` and ``format``.
    """
    if method not in ("transport", "path"):
        raise ValueError(f"method must be 'transport' or 'path', got {method!r}")
    time_key, use_rep = _settings_from_fit(adata, key, time_key, use_rep)
    _keys.check_own(adata, key_added, _keys.GROWTH_FORMAT, obs=(key_added,))
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    if len(tau) != 2 or not all(np.isfinite(t) and t > 0 for t in tau):
        raise ValueError(f"tau must be two positive numbers (source, target), got {tau!r}")
    if isinstance(max_cells, bool) or not isinstance(max_cells, int | np.integer) or max_cells < 2:
        raise ValueError(f"max_cells must be an integer >= 2, got {max_cells!r}")
    t_cells, _ = encode_time(adata, time_key, warn=False)
    g0 = np.zeros(adata.n_obs)
    if prior is not None:
        if prior not in adata.obs.columns:
            raise KeyError(f"prior {prior!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})")
        g0 = adata.obs[prior].to_numpy(dtype=float)
        bad = np.isfinite(t_cells) & ~np.isfinite(g0)
        if bad.any():
            raise ValueError(f"prior {prior!r} is missing or not finite for {int(bad.sum())} cells")
    X = get_representation(adata, use_rep)
    times = np.unique(t_cells[np.isfinite(t_cells)])
    if len(times) < 2:
        raise ValueError(f"growth needs at least two time points in obs[{time_key!r}], found {len(times)}")
    if method == "transport":
        rates, mass = _by_transport(X, t_cells, times, g0, epsilon, tau, max_cells, random_state)
    else:
        rates, mass = _from_path(adata, key, use_rep, X, t_cells, times, g0)
    uns = {
        "format": _keys.GROWTH_FORMAT,
        "time": times,
        "mass": np.asarray(mass),
        "params": {"time_key": time_key, "use_rep": use_rep, "method": method, "prior": prior or "",
                   **({"epsilon": float(epsilon), "tau": np.asarray(tau, dtype=float), "max_cells": int(max_cells),
                       "random_state": int(random_state)} if method == "transport" else {})},
        "keys": {"growth": key_added},
    }
    write_or_restore(adata, {("obs", key_added): rates, ("uns", key_added): uns})
    log.info("growth rates of %d cells over %d intervals; mass %s", int(np.isfinite(rates).sum()), len(times) - 1,
             np.round(mass, 3).tolist())


def _by_transport(X, t_cells, times, g0, epsilon, tau, max_cells, random_state) -> tuple[np.ndarray, list[float]]:
    """Rates towards the next snapshot by unbalanced OT, shifted to the prior's mass; the mass at each time."""
    rates = np.full(len(X), np.nan)
    mass = [1.0]
    gen = torch.Generator().manual_seed(int(random_state))
    for t0, t1 in zip(times[:-1], times[1:]):
        src, dst = np.flatnonzero(t_cells == t0), np.flatnonzero(t_cells == t1)
        dt = float(t1 - t0)
        g = growth_rates(torch.as_tensor(X[src]), torch.as_tensor(X[dst]), dt, torch.as_tensor(g0[src]),
                         epsilon=float(epsilon), tau=(float(tau[0]), float(tau[1])), max_cells=int(max_cells),
                         generator=gen).numpy()
        g -= (np.log(np.mean(np.exp(g * dt))) - np.log(np.mean(np.exp(g0[src] * dt)))) / dt
        rates[src] = g
        mass.append(mass[-1] * float(np.mean(np.exp(g * dt))))
    return rates, mass


def _from_path(adata: AnnData, key: str, use_rep: str, X, t_cells, times, g0) -> tuple[np.ndarray, list[float]]:
    """Rates of the growth field learned with the path at each cell's time (NaN at the last), shifted to
    the prior's mean per time; the mass at each time by the trapezoid of the mean rates."""
    from ._model import WeightFlow

    model = WeightFlow.from_adata(adata, key)
    if model.use_rep != use_rep:
        raise ValueError(f"method='path' reads the fit under uns[{key!r}], made in {model.use_rep!r}, not {use_rep!r}")
    if model.core.growth is None:
        raise ValueError(
            f"the fit under uns[{key!r}] has no growth field; refit with "
            "wf.tl.fit(adata, ..., config=wf.tl.Config(growth=True)), or use method='transport'"
        )
    fitted = np.asarray(model.times, dtype=float)
    if len(times) != len(fitted) or not np.allclose(times, fitted):
        raise ValueError(f"the time points {times.tolist()} are not those of the fit under uns[{key!r}] ({fitted.tolist()})")
    rates = np.full(len(X), np.nan)
    rows = np.flatnonzero(np.isin(t_cells, times[:-1]))
    rates[rows] = model.growth_rate(X[rows], t_cells[rows])
    means = []
    for t in times:
        cells = t_cells == t
        means.append(float(g0[cells].mean()))
        if t < times[-1]:  # each snapshot's mean rate: the prior's (0 without one)
            rates[cells] += means[-1] - rates[cells].mean()
    mass = [1.0]
    for k in range(len(times) - 1):
        mass.append(mass[-1] * float(np.exp(0.5 * (means[k] + means[k + 1]) * (times[k + 1] - times[k]))))
    return rates, mass

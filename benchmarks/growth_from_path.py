"""Growth read off WeightFlow's fitted density path by a Wasserstein-Fisher-Rao split (measured, not adopted).

``docs/method.md`` §9 ("Growth read off the fitted path") quotes this script (one torch thread)::

    OMP_NUM_THREADS=1 python benchmarks/growth_from_path.py --seed 0   # and --seed 1, --seed 2
    OMP_NUM_THREADS=1 python benchmarks/growth_from_path.py --cases model --seed 0 \
        --set 'loss_weights={"ot_action": 2.0}'                        # a stronger action

Cases, each scored by the correlation of the estimated relative rate ``g - gbar`` with the truth:

- ``gaussian``: a translating Gaussian, whose split is known in closed form (``u = a/(a+s^2) D``,
  ``g - gbar = D.(x - mu_t)/(a+s^2)``, ``a = delta^2``): checks the estimator;
- ``truth``: :class:`wf_sc.datasets.BirthDeath` populations drawn exactly on a fine grid of times;
- ``model``: the same simulator's four snapshots, a default ``wf.tl.fit``, and the fitted path
  sampled on the fine grid; the rates of ``wf.tl.growth`` (unbalanced OT between the snapshots)
  beside it.

The estimator
-------------
Growth along a density path: the Wasserstein-Fisher-Rao split of a velocity into motion and growth.

A path of normalized densities ``p_t`` and a velocity ``v`` that carries it,
``d_t p + div(p v) = 0`` (the model's drift), fix how proportions change, not why: cells also
divide and die. With motion ``u`` and net growth rate ``g``, proportions change by

.. math:: \\partial_t p + \\nabla\\cdot(p\\,u) = (g - \\bar g_t)\\, p, \\qquad \\bar g_t = E_{p_t}[g],

and ``u = v, g = \\bar g`` is one solution among many. The one of least Wasserstein-Fisher-Rao
action (Chizat et al. 2018; Kondratyev et al. 2016)

.. math:: \\tfrac12\\, E_{p_t}\\big[\\,|u|^2 + \\delta^2 (g - \\bar g_t)^2\\big]

is ``u = grad phi``, ``g - gbar = (phi - E_p phi) / delta^2``, where the potential ``phi_t``
maximizes, at each ``t``, the concave dual

.. math:: J_t(\\varphi) = E_{p_t}[\\nabla\\varphi\\cdot v] - \\tfrac12 E_{p_t}|\\nabla\\varphi|^2
          - \\tfrac{1}{2\\delta^2}\\, \\mathrm{Var}_{p_t}(\\varphi),

because ``d/dt E_p[phi] = E_p[grad phi . v]`` for every test function ``phi``; the maximum is the
action itself. Integrated over the intervals of a time grid (:func:`wfr_dual`), the first term
becomes the change of ``E[phi]`` between the interval's ends, so the dual needs no velocity at all,
only cells drawn from ``p_t`` at the grid's times. ``delta`` is the length at which one e-fold of growth costs as much as moving a cell
that far: small ``delta`` explains changes by growth, large ``delta`` by motion (``delta -> inf``
leaves ``u``, the gradient part of ``v``, and no growth). Only ``g - gbar`` is identified; the mean
rate ``gbar_t`` (the total mass) needs outside information.

Everything here takes cells and times as plain tensors, drawn from the path by the caller; one
network ``phi(x, t)`` serves every time.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from torch import Tensor, nn




class Potential(nn.Module):
    """``phi(x, t)``: an MLP on standardized cells and times, output in units of ``length^2 / time``.

    Parameters
    ----------
    center, scale
        Per-dimension centre and spread of the cells (d,), used to standardize them.
    t_range
        First and last time.
    unit
        Output unit (``length^2 / time``), so that the network's raw output is of order one.
    width, depth
        Hidden units per layer and number of hidden layers.
    """

    def __init__(self, center: Tensor, scale: Tensor, t_range: tuple[float, float], unit: float,
                 width: int = 64, depth: int = 3):
        super().__init__()
        self.register_buffer("center", center.clone())
        self.register_buffer("scale", scale.clone())
        self.t0, self.span, self.unit = float(t_range[0]), float(t_range[1] - t_range[0]) or 1.0, float(unit)
        layers, n_in = [], center.numel() + 1
        for _ in range(depth):
            layers += [nn.Linear(n_in, width), nn.SiLU()]
            n_in = width
        self.net = nn.Sequential(*layers, nn.Linear(n_in, 1))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``phi`` at cells ``x`` (n, d) and their times ``t`` (n,): (n,)."""
        z = torch.cat([(x - self.center) / self.scale, ((t - self.t0) / self.span)[:, None]], dim=1)
        return self.unit * self.net(z)[:, 0]


def potential_and_gradient(phi: Potential, x: Tensor, t: Tensor, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """``phi(x, t)`` (n,) and ``grad_x phi`` (n, d)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        value = phi(x, t)
        (grad,) = torch.autograd.grad(value.sum(), x, create_graph=create_graph)
    return value, grad


def wfr_dual(value: Tensor, grad: Tensor, interval: Tensor, side: Tensor, gaps: Tensor, delta: float) -> Tensor:
    """The dual summed over the intervals of a time grid, per unit time:

    .. math:: \\frac1T \\sum_k \\Big(E_{p_{k+1}}[\\varphi_k] - E_{p_k}[\\varphi_k]
              - \\Delta_k\\big(\\tfrac12 E_{\\bar p_k}|\\nabla\\varphi_k|^2
              + \\tfrac{1}{2\\delta^2}\\mathrm{Var}_{\\bar p_k}(\\varphi_k)\\big)\\Big),

    the time integral of ``J_t`` over each interval ``[t_k, t_k+1]`` of length ``Delta_k``, with
    ``phi_k = phi(., s_k)`` at a time ``s_k`` inside it, ``E[grad phi . v] Delta_k`` read as the change
    ``E_{p_k+1}[phi_k] - E_{p_k}[phi_k]`` (no velocity needed: the path enters through its cells
    only), and ``pbar_k`` the two ends' cells pooled.

    ``value`` (n,) and ``grad`` (n, d) at the cells, each evaluated at its interval's ``s_k``;
    ``interval`` (n,) the interval index; ``side`` (n,) 0 for a cell of ``p_k``, 1 for ``p_k+1``;
    ``gaps`` (K,) the intervals' lengths (every interval with cells on both sides).
    """
    n_int = len(gaps)

    def mean(per_cell: Tensor, rows: Tensor) -> Tensor:
        total = torch.zeros(n_int, dtype=value.dtype, device=value.device).index_add_(0, interval[rows], per_cell[rows])
        count = torch.zeros_like(total).index_add_(0, interval[rows], torch.ones_like(per_cell[rows]))
        return total / count

    every = torch.ones_like(side, dtype=torch.bool)
    change = mean(value, side == 1) - mean(value, side == 0)
    centre = mean(value, every)
    cost = mean(0.5 * (grad**2).sum(1) + 0.5 * (value - centre[interval]) ** 2 / delta**2, every)
    return (change - gaps * cost).sum() / gaps.sum()


def fit_potential(
    x: Tensor,
    t: Tensor,
    delta: float,
    *,
    steps: int = 1000,
    cells_per_time: int = 128,
    lr: float = 2e-3,
    generator: torch.Generator | None = None,
) -> Potential:
    """The potential ``phi`` maximizing :func:`wfr_dual` for cells ``x`` (n, d) drawn from the path
    at times ``t`` (n,), in groups of equal times (a grid over the path, ends included).

    Every step uses up to ``cells_per_time`` cells of each time and reads each interval's ``phi_k``
    at a time drawn uniformly inside it (so ``phi`` is fitted at every time of the path, not only
    at the midpoints); Adam's rate decays by cosine to zero.
    """
    if not delta > 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    times, group = torch.unique(t, return_inverse=True)
    if len(times) < 2:
        raise ValueError("the path needs cells at two times at least")
    gaps = times[1:] - times[:-1]
    spread = x.std(0).clamp_min(1e-6)
    phi = Potential(x.mean(0), spread, (float(times[0]), float(times[-1])),
                    unit=float((spread**2).sum() / (times[-1] - times[0]))).to(x.device, x.dtype)
    rows = [torch.nonzero(group == k)[:, 0] for k in range(len(times))]
    opt = torch.optim.Adam(phi.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    # every step draws the same number of cells per time, so the interval and side of each row are fixed
    sizes = [min(cells_per_time, len(r)) for r in rows]
    interval = torch.cat([torch.full((sizes[k] + sizes[k + 1],), k, device=x.device) for k in range(len(gaps))])
    side = torch.cat([torch.cat([torch.zeros(sizes[k], device=x.device), torch.ones(sizes[k + 1], device=x.device)])
                      for k in range(len(gaps))])
    for _ in range(steps):
        drawn = [r[torch.randperm(len(r), generator=generator)[:cells_per_time].to(r.device)] for r in rows]
        pick = torch.cat([torch.cat([drawn[k], drawn[k + 1]]) for k in range(len(gaps))])
        when = times[:-1] + gaps * torch.rand(len(gaps), generator=generator, dtype=x.dtype).to(x.device)
        value, grad = potential_and_gradient(phi, x[pick], when[interval], create_graph=True)
        loss = -wfr_dual(value, grad, interval, side, gaps, delta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return phi


def relative_growth(phi: Potential, x: Tensor, t: Tensor, mean_phi: Tensor, delta: float) -> Tensor:
    """``g - gbar_t = (phi(x, t) - E_{p_t} phi) / delta^2`` at cells ``x`` (n,), ``mean_phi`` (n,) the
    population mean of ``phi`` at each cell's time."""
    with torch.no_grad():
        return (phi(x, t) - mean_phi) / delta**2


# ---------------------------------------------------------------------------------------- cases
def centred_growth(phi: Potential, x: Tensor, t: Tensor, delta: float, x_ref: Tensor, t_ref: Tensor) -> np.ndarray:
    """``g - gbar`` at cells ``x`` (times ``t``), ``E_{p_t} phi`` taken over the cells ``x_ref`` of each time."""
    with torch.no_grad():
        ref = phi(x_ref, t_ref)
    mean = {float(s): ref[t_ref == s].mean() for s in torch.unique(t_ref)}
    return relative_growth(phi, x, t, torch.stack([mean[float(s)] for s in t]), delta).numpy()


def pooled_spread(x: np.ndarray, t: np.ndarray) -> float:
    """``delta``: root of the mean over times of the total variance of the cells (the population's spread)."""
    return float(np.sqrt(np.mean([np.trace(np.atleast_2d(np.cov(x[t == s].T))) for s in np.unique(t)])))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def case_gaussian(steps: int, seed: int = 0) -> dict:
    """A Gaussian (sd 0.7) translating at D = (1.5, -0.5) over 11 times, delta = 1: the closed-form split."""
    torch.manual_seed(seed)  # the potential's initial weights
    gen = torch.Generator().manual_seed(seed)
    grid, n, sd, D, delta = torch.linspace(0, 1, 11), 1024, 0.7, torch.tensor([1.5, -0.5]), 1.0
    x = torch.cat([torch.randn(n, 2, generator=gen) * sd + D * s for s in grid])
    t = grid.repeat_interleave(n)
    phi = fit_potential(x, t, delta, steps=steps, generator=gen)
    _, grad = potential_and_gradient(phi, x, t)
    w = centred_growth(phi, x, t, delta, x, t)
    truth = (((x - D * t[:, None]) @ D) / (delta**2 + sd**2)).numpy()
    return {"corr": corr(w, truth), "slope": float(np.polyfit(truth, w, 1)[0]),
            "motion": grad.mean(0).numpy(), "motion_expected": (delta**2 / (delta**2 + sd**2) * D).numpy()}


def case_birth_death(source: str, steps: int, n_grid: int = 31, cells: int = 1024, seed: int = 0,
                     settings: dict | None = None) -> dict:
    """Relative rates at the four snapshot times 0, 0.5, 1, 1.5 of :class:`wf_sc.datasets.BirthDeath`,
    from its exact populations (``truth``) or from a default fit on 800-cell snapshots (``model``)."""
    import wf_sc as wf

    sim = wf.datasets.BirthDeath()
    snap_times = (0.0, 0.5, 1.0, 1.5)
    grid = np.unique(np.concatenate([np.linspace(0.0, 1.5, n_grid), snap_times]))
    snaps = sim.sample(times=snap_times, n_cells=800, random_state=seed)
    X, tc = np.asarray(snaps.X, dtype=np.float64), snaps.obs["time"].to_numpy()
    delta = pooled_spread(X, tc)
    if source == "truth":
        path = sim.sample(times=tuple(grid), n_cells=cells, random_state=seed + 1)
        xs, ts = np.asarray(path.X, dtype=np.float64), path.obs["time"].to_numpy()
    else:
        wf.tl.fit(snaps, "time", use_rep="X", progress=False, random_state=seed,
                  config=wf.tl.Config.from_dict({"loss_weights": {"ot_accel": 0.0}, **(settings or {})}))  # as in the CSV
        model = wf.tl.WeightFlow.from_adata(snaps)
        xs = np.concatenate([model.sample(s, cells, random_state=seed + i) for i, s in enumerate(grid)])
        ts = np.repeat(grid, cells)
    x, t = torch.as_tensor(xs, dtype=torch.float32), torch.as_tensor(ts, dtype=torch.float32)
    torch.manual_seed(seed)  # the potential's initial weights
    phi = fit_potential(x, t, delta, steps=steps, generator=torch.Generator().manual_seed(seed))
    w = centred_growth(phi, torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(tc, dtype=torch.float32),
                       delta, x, t)
    on_path = centred_growth(phi, x, t, delta, x, t)
    truth = snaps.obs["true_growth"].to_numpy()
    out = {"delta": delta, "grid": grid.tolist(), "snapshots": [corr(w[tc == s], truth[tc == s]) for s in snap_times],
           "path_median": float(np.median([corr(on_path[ts == s], sim.growth(xs[ts == s])) for s in grid]))}
    out["path_mean_x2"] = [float(xs[ts == s, 1].mean()) for s in grid]
    if source == "model":
        wf.tl.growth(snaps, "time", use_rep="X")
        uot = snaps.obs["wf_growth"].to_numpy()
        out["uot"] = [corr(uot[tc == s], truth[tc == s]) for s in snap_times[:-1]]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/growth_from_path.py", description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=["gaussian", "truth", "model"], choices=["gaussian", "truth", "model"])
    p.add_argument("--steps", type=int, default=1000, help="Adam steps of the potential")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="WeightFlow settings of the model case other than the defaults (VALUE is JSON where it parses)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for case in args.cases:
        start = time.perf_counter()
        if case == "gaussian":
            r = case_gaussian(args.steps, args.seed)
            print(f"gaussian: corr {r['corr']:.3f}, slope {r['slope']:.3f}; mean motion {np.round(r['motion'], 3)} "
                  f"(closed form {np.round(r['motion_expected'], 3)})", end="")
        else:
            from wf_sc.benchmark import parse_settings

            r = case_birth_death(case, args.steps, seed=args.seed, settings=parse_settings(args.set))
            print(f"{case}: delta {r['delta']:.3f}; corr at t = 0, 0.5, 1, 1.5: "
                  f"{', '.join(f'{c:.2f}' for c in r['snapshots'])}; median over the path's {len(r['grid'])} times "
                  f"{r['path_median']:.2f}", end="")
            print(f"; mean x2 on the path at t = {', '.join(f'{s:.2f}' for s in r['grid'])}: "
                  f"{', '.join(f'{m:.2f}' for m in r['path_mean_x2'])}", end="")
            if "uot" in r:
                print(f"; wf.tl.growth (unbalanced OT) at t = 0, 0.5, 1: {', '.join(f'{c:.2f}' for c in r['uot'])}", end="")
        print(f" ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

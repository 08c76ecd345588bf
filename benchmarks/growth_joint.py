"""Growth learned with the density path: a Wasserstein-Fisher-Rao action in Stage 2 (probe).

Stage 2's ``ot_action`` measures the balanced Benamou-Brenier action of the model's population
path, ``sum_m W2^2(p_m, p_{m+1}) / dtau_m / d``. This probe replaces it, for one fit, by the
unbalanced (Wasserstein-Fisher-Rao) action with a relative growth rate ``g_psi(x, tau)`` (an MLP
trained jointly with the field):

.. math:: A = \\sum_m \\Big[\\frac{W_2^2(a^m \\cdot p_m,\\; p_{m+1})}{d\\,\\Delta\\tau_m}
          + \\frac{\\delta^2}{d}\\, \\Delta\\tau_m\\, \\mathrm{Var}_{p_m}(g_\\psi)\\Big],
          \\qquad a^m_i \\propto e^{\\Delta\\tau_m\\, g_\\psi(x^m_i, \\tau_m)},

the cells ``x^m`` of population ``m`` weighted by the mass their lineages have one step later.
``delta`` is the population's spread (``delta^2 = d`` in standardized coordinates, so the
growth penalty is ``dtau Var(g)``): one e-fold of relative growth costs as much as moving a cell
by one spread. Growth then explains the change in proportions where that is cheaper than motion,
and the path itself is shaped by the unbalanced action.

Scored on :class:`wf_sc.datasets.BirthDeath` (the snapshots of ``tests/test_growth.py``): the
correlation of ``g_psi`` (per real time unit, centred per time) with the true rate at the snapshot
cells and on the model's path, beside ``wf.tl.growth`` (unbalanced OT between the snapshots)::

    OMP_NUM_THREADS=1 python benchmarks/growth_joint.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import ot
import torch
from torch import nn


class GrowthNet(nn.Module):
    """``g_psi(x, tau)``: relative growth per unit of normalized time, starting at 0 everywhere."""

    def __init__(self, dim: int, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim + 1, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                                 nn.Linear(width, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        t = tau.expand(len(x), 1) if tau.dim() == 0 else tau.reshape(-1, 1).expand(len(x), 1)
        return self.net(torch.cat([x, t.to(x.dtype)], dim=1)).squeeze(1)


def wfr_action(core, seg, n_cells, sample_generator, per_interval=2, clock=None):
    """The unbalanced action of the module notes (the growth net is ``core.field.growth_net``)."""
    from wf_sc._core.objectives import bridged_states, macro_points

    net = core.field.growth_net
    d = core.config.dim
    points = macro_points(seg, per_interval)
    real = seg.grid[points]
    times = real if clock is None else clock(real)
    states = bridged_states(core, seg) if core.config.bridge else seg.states
    u = torch.rand(n_cells, d, generator=sample_generator, dtype=seg.states.dtype, device=seg.states.device)
    theta = states[points]
    cells = core.backbone.reparameterize(theta, core.backbone.quantile(theta.detach(), u))
    b = torch.full((n_cells,), 1.0 / n_cells, dtype=torch.float64)
    total = 0.0
    for m in range(len(points) - 1):
        dtau = (times[m + 1] - times[m]).abs().clamp_min(1e-12)
        dreal = (real[m + 1] - real[m]).abs()
        g = net(cells[m].detach(), real[m])
        a = torch.softmax((g * dreal).double(), 0)
        cost = ((cells[m][:, None, :] - cells[m + 1][None, :, :]) ** 2).sum(-1).double()
        w2 = ot.emd2(a, b, cost, numItermax=1_000_000)
        total = total + w2.to(g.dtype) / dtau / d + dreal * g.var(unbiased=False)
    return total


def fit_with_growth(adata, seed: int, settings: dict):
    """``wf.tl.fit`` with the ``ot_action`` term replaced by :func:`wfr_action`; returns the fitted core and growth net."""
    import wf_sc as wf
    from wf_sc._core import pipeline, stage2

    captured = {}
    original_train, original_action = pipeline.train_field, stage2.population_ot_action

    def train(core, snapshots, **kw):
        core.field.growth_net = GrowthNet(core.config.dim).to(core.x_mean.device)
        captured["core"] = core
        try:
            return original_train(core, snapshots, **kw)
        finally:  # the saved model stays a plain fit; the net is kept beside it
            captured["net"] = core.field.growth_net
            del core.field.growth_net

    pipeline.train_field, stage2.population_ot_action = train, wfr_action
    try:
        wf.tl.fit(adata, "time", use_rep="X", progress=False, random_state=seed,
                  config=wf.tl.Config.from_dict(settings))
    finally:
        pipeline.train_field, stage2.population_ot_action = original_train, original_action
    return captured["core"], captured["net"]


def rates(core, net, x: np.ndarray, t: float) -> np.ndarray:
    """``g_psi`` at real cells ``x`` and real time ``t``, per real time unit."""
    lo, hi = (float(v) for v in core.t_range)
    with torch.no_grad():
        xs = (torch.as_tensor(x, dtype=torch.float32) - core.x_mean) / core.x_scale
        g = net(xs, torch.tensor((t - lo) / (hi - lo)))
    return g.numpy() / (hi - lo)


def corr(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/growth_joint.py", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    import wf_sc as wf
    from wf_sc.benchmark import parse_settings

    settings = parse_settings(args.set)
    sim = wf.datasets.BirthDeath()
    snap_times = (0.0, 0.5, 1.0, 1.5)
    grid = np.linspace(0.0, 1.5, 16)
    for seed in args.seeds:
        start = time.perf_counter()
        snaps = sim.sample(times=snap_times, n_cells=800, random_state=seed)
        X, tc, truth = np.asarray(snaps.X, dtype=np.float64), snaps.obs["time"].to_numpy(), snaps.obs["true_growth"].to_numpy()
        core, net = fit_with_growth(snaps, seed, settings)
        at_snaps = [corr(rates(core, net, X[tc == s], s), truth[tc == s]) for s in snap_times]
        slopes = [float(np.polyfit(truth[tc == s], rates(core, net, X[tc == s], s), 1)[0]) for s in snap_times]
        model = wf.tl.WeightFlow.from_adata(snaps)
        on_path = []
        for i, s in enumerate(grid):
            xs = model.sample(float(s), 1000, random_state=seed + i)
            on_path.append(corr(rates(core, net, xs, float(s)), sim.growth(xs)))
        wf.tl.growth(snaps, "time", use_rep="X")
        uot = snaps.obs["wf_growth"].to_numpy()
        print(f"seed {seed}: corr at t = 0, 0.5, 1, 1.5: {', '.join(f'{c:.2f}' for c in at_snaps)}; "
              f"slope {', '.join(f'{c:.2f}' for c in slopes)}; on the path (16 times) median {np.median(on_path):.2f}, "
              f"min {min(on_path):.2f}; wf.tl.growth at 0, 0.5, 1: "
              f"{', '.join(f'{corr(uot[tc == s], truth[tc == s]):.2f}' for s in snap_times[:-1])} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

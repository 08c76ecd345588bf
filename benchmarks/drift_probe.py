"""The per-cell drift's numerics and costs that ``docs/performance.md`` and ``docs/method.md`` quote.

- ``dual``: forward-mode arithmetic on a 2,048 x 5 tensor carrying a tangent, with a number, with a
  plain tensor and with another tangent-carrying tensor (microseconds per operation, the minimum of
  3 x 200 calls, one thread): why the drift writes its last tangents out
  (:func:`wf_sc._core.drift.mixture_cdf_tangent`);
- ``precision``: the float32 drift's error against the float64 drift of the same code, in units of
  the float64 drift's root mean square, at 10 and 50 dimensions (an untrained backbone, weights
  perturbed, 4,096 cells drawn wider than the model so that some sit in its tails). Run it with
  ``PYTHONPATH`` set to another checkout to measure that code's drift;
- ``batch``: on a 2-D gradient flow fitted as ``tests/test_tl.py`` fits it, each cell's drift from
  one query over 40 times against the same cell queried alone (the largest relative difference;
  before commit ``17e3f75`` the integration grid held every queried time, ``docs/method.md`` §5);
- ``consistency``: on the same fit, cells transported a short time forward and back against their
  drift, for several ``query_steps`` (how finely the fitted path is read)::

    python benchmarks/drift_probe.py --only dual precision batch consistency
"""

from __future__ import annotations

import argparse
import sys
import timeit


def dual() -> None:
    import torch
    import torch.autograd.forward_ad as fwAD

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    a, plain, t = (torch.randn(2048, 5, generator=gen) for _ in range(3))
    with fwAD.dual_level():
        d, e = fwAD.make_dual(a, t), fwAD.make_dual(plain, t)
        cases = {"dual * number": lambda: d * 0.5, "dual + number": lambda: d + 1.0,
                 "dual * plain": lambda: d * plain, "dual - plain": lambda: d - plain,
                 "dual * dual": lambda: d * e, "dual - dual": lambda: d - e}
        for name, fn in cases.items():
            us = min(timeit.repeat(fn, number=200, repeat=3)) / 200 * 1e6
            print(f"dual: {name:14s} {us:7.1f} us")


def precision() -> None:
    import torch

    from wf_sc._core.backbone import GRUMDN
    from wf_sc._core.drift import transport_drift

    torch.set_num_threads(2)
    for d in (10, 50):
        bb = GRUMDN(d)
        gen = torch.Generator().manual_seed(d)
        theta = bb.init(gen) + 0.3 * torch.randn(bb.n_params, generator=gen)
        theta_dot = 0.1 * torch.randn(bb.n_params, generator=gen)
        x = 1.5 * torch.randn(4096, d, generator=gen)
        ref = transport_drift(bb, theta.double(), theta_dot.double(), x.double())
        err = (transport_drift(bb, theta, theta_dot, x).double() - ref).abs() / ref.pow(2).mean().sqrt()
        print(f"precision d={d}: float32 error / rms: median {float(err.median()):.1e}, "
              f"99th percentile {float(err.quantile(0.99)):.1e}, largest {float(err.max()):.1e}")


def _test_fit():
    """The 2-D gradient flow fitted as ``tests/test_tl.py`` fits it (time 1 held out)."""
    import torch

    import wf_sc as wf

    torch.set_num_threads(1)
    flow = wf.datasets.GradientFlow(dim=2, random_state=0)
    adata = flow.sample(times=(0.0, 0.5, 1.5, 2.0), n_cells=400, random_state=1)
    wf.tl.fit(adata, "time", use_rep="X", random_state=0, config=wf.tl.Config(stage2_steps=80), progress=False)
    return adata, wf.tl.WeightFlow.from_adata(adata)


def batch() -> None:
    import numpy as np

    adata, model = _test_fit()
    X = np.asarray(adata.X, dtype=np.float32)[:40]
    t = np.linspace(0.1, 1.9, 40)
    together = model.drift(X, t)
    alone = np.stack([model.drift(X[i : i + 1], t[i : i + 1])[0] for i in range(len(t))])
    diff = np.abs(together - alone).max(1)
    rel, rms = diff / np.abs(alone).max(1), np.sqrt((alone**2).mean())
    print(f"batch: drift among 40 times against alone, per cell relative to its largest component: "
          f"median {np.median(rel):.2%}, largest {rel.max():.2%}; largest difference / rms of all "
          f"cells' drift {diff.max() / rms:.2%}")


def consistency() -> None:
    """The cells of time 0.5 transported to 1 (the held-out time), then 0.01 forward and back: the
    central difference against the drift at 1, per ``query_steps``."""
    import numpy as np

    adata, model = _test_fit()
    x0 = adata.X[adata.obs["time"].to_numpy() == 0.5]
    for q in (4, 8, 16, 32, 64):
        model.core.config.query_steps = q
        there, h = model.transport(x0, 0.5, 1.0), 1e-2
        step = (model.transport(there, 1.0, 1.0 + h) - model.transport(there, 1.0, 1.0 - h)) / (2 * h)
        v = model.drift(there, 1.0)
        rel = np.linalg.norm(step - v, axis=1) / np.linalg.norm(v, axis=1)
        print(f"consistency query_steps={q}: |transport difference - drift| / |drift|, median {np.median(rel):.2%}, "
              f"90th percentile {np.quantile(rel, 0.9):.2%}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/drift_probe.py", description=__doc__.splitlines()[0])
    probes = {"dual": dual, "precision": precision, "batch": batch, "consistency": consistency}
    p.add_argument("--only", nargs="+", choices=list(probes), default=list(probes))
    args = p.parse_args(argv)
    for name in args.only:
        probes[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main())

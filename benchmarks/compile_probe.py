"""Does ``torch.compile`` pay off for the backbone's likelihood step? Eager against compiled.

Times one Stage-1 step (minus mean log-likelihood of 256 cells and its gradient with respect to the
flat weights) of the GRU mixture-density backbone at the package's default size, eager and after
``torch.compile``, on one torch thread, and the time compiling took. With ``--gru-update`` only the
GRU update's elementwise part (the gates and the state update, dynamic shapes) is compiled and the
matrix products stay eager::

    python benchmarks/compile_probe.py --dim 30
    python benchmarks/compile_probe.py --dim 50 --gru-update
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    import torch

    from wf_sc._core.backbone import GRUMDN
    from wf_sc.tl import Config

    p = argparse.ArgumentParser(prog="python benchmarks/compile_probe.py", description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=30)
    p.add_argument("--cells", type=int, default=256)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--gru-update", action="store_true", help="compile only the GRU update's elementwise part")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    config = Config()
    net = GRUMDN(args.dim, hidden=config.hidden, n_components=config.n_components)
    theta = net.init(torch.Generator().manual_seed(0)).requires_grad_(True)
    x = torch.randn(args.cells, args.dim, generator=torch.Generator().manual_seed(1))

    def step(theta, x):
        return -net.log_prob(theta, x).mean()

    def seconds_per_step(fn, reps):
        loss = None
        start = time.perf_counter()
        for _ in range(reps):
            loss = fn(theta, x)
            torch.autograd.grad(loss, theta)
        return (time.perf_counter() - start) / reps, float(loss.detach())

    seconds_per_step(step, 3)  # warm-up
    eager, loss_eager = seconds_per_step(step, args.reps)
    start = time.perf_counter()
    if args.gru_update:
        from wf_sc._core import backbone

        def update(gi, gh, h, H: int):
            gi_rz, gi_n = gi.split((2 * H, H), dim=-1)
            gh_rz, gh_n = gh.split((2 * H, H), dim=-1)
            r, z = torch.sigmoid(gi_rz + gh_rz).chunk(2, dim=-1)
            n = torch.tanh(gi_n + r * gh_n)
            return n + z * (h - n)

        fused = torch.compile(update, dynamic=True)
        net._gru = lambda maps, gi, h: fused(gi, backbone._affine(*maps.rec, h), h, net.hidden)
        compiled = step
    else:
        compiled = torch.compile(step, dynamic=False)
    seconds_per_step(compiled, 1)
    compiling = time.perf_counter() - start
    fast, loss_fast = seconds_per_step(compiled, args.reps)
    print(f"dim {args.dim}, {args.cells} cells: eager {eager * 1e3:.1f} ms/step (loss {loss_eager:.5f}), "
          f"compiled {fast * 1e3:.1f} ms/step (loss {loss_fast:.5f}), compiling took {compiling:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

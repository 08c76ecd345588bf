"""Would a masked autoregressive backbone (MADE) be faster than the GRU? Speed and size, one thread.

The GRU backbone walks the ``d`` coordinates one after another; a MADE (Germain et al. 2015) reads
all conditionals of a cell in one masked pass. This probe times both on the same work, with
``K`` Gaussian components per conditional and flat weights as the model uses them:

- ``likelihood``: one Stage-1 step (minus the mean log-likelihood of ``--cells`` cells and its
  gradient with respect to the flat weights);
- ``sample``: drawing ``--cells`` cells (both sequential over the coordinates).

It also prints the length of each flat weight vector, the CDE's state. Not a model: the MADE here
is a bare function (one masked hidden layer, ``--made-hidden`` units)::

    python benchmarks/made_probe.py --dim 30 50
"""

from __future__ import annotations

import argparse
import math
import sys
import time


def made_masks(dim: int, hidden: int):
    """Masks of a one-hidden-layer MADE: input->hidden (hidden, dim), hidden->output (dim, hidden)."""
    import torch

    degree_in = torch.arange(1, dim + 1)
    degree_hidden = torch.arange(hidden) % max(dim - 1, 1) + 1
    first = (degree_hidden[:, None] >= degree_in[None, :]).float()
    second = (degree_in[:, None] > degree_hidden[None, :]).float()  # output j reads degrees < j
    return first, second


class MADE:
    """A one-hidden-layer MADE mixture density on flat weights ``theta``."""

    def __init__(self, dim: int, hidden: int, n_components: int):
        self.dim, self.hidden, self.K = dim, hidden, n_components
        self.m1, self.m2 = made_masks(dim, hidden)
        self.sizes = (hidden * dim, hidden, 3 * n_components * dim * hidden, 3 * n_components * dim)

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    def init(self, generator):
        import torch

        return (torch.rand(self.n_params, generator=generator) * 2 - 1) * 0.1

    def params(self, theta, x):
        import torch

        W1, b1, W2, b2 = torch.split(theta, self.sizes)
        W1 = W1.reshape(self.hidden, self.dim) * self.m1
        W2 = W2.reshape(self.dim, 3 * self.K, self.hidden) * self.m2[:, None, :]
        h = torch.relu(x @ W1.T + b1)
        out = torch.einsum("nh,dkh->ndk", h, W2) + b2.reshape(self.dim, 3 * self.K)
        K = self.K
        return torch.log_softmax(out[..., :K], -1), out[..., K : 2 * K], out[..., 2 * K :].clamp(-4, 2)

    def log_prob(self, theta, x):
        import torch

        log_pi, mu, log_sigma = self.params(theta, x)
        z = (x[..., None] - mu) * torch.exp(-log_sigma)
        return torch.logsumexp(log_pi - 0.5 * z**2 - log_sigma - 0.5 * math.log(2 * math.pi), -1).sum(-1)

    def sample(self, theta, n, generator):
        import torch

        x = torch.zeros(n, self.dim)
        rows = torch.arange(n)
        with torch.no_grad():
            for j in range(self.dim):
                log_pi, mu, log_sigma = self.params(theta, x)
                k = torch.multinomial(torch.exp(log_pi[:, j]), 1, generator=generator)[:, 0]
                x[:, j] = mu[rows, j, k] + torch.exp(log_sigma[rows, j, k]) * torch.randn(n, generator=generator)
        return x


def seconds(fn, reps: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main(argv: list[str] | None = None) -> int:
    import torch

    from wf_sc._core.backbone import GRUMDN
    from wf_sc.tl import Config

    p = argparse.ArgumentParser(prog="python benchmarks/made_probe.py", description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, nargs="+", default=[30, 50])
    p.add_argument("--cells", type=int, default=256)
    p.add_argument("--made-hidden", type=int, default=64)
    p.add_argument("--reps", type=int, default=10)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    config = Config()
    print("| d | backbone | flat weights | likelihood step (ms) | sample (ms) |")
    print("|---:|---|---:|---:|---:|")
    for d in args.dim:
        x = torch.randn(args.cells, d, generator=torch.Generator().manual_seed(0))
        gru = GRUMDN(d, config.hidden, config.n_components)
        made = MADE(d, args.made_hidden, config.n_components)
        for name, net in (("GRU", gru), ("MADE", made)):
            theta = net.init(torch.Generator().manual_seed(1)).requires_grad_(True)

            def step(net=net, theta=theta):
                torch.autograd.grad(-net.log_prob(theta, x).mean(), theta)

            def draw(net=net, theta=theta):
                net.sample(theta.detach(), args.cells, torch.Generator().manual_seed(2))

            print(f"| {d} | {name} | {net.n_params:,} | {seconds(step, args.reps) * 1e3:.1f} | "
                  f"{seconds(draw, args.reps) * 1e3:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

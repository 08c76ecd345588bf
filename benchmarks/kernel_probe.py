"""Exact rewrites of the package's kernels, measured (one adopted), and the per-cell drift against its chunk size.

``docs/performance.md`` quotes this script (one torch thread; the minimum over ``--reps`` repeats)::

    OMP_NUM_THREADS=1 python benchmarks/kernel_probe.py

- ``gru``: one Stage-1 step (log-likelihood of 256 cells and its gradient) with the backbone's own
  recurrence (:meth:`wf_sc._core.backbone.GRUMDN.conditionals`) against torch's fused ``torch.gru``;
- ``attention``: one layer of torch_geometric's ``TransformerConv`` on the weight graph, forward and
  backward, against the field's masked dense form with the same weights
  (:class:`wf_sc._core.vector_field.GraphAttention`, adopted: the graph is almost complete);
- ``stage2``: Stage 2 of a fit on EMT 10-D (a tiny Stage 1), with the dense attention and with
  ``TransformerConv`` on the same weights, alternating in one process (the minimum over repeats);
- ``drift``: the per-cell transport drift of a fitted 50-D model (tiny budgets; the cost does not
  depend on the training) for 8,192 cells at each of 6 times, in chunks of 2,048 and of 8,192 cells
  (the minimum of two repeats); then, at each torch thread count of ``--threads``, the drift, the
  log-density and both from one pass (:meth:`wf_sc.tl.WeightFlow.drift_and_log_density`, what
  ``wf.tl.fit`` writes);
- ``queries``: the per-cell outputs ``wf.tl.fit`` writes (drift and log-density in one pass) at
  several sizes (``--cells`` per time point, 6 times) and dimensions (``--dims``), at each torch
  thread count of ``--threads`` (the minimum of ``--reps`` repeats, alternating thread counts);
- ``stack``: one Stage-1 step (the NLL of 256 cells per weight vector, its gradient and an AdamW
  update) for a stack of M = 1, 2 and 5 weight vectors evaluated in one pass, at each of ``--dims``:
  whether the step's cost is per-call overhead (flat in M) or arithmetic (linear in M);
- ``import``: the first ``import torch_geometric``, and of torch's compiler ``torch._dynamo`` (which
  ``torch.optim`` and forward-mode differentiation import), in a fresh process.

Each comparison prints the largest difference between the two results.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time


def best_ms(fn, reps: int, inner: int) -> float:
    """Minimum over ``reps`` repeats of the mean time of ``inner`` calls, in ms."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner * 1e3)
    return min(times)


def fused_conditionals(bb, theta, x):
    """``GRUMDN.conditionals`` with the recurrence in ``torch.gru`` (one weight vector only)."""
    import torch

    W_in, W_rec, W_head = bb.unflatten(theta)
    n, d = x.shape
    x_prev = torch.cat([x.new_zeros(1, n), x.T[:-1]])
    inputs = torch.cat([x_prev[..., None], torch.eye(d, dtype=x.dtype)[:, None, :].expand(d, n, d)], -1)
    weights = [W_in[:, :-1], W_rec[:, :-1], W_in[:, -1], W_rec[:, -1]]
    states, _ = torch.gru(inputs, x.new_zeros(1, n, bb.hidden), weights, True, 1, 0.0, True, False, False)
    params = bb._head(bb.maps(theta), states.transpose(0, 1).flatten(-3, -2))
    return tuple(p.unflatten(-2, (n, d)) for p in params)


def gru(reps: int, dims=(10, 30, 50)) -> None:
    import torch

    from wf_sc._core.backbone import GRUMDN

    for d in dims:
        bb = GRUMDN(d, 32, 5)
        theta = bb.init(torch.Generator().manual_seed(0)).requires_grad_()
        x = torch.randn(256, d, generator=torch.Generator().manual_seed(1))

        def step(conditionals):
            log_pi, mu, log_sigma = conditionals(theta, x)
            z = (x[..., None] - mu) * torch.exp(-log_sigma)
            return torch.autograd.grad(torch.logsumexp(log_pi - 0.5 * z**2 - log_sigma, -1).sum(), theta)[0]

        own, fused = bb.conditionals, lambda t, y: fused_conditionals(bb, t, y)
        diff = max(float((a - b).abs().max()) for a, b in zip(own(theta.detach(), x), fused(theta.detach(), x)))
        print(f"gru d={d}: own {best_ms(lambda: step(own), reps, 20):.1f} ms, "
              f"torch.gru {best_ms(lambda: step(fused), reps, 20):.1f} ms per step (max difference {diff:.1e})")


def stack(reps: int, dims=(10, 50), stacks=(1, 2, 5)) -> None:
    import torch

    from wf_sc._core.backbone import GRUMDN

    for d in dims:
        bb = GRUMDN(d, 32, 5)
        gen = torch.Generator().manual_seed(0)
        for m in stacks:
            theta = torch.stack([bb.init(gen) for _ in range(m)]).requires_grad_(True)
            x = torch.randn(m, 256, d, generator=gen)
            opt = torch.optim.AdamW([theta], lr=5e-3)

            def step(theta=theta, x=x, opt=opt):
                loss = -bb.log_prob(theta, x).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()

            print(f"stack d={d} M={m}: {best_ms(step, reps, 20):.1f} ms per Stage-1 step")


def attention(reps: int) -> None:
    import torch
    from torch_geometric.nn import TransformerConv

    from wf_sc._core.backbone import GRUMDN
    from wf_sc._core.vector_field import GraphAttention
    from wf_sc._core.weight_graph import build_weight_graph

    graph = build_weight_graph(GRUMDN(10, 32, 5))
    n = graph.n_nodes
    torch.manual_seed(0)
    conv = TransformerConv(64, 32, heads=2)
    dense_conv = GraphAttention(64, 32, 2, graph.edge_index, n)
    dense_conv.load_state_dict(conv.state_dict())
    x = torch.randn(n, 64, requires_grad=True)
    with torch.no_grad():
        diff = float((dense_conv(x) - conv(x, graph.edge_index)).abs().max())
    pyg = best_ms(lambda: conv(x, graph.edge_index).sum().backward(), reps, 100)
    dense = best_ms(lambda: dense_conv(x).sum().backward(), reps, 100)
    print(f"attention: {n} nodes, {graph.edge_index.shape[1]} of {n * (n - 1)} ordered pairs; TransformerConv "
          f"{pyg:.2f} ms, dense {dense:.2f} ms per layer, forward and backward (max difference {diff:.1e})")


def stage2(reps: int, steps: int = 60) -> None:
    """Stage 2 of a default fit on EMT 10-D (tiny Stage 1, ``steps`` Stage-2 steps), with the field's
    dense attention and with torch_geometric's ``TransformerConv`` on the same weights, alternating
    in one process; the minimum over ``reps`` fits of the Stage-2 seconds."""
    from torch_geometric.nn import TransformerConv

    import wf_sc as wf
    from wf_sc._core import vector_field

    class EdgeAttention(vector_field.GraphAttention):
        """The same layer computed by ``TransformerConv`` along the edges."""

        def __init__(self, width, channels, heads, edge_index, n_nodes):
            super().__init__(width, channels, heads, edge_index, n_nodes)
            self.register_buffer("edge_index", edge_index.clone(), persistent=False)
            conv = TransformerConv(width, channels, heads=heads)
            conv.lin_key, conv.lin_query, conv.lin_value, conv.lin_skip = (
                self.lin_key, self.lin_query, self.lin_value, self.lin_skip)
            self.__dict__["conv"] = conv  # shares the parameters, not registered twice

        def forward(self, h):
            return self.conv(h, self.edge_index)

    adata = wf.datasets.emt(dims=10)
    config = wf.tl.Config(stage1_max_steps_first=30, stage1_max_steps=10, stage2_steps=steps)
    dense_layer, seconds = vector_field.GraphAttention, {"dense": [], "TransformerConv": []}
    try:
        for _ in range(reps):
            for name, layer in (("dense", dense_layer), ("TransformerConv", EdgeAttention)):
                vector_field.GraphAttention = layer
                fit = adata.copy()
                wf.tl.fit(fit, "time", use_rep="X", progress=False, config=config)
                seconds[name].append(fit.uns["weightflow"]["history"]["stage2"]["seconds"])
    finally:
        vector_field.GraphAttention = dense_layer
    print(f"stage2 emt10, {steps} steps: dense {min(seconds['dense']):.2f} s, TransformerConv "
          f"{min(seconds['TransformerConv']):.2f} s (minimum of {reps})")


def tiny_model(dim: int):
    """A WeightFlow fitted with tiny budgets to a ``dim``-D gradient flow at 6 times: ``(flow, times, model)``.

    A query's cost depends on the model's size, not on how well it is trained.
    """
    import numpy as np

    import wf_sc as wf

    flow = wf.datasets.GradientFlow(dim=dim, random_state=0)
    times = tuple(np.linspace(0, 2, 6))
    adata = flow.sample(times=times, n_cells=200, random_state=0)
    config = wf.tl.Config(stage1_max_steps_first=20, stage1_max_steps=10, stage2_steps=2)
    wf.tl.fit(adata, "time", use_rep="X", progress=False, config=config)
    return flow, times, wf.tl.WeightFlow.from_adata(adata)


def drift(reps: int, dim: int = 50, cells: int = 8192, threads_list: tuple[int, ...] = (1,)) -> None:
    import numpy as np

    flow, times, model = tiny_model(dim)
    big = flow.sample(times=times, n_cells=cells, random_state=1)
    x, t = np.asarray(big.X), big.obs["time"].to_numpy()
    for chunk in (2048, 8192):
        ms = best_ms(lambda: model.drift(x, t, chunk=chunk), min(reps, 2), 1)
        print(f"drift d={dim}: chunks of {chunk}: {ms * 1e3 / len(x):.0f} us per cell")
    for threads in threads_list:
        model.config = dataclasses.replace(model.config, n_threads=threads)
        ms = best_ms(lambda: model.drift(x, t), min(reps, 2), 1)
        ms_ld = best_ms(lambda: model.log_density(x, t), min(reps, 2), 1)
        ms_both = best_ms(lambda: model.drift_and_log_density(x, t), min(reps, 2), 1)
        print(f"per cell d={dim}, {threads} torch thread(s): drift {ms * 1e3 / len(x):.0f} us, "
              f"log-density {ms_ld * 1e3 / len(x):.0f} us, both in one pass {ms_both * 1e3 / len(x):.0f} us")


def queries(reps: int, dims, cells_list, threads_list) -> None:
    import numpy as np

    for dim in dims:
        flow, times, model = tiny_model(dim)
        for cells in cells_list:
            big = flow.sample(times=times, n_cells=cells, random_state=1)
            x, t = np.asarray(big.X), big.obs["time"].to_numpy()
            model.drift_and_log_density(x[:100], t[:100])  # warm-up
            seconds = {n: [] for n in threads_list}
            for _ in range(reps):  # thread counts alternate, so slow spells of the machine hit both
                for threads in threads_list:
                    model.config = dataclasses.replace(model.config, n_threads=threads)
                    start = time.perf_counter()
                    model.drift_and_log_density(x, t)
                    seconds[threads].append(time.perf_counter() - start)
            text = ", ".join(f"{n} thread(s) {min(s):.3f} s ({min(s) * 1e6 / len(x):.0f} us per cell)"
                             for n, s in seconds.items())
            print(f"queries d={dim}, {len(x)} cells: {text}", flush=True)


def first_import() -> None:
    for module in ("torch_geometric", "torch._dynamo"):
        code = f"import time, torch; s = time.perf_counter(); import {module}; print(time.perf_counter() - s)"
        seconds = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        print(f"import: {module} {seconds:.1f} s after torch")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/kernel_probe.py", description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=["gru", "stack", "attention", "stage2", "drift", "queries", "import"],
                   default=["gru", "stack", "attention", "stage2", "drift", "queries", "import"])
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--dims", type=int, nargs="+", default=[10, 30, 50], help="dimensions of the gru, stack and queries probes")
    p.add_argument("--cells", type=int, nargs="+", default=[100, 1000, 10_000],
                   help="cells per time point (6 times) of the queries probe")
    p.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads of the per-cell drift and log-density")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if "gru" in args.only:
        gru(args.reps, args.dims)
    if "stack" in args.only:
        stack(args.reps, args.dims)
    if "attention" in args.only:
        attention(args.reps)
    if "stage2" in args.only:
        stage2(args.reps)
    if "drift" in args.only:
        drift(args.reps, threads_list=tuple(args.threads))
    if "queries" in args.only:
        queries(args.reps, args.dims, args.cells, tuple(args.threads))
    if "import" in args.only:
        first_import()
    return 0


if __name__ == "__main__":
    sys.exit(main())

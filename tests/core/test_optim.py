"""The stages' optimizer: bit for bit torch's AdamW and cosine schedule, without importing torch._dynamo."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from wf_sc._core.optim import AdamW, cosine_lrs


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=g)) for shape in ((5, 3), (3,), (2, 2))]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-4, 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adamw_steps_equal_torch_optim_adamw_with_the_cosine_schedule(weight_decay, dtype):
    ours, theirs = _params(0), _params(0)
    for a, b in zip(ours, theirs):
        a.data, b.data = a.data.to(dtype), b.data.to(dtype)
    n_steps, lr = 7, 3e-2
    opt, rates = AdamW(ours, lr=lr, weight_decay=weight_decay), cosine_lrs(lr, n_steps)
    ref = torch.optim.AdamW(theirs, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, T_max=n_steps)
    g = torch.Generator().manual_seed(1)
    for step in range(n_steps):
        grads = [torch.randn(p.shape, generator=g, dtype=dtype) for p in ours]
        opt.zero_grad()
        ref.zero_grad()
        for k, (a, b, grad) in enumerate(zip(ours, theirs, grads)):
            if k == 2 and step < 3:  # no gradient yet: skipped, its state starts later
                continue
            a.grad, b.grad = grad.clone(), grad.clone()
        assert rates[step] == ref.param_groups[0]["lr"]
        opt.lr = rates[step]
        opt.step()
        ref.step()
        sched.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)
    # the third parameter stood still for the three steps without a gradient
    assert len(rates) == n_steps and rates[0] == lr


def test_cosine_lrs_follow_the_closed_form():
    rates = cosine_lrs(2.0, 4)
    assert rates == pytest.approx([2.0, 1.0 + 2 ** -0.5, 1.0, 1.0 - 2 ** -0.5])
    assert cosine_lrs(1.0, 0) == [] and cosine_lrs(1.0, 1) == [1.0]


def test_a_fit_does_not_import_torch_dynamo():
    code = (
        "import sys, numpy as np, wf_sc as wf\n"
        "adata = wf.datasets.GradientFlow(dim=2, random_state=0).sample(times=(0, 1, 2), n_cells=60, random_state=0)\n"
        "wf.tl.fit(adata, 'time', use_rep='X', progress=False, config=wf.tl.Config("
        "stage1_max_steps_first=3, stage1_max_steps=2, stage2_steps=2))\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"

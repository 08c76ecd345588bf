"""The optimizer of both stages: AdamW through torch's functional update, and its cosine schedule.

``torch.optim.Optimizer`` imports ``torch._dynamo`` the first time one is built or stepped, which
takes 1.2-1.4 s in a fresh process (``docs/performance.md``); the functional update
:func:`torch.optim.adam.adam`, which ``torch.optim.AdamW`` itself calls, does not. So the state is
kept here and the arithmetic is torch's: the steps are bit for bit those of ``torch.optim.AdamW``
and ``torch.optim.lr_scheduler.CosineAnnealingLR`` (tested).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor
from torch.optim.adam import adam


class AdamW:
    """AdamW (decoupled weight decay) over ``params``, one group, torch's defaults otherwise.

    .. math:: m \\leftarrow \\beta_1 m + (1 - \\beta_1) g, \\quad
              v \\leftarrow \\beta_2 v + (1 - \\beta_2) g^2, \\quad
              \\theta \\leftarrow \\theta (1 - \\eta\\lambda)
              - \\eta \\frac{m / (1 - \\beta_1^t)}{\\sqrt{v / (1 - \\beta_2^t)} + \\epsilon}

    A parameter without a gradient is skipped and its state is created at its first gradient,
    as in ``torch.optim.AdamW``. ``lr`` may be changed between steps.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        weight_decay: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.state: dict[int, tuple[Tensor, Tensor, Tensor]] = {}

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``set_to_none``, as torch's default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        live = [p for p in self.params if p.grad is not None]
        for p in live:
            if id(p) not in self.state:
                self.state[id(p)] = (
                    torch.tensor(0.0, dtype=torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32),
                    torch.zeros_like(p, memory_format=torch.preserve_format),
                    torch.zeros_like(p, memory_format=torch.preserve_format),
                )
        steps, exp_avgs, exp_avg_sqs = zip(*(self.state[id(p)] for p in live)) if live else ((), (), ())
        adam(
            live, [p.grad for p in live], list(exp_avgs), list(exp_avg_sqs), [], list(steps),
            has_complex=any(torch.is_complex(p) for p in live), decoupled_weight_decay=True,
            amsgrad=False, beta1=self.betas[0], beta2=self.betas[1], lr=self.lr,
            weight_decay=self.weight_decay, eps=self.eps, maximize=False,
        )


def cosine_lrs(lr: float, n_steps: int) -> list[float]:
    """The learning rate of each of ``n_steps`` steps on a cosine schedule from ``lr`` to 0.

    .. math:: \\eta_k = \\eta_{k-1} \\frac{1 + \\cos(\\pi k / T)}{1 + \\cos(\\pi (k - 1) / T)}, \\quad
              \\eta_0 = \\eta,

    that is :math:`\\eta_k = \\eta (1 + \\cos(\\pi k / T)) / 2` with :math:`T` = ``max(n_steps, 1)``,
    in the recursive form ``CosineAnnealingLR`` uses, so the rounding is the same.
    """
    period, rates = max(n_steps, 1), [lr]
    for k in range(1, n_steps):
        rates.append((1 + math.cos(math.pi * k / period)) / (1 + math.cos(math.pi * (k - 1) / period)) * rates[-1])
    return rates[:n_steps]

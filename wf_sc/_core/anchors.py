"""Stage 1: anchor weights ``theta_k`` fitted to each snapshot by maximum likelihood.

.. math:: \\theta_k = \\arg\\min_\\theta\\; -\\frac{1}{|X_k|} \\sum_{x \\in X_k} \\log p_\\theta(x),
          \\qquad \\text{started from } \\theta_{k-1}

Snapshots are fitted in time order, each warm-started from the previous anchor so that
consecutive anchors lie on one continuous branch of weight space (WeightFlow's ablation shows
large errors without it). The alternative, ``"rebasin"``, fits every anchor from its own random
start and removes the relabelling freedom afterwards by weight matching
(:mod:`wf_sc._core.canonical`). A held-out fraction of each snapshot (at most ``MAX_VAL_CELLS``
cells) stops training early on validation NLL; the best validation weights are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .backbone import GRUMDN
from .canonical import align_chain

#: how each anchor's optimization starts (see :func:`fit_anchors`)
ANCHOR_STARTS = ("warm", "rebasin")
#: most cells per snapshot held out for validation, and most training cells whose NLL is reported
#: (every validation score costs a pass over them; with 4,096 cells the paired rise z-score passes 3
#: once the mean rise is 3/64, about 4.7%, of the per-cell differences' standard deviation)
MAX_VAL_CELLS = 4096


@dataclass
class AnchorFit:
    """Result of Stage 1."""

    anchors: Tensor  # (K+1, P)
    train_nll: list[float]  # final per-time NLL per cell (standardized space), at most MAX_VAL_CELLS training cells
    val_nll: list[float]  # best per-time validation NLL per cell
    curves: list[list[float]] = field(default_factory=list)  # validation NLL at each evaluation, per time
    steps: list[int] = field(default_factory=list)  # optimizer steps taken per time
    rises: list[list[float]] = field(default_factory=list)  # per time, each score's paired z above the best so far


def split_validation(
    n: int, fraction: float, generator: torch.Generator, max_val: int = MAX_VAL_CELLS
) -> tuple[Tensor, Tensor]:
    """Random (train, validation) index split: ``min(round(fraction * n), max_val)`` validation
    indices, the rest for training; validation empty when ``fraction * n < 5``."""
    perm = torch.randperm(n, generator=generator)  # CPU generator: bookkeeping draws stay on CPU
    n_val = min(int(round(fraction * n)), max_val)
    if n_val < 5:
        return perm, perm[:0]
    return perm[n_val:], perm[:n_val]


def cell_nll(backbone: GRUMDN, theta: Tensor, x: Tensor, batch: int = 8192) -> Tensor:
    """``-log p_theta(x)`` of every cell (n,), evaluated in chunks without gradients."""
    with torch.no_grad():
        return torch.cat([-backbone.log_prob(theta, x[i : i + batch]) for i in range(0, len(x), batch)])


def _chunked_mean(values: Tensor, batch: int = 8192) -> float:
    """Mean of ``values`` summed chunk by chunk in double precision (as :func:`mean_nll` scores)."""
    return sum(float(values[i : i + batch].sum()) for i in range(0, len(values), batch)) / max(len(values), 1)


def mean_nll(backbone: GRUMDN, theta: Tensor, x: Tensor, batch: int = 8192) -> float:
    """``-mean log p_theta(x)`` evaluated in chunks, without gradients."""
    return _chunked_mean(cell_nll(backbone, theta, x, batch), batch)


def rise_z(nll: Tensor, best_nll: Tensor) -> float:
    r"""How significantly the same cells' NLL ``nll`` lies above ``best_nll``: a paired z-score.

    .. math:: z = \frac{\bar\delta}{s_\delta / \sqrt n}, \qquad \delta_i = \mathrm{nll}_i - \mathrm{best}_i,

    with ``s_delta`` the standard deviation of the differences over the ``n`` cells (0 when
    ``n < 2`` or all differences are equal).
    """
    delta = (nll - best_nll).double()
    if len(delta) < 2:
        return 0.0
    se = float(delta.std()) / len(delta) ** 0.5
    return float(delta.mean()) / se if se > 0 else 0.0


@dataclass
class EarlyStop:
    """Stage 1's stopping rule, fed one validation score at a time (:func:`fit_density`).

    Stop after ``patience`` scores without an improvement of 1e-4 over ``best``, or once the rise
    z-score (:func:`rise_z`) has been above ``stop_z`` at ``runs`` consecutive scores.
    """

    best: float
    patience: int
    stop_z: float | None = None
    runs: int = 2
    bad: int = 0
    risen: int = 0

    def score(self, nll: float, z: float) -> bool:
        """Take the next score; True if it improves on the best (which it then becomes)."""
        if nll < self.best - 1e-4:
            self.best, self.bad, self.risen = nll, 0, 0
            return True
        self.bad += 1
        self.risen = self.risen + 1 if self.stop_z is not None and z > self.stop_z else 0
        return False

    @property
    def stop(self) -> bool:
        return self.bad >= self.patience or self.risen >= self.runs


def fit_density(
    backbone: GRUMDN,
    theta0: Tensor,
    x: Tensor,
    *,
    max_steps: int,
    batch_size: int,
    lr: float,
    val_fraction: float,
    eval_every: int,
    patience: int,
    generator: torch.Generator,
    stop_z: float | None = None,
) -> tuple[Tensor, float, float, list[float], int, list[float]]:
    """Maximum likelihood from ``theta0`` with AdamW and early stopping.

    Every ``eval_every`` steps the validation NLL is scored. Training stops after ``patience``
    scores without an improvement of 1e-4, or, with ``stop_z``, once the validation cells' NLL has
    lain above that of the best weights by more than ``stop_z`` paired standard errors
    (:func:`rise_z`) at two consecutive scores: a sustained rise (overfitting), where a single
    significant rise can be a transient of the optimizer. The best weights are kept.

    The validation cells are a random ``val_fraction`` of ``x``, at most :data:`MAX_VAL_CELLS`
    (:func:`split_validation`). Returns (best weights, train NLL (mean over at most
    :data:`MAX_VAL_CELLS` training cells), validation NLL, validation curve, steps taken, rise
    z-scores).
    """
    train_idx, val_idx = split_validation(len(x), val_fraction, generator)
    x_train, x_val = x[train_idx.to(x.device)], x[val_idx.to(x.device)]
    monitor = x_val if len(x_val) else x_train
    theta = theta0.clone().requires_grad_(True)
    opt = torch.optim.AdamW([theta], lr=lr, weight_decay=0.0)
    best, best_cells = theta0.clone(), cell_nll(backbone, theta0, monitor)
    rule, curve, rises, step = EarlyStop(_chunked_mean(best_cells), patience, stop_z), [], [], 0
    for step in range(1, max_steps + 1):
        idx = torch.randint(len(x_train), (min(batch_size, len(x_train)),), generator=generator)
        loss = -backbone.log_prob(theta, x_train[idx.to(x.device)]).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([theta], 10.0)
        opt.step()
        if step % eval_every == 0 or step == max_steps:
            cells = cell_nll(backbone, theta.detach(), monitor)
            nll, z = _chunked_mean(cells), rise_z(cells, best_cells)
            curve.append(nll)
            rises.append(z)
            if rule.score(nll, z):
                best, best_cells = theta.detach().clone(), cells
            elif rule.stop:
                break
    # the training cells are in random order (a slice of a permutation): the first ones are a random subset
    return best, mean_nll(backbone, best, x_train[:MAX_VAL_CELLS]), rule.best, curve, step, rises


def fit_anchors(
    backbone: GRUMDN,
    snapshots: list[Tensor],
    *,
    generator: torch.Generator,
    start: str = "warm",
    max_steps_first: int = 3000,
    max_steps: int = 1000,
    batch_size: int = 256,
    lr: float = 5e-3,
    val_fraction: float = 0.1,
    eval_every: int = 50,
    patience: int = 6,
    stop_z: float | None = None,
    progress=None,
) -> AnchorFit:
    """Fit one anchor per snapshot in time order.

    ``start="warm"``: each anchor starts from the previous one (``max_steps`` after the first).
    ``start="rebasin"``: each anchor starts from its own random weights (``max_steps_first`` each),
    and each is then relabelled to match the one before it (:func:`wf_sc._core.canonical.align_chain`).
    ``patience`` and ``stop_z``: the early stopping of :func:`fit_density`.
    """
    if start not in ANCHOR_STARTS:
        raise ValueError(f"unknown anchor start {start!r}, known are {list(ANCHOR_STARTS)}")
    theta = backbone.init(generator, dtype=snapshots[0].dtype).to(snapshots[0].device)
    anchors, train_nll, val_nll, curves, steps, rises = [], [], [], [], [], []
    for k, x in enumerate(snapshots):
        warm = start == "warm" and k > 0
        if start == "rebasin" and k > 0:
            theta = backbone.init(generator, dtype=x.dtype).to(x.device)
        theta, tr, va, curve, n_steps, rise = fit_density(
            backbone,
            theta,
            x,
            max_steps=max_steps if warm else max_steps_first,
            batch_size=batch_size,
            lr=lr,
            val_fraction=val_fraction,
            eval_every=eval_every,
            patience=patience,
            generator=generator,
            stop_z=stop_z,
        )
        anchors.append(theta)
        train_nll.append(tr)
        val_nll.append(va)
        curves.append(curve)
        steps.append(n_steps)
        rises.append(rise)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(time=k, val_nll_std=f"{va:.3f}")
    if start == "rebasin":
        anchors = align_chain(backbone, anchors)
    return AnchorFit(torch.stack(anchors), train_nll, val_nll, curves, steps, rises)

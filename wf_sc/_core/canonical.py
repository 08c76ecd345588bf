"""Permutation symmetry of the backbone and weight matching between anchors (Git Re-Basin style).

Relabelling the GRU's hidden units by a permutation ``pi`` (of ``H``) and the mixture components by
``rho`` (of ``K``) leaves the density unchanged:

.. math:: p_{P_{\\pi,\\rho}\\theta} = p_\\theta,

where ``P_{pi,rho}`` permutes the rows of every gate block of the input and recurrent maps and the
columns of the recurrent and head maps that read the hidden state by ``pi``, and the rows of every
block of the head (logit, mean, log-scale) by ``rho``. Two independently trained anchors can
therefore describe similar densities with very different weight vectors. Weight matching
(Ainsworth et al., ICLR 2023) picks the relabelling of ``theta_b`` closest to ``theta_a``:

.. math:: \\max_{\\pi,\\rho}\\; \\langle \\theta_a,\\, P_{\\pi,\\rho}\\, \\theta_b \\rangle,

solved as linear assignments, alternating over ``pi`` (whose recurrent map depends on ``pi`` on
both sides) until it no longer changes.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from .backbone import GRUMDN


def permute(backbone: GRUMDN, theta: Tensor, units: Tensor, components: Tensor | None = None) -> Tensor:
    """``P_{pi,rho} theta``: new hidden unit ``i`` is old unit ``units[i]``, new component ``k`` is old
    component ``components[k]`` (default: components unchanged). Same density (module docstring)."""
    H, K = backbone.hidden, backbone.n_components
    components = torch.arange(K) if components is None else components
    W_in, W_rec, W_head = (w.clone() for w in backbone.unflatten(theta))
    gate_rows = torch.cat([units + g * H for g in range(3)])
    W_in = W_in[gate_rows]
    W_rec = W_rec[gate_rows]
    W_rec = torch.cat([W_rec[:, :H][:, units], W_rec[:, H:]], dim=1)
    head_rows = torch.cat([components + g * K for g in range(3)])
    W_head = W_head[head_rows]
    W_head = torch.cat([W_head[:, :H][:, units], W_head[:, H:]], dim=1)
    return torch.cat([W_in.reshape(-1), W_rec.reshape(-1), W_head.reshape(-1)])


def _assign(similarity: Tensor) -> Tensor:
    """The permutation ``p`` maximizing ``sum_i similarity[i, p[i]]``."""
    rows, cols = linear_sum_assignment(similarity.detach().cpu().double().numpy(), maximize=True)
    return torch.as_tensor(cols[rows.argsort()], dtype=torch.long)


def match(backbone: GRUMDN, theta_a: Tensor, theta_b: Tensor, max_rounds: int = 20) -> Tensor:
    """``theta_b`` relabelled to be closest to ``theta_a`` (weight matching; module docstring).

    Each round assigns the components given the current unit labels, then the units given the
    components and the current unit labels on the recurrent map's other side.
    """
    H, K = backbone.hidden, backbone.n_components
    A_in, A_rec, A_head = backbone.unflatten(theta_a)
    B_in, B_rec, B_head = backbone.unflatten(theta_b)

    def blocks(W: Tensor, n: int) -> Tensor:  # (n, 3 * n_cols): row i of each of the three blocks
        return torch.cat([W[g * n : (g + 1) * n] for g in range(3)], dim=1)

    def read_by(W: Tensor, units: Tensor) -> Tensor:  # columns reading the hidden state relabelled
        return torch.cat([W[:, :H][:, units], W[:, H:]], dim=1)

    units, components = torch.arange(H), torch.arange(K)
    for _ in range(max_rounds):
        components = _assign(blocks(A_head, K) @ blocks(read_by(B_head, units), K).T)
        b_rec_rows = B_rec[torch.cat([units + g * H for g in range(3)])]
        b_head_rows = B_head[torch.cat([components + g * K for g in range(3)])]
        sim = (
            blocks(A_in, H) @ blocks(B_in, H).T  # incoming input rows
            + blocks(A_rec, H) @ blocks(read_by(B_rec, units), H).T  # incoming recurrent rows
            + A_rec[:, :H].T @ b_rec_rows[:, :H]  # outgoing: the recurrent columns reading the unit
            + A_head[:, :H].T @ b_head_rows[:, :H]  # outgoing: the head columns reading the unit
        )
        new = _assign(sim)
        if torch.equal(new, units):
            break
        units = new
    components = _assign(blocks(A_head, K) @ blocks(read_by(B_head, units), K).T)
    return permute(backbone, theta_b, units, components)


def align_chain(backbone: GRUMDN, anchors: list[Tensor]) -> list[Tensor]:
    """Each anchor after the first relabelled to match the (already relabelled) one before it."""
    out = [anchors[0]]
    for theta in anchors[1:]:
        out.append(match(backbone, out[-1], theta))
    return out

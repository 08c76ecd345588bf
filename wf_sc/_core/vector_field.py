"""The graph neural vector field ``g_phi`` of the weight CDE.

.. math:: \\frac{d\\theta}{dt} = g_\\phi(\\theta(t))\\, \\frac{dZ}{dt},
          \\qquad g_\\phi(\\theta) \\in \\mathbb R^{P \\times C}

(WeightFlow Eq. 6). Weights enter normalized, ``u = (theta - c) / s`` with ``c, s`` the anchors'
per-weight centre and scale, and

.. math:: g_\\phi(\\theta) = s \\odot \\big(B + \\mathrm{Dec}(\\mathrm{GNN}(\\mathrm{Enc}(u)))\\big)

* ``Enc``: one MLP per neuron kind (GRU unit, mixture component) maps the neuron's weights to a
  ``width`` vector, plus a learned embedding of each node;
* ``GNN``: ``n_layers`` residual ``torch_geometric`` convolutions over the weight graph: attention
  (TransformerConv or GATv2Conv), or the Barabási-Barzel form of network dynamics
  (:class:`BarzelConv`);
* ``Dec``: one MLP per neuron kind maps each neuron's embedding to the derivative of each of its
  weights with respect to each of the ``C`` path channels;
* ``B`` (P, C): a per-weight constant field, initialized by least squares so that the CDE starts
  as the best constant-coefficient fit through the anchors; the GNN learns the state-dependent
  correction (its decoder starts at zero).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .backbone import GRUMDN
from .weight_graph import KINDS, WeightGraph

CONVS = ("transformer", "gatv2", "barzel")


def _mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.SiLU(), nn.Linear(width, n_out))


def barzel_conv(width: int):
    """A :class:`BarzelConv` (built on first use: ``torch_geometric`` is a heavy import)."""
    from torch_geometric.nn import MessagePassing

    class BarzelConv(MessagePassing):
        """Barabási-Barzel network dynamics as one message-passing layer:

        .. math:: h_i' = F(h_i) + \\sum_j A_{ij}\\, G(h_i, h_j)

        with ``A`` the weight graph's adjacency (unweighted, summed over neighbours: the node's
        degree scales the coupling, as in the original form) and ``F``, ``G`` two-layer MLPs: the
        self-dynamics of a neuron and the pairwise coupling along the backbone's connections.
        """

        def __init__(self, width: int):
            super().__init__(aggr="add")
            self.self_term = _mlp(width, width, width)
            self.pair_term = _mlp(2 * width, width, width)

        def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
            return self.self_term(h) + self.propagate(edge_index, h=h)

        def message(self, h_i: Tensor, h_j: Tensor) -> Tensor:
            return self.pair_term(torch.cat([h_i, h_j], dim=-1))

    return BarzelConv(width)


class GraphVectorField(nn.Module):
    """``g_phi``: flat weights (P,) -> derivative of each weight w.r.t. each path channel (P, C).

    Parameters
    ----------
    backbone
        The density network whose weights are the state.
    graph
        Its weight graph (:func:`~wf_sc._core.weight_graph.build_weight_graph`).
    n_channels
        Number of control-path channels ``C``.
    center, scale
        Per-weight normalization (P,), usually the anchors' mean and spread.
    width, n_layers, heads, conv
        GNN width, number of message-passing layers, attention heads, convolution type.
    """

    def __init__(
        self,
        backbone: GRUMDN,
        graph: WeightGraph,
        n_channels: int,
        center: Tensor,
        scale: Tensor,
        *,
        width: int = 64,
        n_layers: int = 2,
        heads: int = 2,
        conv: str = "transformer",
    ):
        super().__init__()
        if conv not in CONVS:
            raise ValueError(f"unknown conv {conv!r}, known are {list(CONVS)}")
        if width % heads:
            raise ValueError(f"width ({width}) must be divisible by heads ({heads})")
        self.n_channels = n_channels
        self.register_buffer("center", center.clone())
        self.register_buffer("scale", scale.clone())
        self.register_buffer("edge_index", graph.edge_index.clone())
        for kind in KINDS:
            self.register_buffer(f"index_{kind}", graph.weight_index[kind].clone())
        self.register_buffer("inverse", torch.argsort(graph.permutation))
        sizes = {kind: graph.weight_index[kind].shape[1] for kind in KINDS}
        self.encoders = nn.ModuleDict({k: _mlp(sizes[k], width, width) for k in KINDS})
        self.node_embedding = nn.Parameter(torch.zeros(graph.n_nodes, width))
        from torch_geometric.nn import GATv2Conv, TransformerConv  # heavy import, deferred to first use

        if conv == "barzel":
            self.convs = nn.ModuleList(barzel_conv(width) for _ in range(n_layers))
        else:
            conv_cls = TransformerConv if conv == "transformer" else GATv2Conv
            self.convs = nn.ModuleList(conv_cls(width, width // heads, heads=heads) for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(n_layers))
        self.decoders = nn.ModuleDict({k: _mlp(width, width, sizes[k] * n_channels) for k in KINDS})
        for dec in self.decoders.values():  # the GNN correction starts at zero
            nn.init.zeros_(dec[-1].weight)
            nn.init.zeros_(dec[-1].bias)
        self.affine = nn.Parameter(torch.zeros(len(center), n_channels))

    def normalized(self, theta: Tensor) -> Tensor:
        """``u = (theta - c) / s``."""
        return (theta - self.center) / self.scale

    def forward(self, t: Tensor | float, theta: Tensor) -> Tensor:
        """Evaluate ``g_phi(theta)`` (autonomous: ``t`` is accepted for torchcde and ignored): (P, C)."""
        u = self.normalized(theta)
        feats = {k: u[getattr(self, f"index_{k}")] for k in KINDS}
        h = torch.cat([self.encoders[k](feats[k]) for k in KINDS]) + self.node_embedding
        for conv, norm in zip(self.convs, self.norms):
            h = h + conv(norm(h), self.edge_index).relu()
        out, start = [], 0
        for k in KINDS:
            n = feats[k].shape[0]
            out.append(self.decoders[k](h[start : start + n]).reshape(-1, self.n_channels))
            start += n
        return self.scale[:, None] * (self.affine + torch.cat(out)[self.inverse])

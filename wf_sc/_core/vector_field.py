"""The graph neural vector field ``g_phi`` of the weight CDE.

.. math:: \\frac{d\\theta}{dt} = g_\\phi(\\theta(t))\\, \\frac{dZ}{dt},
          \\qquad g_\\phi(\\theta) \\in \\mathbb R^{P \\times C}

(WeightFlow Eq. 6). Weights enter normalized, ``u = (theta - c) / s`` with ``c, s`` the anchors'
per-weight centre and scale, and

.. math:: g_\\phi(\\theta) = s \\odot \\big(B + \\mathrm{Dec}(\\mathrm{GNN}(\\mathrm{Enc}(u)))\\big)

* ``Enc``: one MLP per neuron kind (GRU unit, mixture component) maps the neuron's weights to a
  ``width`` vector, plus a learned embedding of each node;
* ``GNN``: ``n_layers`` residual graph convolutions over the weight graph: graph transformer
  attention (:class:`GraphAttention`, the maths of ``torch_geometric``'s ``TransformerConv``
  computed densely: the weight graph is almost complete), ``torch_geometric``'s GATv2Conv, or the
  Barabási-Barzel form of network dynamics (:class:`BarzelConv`);
* ``Dec``: one MLP per neuron kind maps each neuron's embedding to the derivative of each of its
  weights with respect to each of the ``C`` path channels;
* ``B`` (P, C): a per-weight constant field, initialized by least squares so that the CDE starts
  as the best constant-coefficient fit through the anchors; the GNN learns the state-dependent
  correction (its decoder starts at zero).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .backbone import GRUMDN
from .weight_graph import KINDS, WeightGraph

CONVS = ("transformer", "gatv2", "barzel")


def _mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.SiLU(), nn.Linear(width, n_out))


class GraphAttention(nn.Module):
    """Graph transformer attention (Shi et al. 2021) over a small, almost complete graph, in dense form:

    .. math:: h_i' = W_s h_i + \\big\\Vert_{m=1}^{M} \\sum_{j \\to i} \\alpha^m_{ij}\\, W^m_v h_j,
              \\qquad \\alpha^m_{ij} = \\operatorname{softmax}_{j \\to i}
              \\frac{(W^m_q h_i)^\\top (W^m_k h_j)}{\\sqrt{c}},

    ``M`` heads of ``c`` channels concatenated, the softmax over the in-neighbours ``j -> i`` of
    node ``i`` (a node without any gets 0). The same function, parameters and parameter names as
    ``torch_geometric.nn.TransformerConv(width, c, heads=M)`` on ``edge_index``; on a graph with
    almost every pair connected, one masked ``(N, N)`` product per head is cheaper than gathering
    and scattering along the edges.
    """

    def __init__(self, width: int, channels: int, heads: int, edge_index: Tensor, n_nodes: int):
        super().__init__()
        self.heads, self.channels = heads, channels
        self.lin_key, self.lin_query, self.lin_value, self.lin_skip = (
            nn.Linear(width, heads * channels) for _ in range(4)
        )
        for lin in (self.lin_key, self.lin_query, self.lin_value, self.lin_skip):
            lin.reset_parameters()  # the draws of TransformerConv, which initializes twice
        mask = torch.zeros(n_nodes, n_nodes, dtype=torch.bool)
        mask[edge_index[1], edge_index[0]] = True  # mask[i, j]: an edge j -> i
        isolated = ~mask.any(1)
        # the graph's structure, not state: kept out of the state dict (as in TransformerConv)
        self.register_buffer("open", mask | isolated[:, None], persistent=False)
        self.register_buffer("connected", (~isolated).to(torch.get_default_dtype())[:, None], persistent=False)

    def forward(self, h: Tensor) -> Tensor:
        n = len(h)
        q, k, v = (lin(h).view(n, self.heads, self.channels).transpose(0, 1)
                   for lin in (self.lin_query, self.lin_key, self.lin_value))
        scores = (q @ k.transpose(1, 2)) / math.sqrt(self.channels)
        attention = torch.softmax(scores.masked_fill(~self.open, float("-inf")), -1) * self.connected
        return (attention @ v).transpose(0, 1).reshape(n, -1) + self.lin_skip(h)


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
        if conv == "transformer":
            self.convs = nn.ModuleList(
                GraphAttention(width, width // heads, heads, graph.edge_index, graph.n_nodes) for _ in range(n_layers)
            )
        elif conv == "barzel":
            self.convs = nn.ModuleList(barzel_conv(width) for _ in range(n_layers))
        else:
            from torch_geometric.nn import GATv2Conv  # heavy import, deferred to first use

            self.convs = nn.ModuleList(GATv2Conv(width, width // heads, heads=heads) for _ in range(n_layers))
        self.dense = conv == "transformer"
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
            h = h + (conv(norm(h)) if self.dense else conv(norm(h), self.edge_index)).relu()
        out, start = [], 0
        for k in KINDS:
            n = feats[k].shape[0]
            out.append(self.decoders[k](h[start : start + n]).reshape(-1, self.n_channels))
            start += n
        return self.scale[:, None] * (self.affine + torch.cat(out)[self.inverse])

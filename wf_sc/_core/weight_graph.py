"""The weight graph: one node per neuron of the backbone, edges along its data flow.

Neurons of :class:`~wf_sc._core.backbone.GRUMDN`:

``unit`` (H nodes)
    GRU hidden unit ``k``. Its weights are the six rows that compute it: the ``r, z, n`` rows of
    the input map (``d + 2`` each) and of the recurrent map (``H + 1`` each).
``component`` (K nodes)
    mixture component ``c``. Its weights are the head rows producing its logit, mean and
    log-scale (``H + 1`` each).

A node's feature is the concatenation of its rows ``[W | b]``; every weight belongs to exactly one
node (:attr:`WeightGraph.weight_index` is a partition of the flat vector). Edges
(``torch_geometric`` ``edge_index`` (2, E), both directions, no self loops):

``"connectivity"``
    unit -> unit (the recurrent map reads every hidden unit) and unit <-> component (the head
    reads every hidden unit).
``"complete"``
    every ordered pair of distinct nodes (the reference implementation's variant).

Grouping a GRU unit's gate rows into one node (rather than one node per row) keeps the graph at
``H + K`` nodes and about ``(H + K)^2`` edges: the row-level graph of a GRU is almost complete
(every gate row reads the whole hidden state) and costs ~25x more per evaluation for the same
information (for d=10, H=32: 207 nodes / 33k edges vs 37 nodes / 1.3k edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .backbone import GRUMDN

GRAPHS = ("connectivity", "complete")
KINDS = ("unit", "component")


@dataclass
class WeightGraph:
    """Static description of the weight graph of one backbone."""

    #: (2, E) long tensor, source -> target
    edge_index: Tensor
    #: per node kind, (n_nodes_of_kind, n_weights_per_node) flat indices of the node's weights
    weight_index: dict[str, Tensor]

    @property
    def n_nodes(self) -> int:
        return sum(int(v.shape[0]) for v in self.weight_index.values())

    @property
    def permutation(self) -> Tensor:
        """Flat weight indices in node order (kinds in :data:`KINDS` order): a permutation of 0..P-1."""
        return torch.cat([self.weight_index[k].reshape(-1) for k in KINDS])


def _row_index(backbone: GRUMDN, layer: int, rows: Tensor) -> Tensor:
    """Flat indices of whole rows of one layer: (len(rows), n_in + 1)."""
    width = backbone.layers[layer].n_in + 1
    return backbone.offsets[layer] + rows[:, None] * width + torch.arange(width)


def neuron_weight_index(backbone: GRUMDN) -> dict[str, Tensor]:
    """Flat indices of each neuron's weights (see module docstring)."""
    H, K = backbone.hidden, backbone.n_components
    units = torch.arange(H)
    gate_rows = [units + g * H for g in range(3)]  # r, z, n rows of unit k
    unit_idx = torch.cat(
        [_row_index(backbone, 0, rows) for rows in gate_rows] + [_row_index(backbone, 1, rows) for rows in gate_rows],
        dim=1,
    )
    comps = torch.arange(K)
    comp_idx = torch.cat([_row_index(backbone, 2, comps + p * K) for p in range(3)], dim=1)
    return {"unit": unit_idx, "component": comp_idx}


def build_weight_graph(backbone: GRUMDN, kind: str = "connectivity") -> WeightGraph:
    """Nodes, weight partition and ``edge_index`` for ``backbone`` (see module docstring)."""
    if kind not in GRAPHS:
        raise ValueError(f"unknown graph {kind!r}, known are {list(GRAPHS)}")
    H, K = backbone.hidden, backbone.n_components
    units, comps = torch.arange(H), torch.arange(H, H + K)
    if kind == "complete":
        nodes = torch.arange(H + K)
        src, dst = torch.meshgrid(nodes, nodes, indexing="ij")
    else:
        uu = torch.meshgrid(units, units, indexing="ij")
        uc = torch.meshgrid(units, comps, indexing="ij")
        src = torch.cat([uu[0].reshape(-1), uc[0].reshape(-1), uc[1].reshape(-1)])
        dst = torch.cat([uu[1].reshape(-1), uc[1].reshape(-1), uc[0].reshape(-1)])
    src, dst = src.reshape(-1), dst.reshape(-1)
    keep = src != dst
    edge_index = torch.stack([src[keep], dst[keep]]).long()
    return WeightGraph(edge_index=edge_index, weight_index=neuron_weight_index(backbone))

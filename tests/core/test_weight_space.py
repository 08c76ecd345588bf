"""Weight-space options: the GRU's permutation symmetry and weight matching between anchors
(Git Re-Basin style), and the Barabási-Barzel message-passing field."""

import pytest
import torch

from wf_sc._core.anchors import fit_anchors
from wf_sc._core.backbone import GRUMDN
from wf_sc._core.canonical import align_chain, match, permute
from wf_sc._core.pipeline import TrainConfig
from wf_sc._core.vector_field import GraphVectorField, barzel_conv
from wf_sc._core.weight_graph import build_weight_graph


@pytest.fixture
def net():
    bb = GRUMDN(4, hidden=8, n_components=3)
    gen = torch.Generator().manual_seed(0)
    return bb, bb.init(gen, dtype=torch.float64) * 3, gen


def test_relabelling_units_and_components_leaves_the_density_unchanged(net):
    bb, theta, gen = net
    units, comps = torch.randperm(8, generator=gen), torch.randperm(3, generator=gen)
    moved = permute(bb, theta, units, comps)
    x = torch.randn(60, 4, generator=gen, dtype=torch.float64)
    assert (moved - theta).abs().max() > 0.5  # other weights ...
    torch.testing.assert_close(bb.log_prob(moved, x), bb.log_prob(theta, x), atol=1e-12, rtol=0)  # ... same density
    torch.testing.assert_close(bb.cdf(moved, x), bb.cdf(theta, x), atol=1e-12, rtol=0)
    # the identity relabelling is the identity
    assert torch.equal(permute(bb, theta, torch.arange(8), torch.arange(3)), theta)


def test_matching_undoes_a_relabelling_exactly_and_under_noise(net):
    bb, theta, gen = net
    moved = permute(bb, theta, torch.randperm(8, generator=gen), torch.randperm(3, generator=gen))
    assert torch.equal(match(bb, theta, moved), theta)
    noisy = moved + 0.05 * torch.randn(moved.shape, generator=gen, dtype=torch.float64)
    matched = match(bb, theta, noisy)
    assert (matched - theta).abs().max() < 0.3 < (noisy - theta).abs().max()
    # matching only relabels: the density of the noisy weights is kept
    x = torch.randn(40, 4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(bb.log_prob(matched, x), bb.log_prob(noisy, x), atol=1e-12, rtol=0)


def test_align_chain_matches_each_anchor_to_the_one_before(net):
    bb, theta, gen = net
    chain = [theta]
    for _ in range(3):  # a slowly moving chain, each link relabelled at random
        nxt = chain[-1] + 0.02 * torch.randn(theta.shape, generator=gen, dtype=torch.float64)
        chain.append(nxt)
    scrambled = [chain[0]] + [permute(bb, t, torch.randperm(8, generator=gen), torch.randperm(3, generator=gen))
                              for t in chain[1:]]
    aligned = align_chain(bb, scrambled)
    for a, b in zip(aligned, chain):
        torch.testing.assert_close(a, b)


def test_rebasin_anchors_come_out_matched():
    """Independent random starts, relabelled afterwards: the chain is a fixed point of matching
    (no relabelling of an anchor brings it closer to the one before), unlike the raw fits."""
    gen = torch.Generator().manual_seed(1)
    bb = GRUMDN(2, hidden=6, n_components=2)
    snaps = [torch.randn(200, 2, generator=gen) + shift for shift in (0.0, 0.3, 0.6)]
    fit = fit_anchors(bb, snaps, generator=torch.Generator().manual_seed(2), start="rebasin",
                      max_steps_first=60, max_steps=20, eval_every=20)
    for prev, cur in zip(fit.anchors[:-1], fit.anchors[1:]):
        torch.testing.assert_close(match(bb, prev, cur), cur)
    # independent starts differ by more than a relabelling: the raw second anchor is not matched
    cold = [bb.init(torch.Generator().manual_seed(s)) for s in (3, 4)]
    assert not torch.equal(match(bb, cold[0], cold[1]), cold[1])
    with pytest.raises(ValueError, match="anchor start"):
        fit_anchors(bb, snaps, generator=gen, start="cold")
    with pytest.raises(ValueError, match="anchor_start"):
        TrainConfig(anchor_start="cold")


def test_barzel_layer_is_self_term_plus_summed_pair_terms():
    torch.manual_seed(0)
    conv = barzel_conv(4)
    h = torch.randn(5, 4)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 0, 1, 1, 0, 4]])  # source -> target
    out = conv(h, edge_index)
    expected = conv.self_term(h).clone()
    for src, dst in edge_index.T.tolist():
        expected[dst] = expected[dst] + conv.pair_term(torch.cat([h[dst], h[src]]))
    torch.testing.assert_close(out, expected)


def test_barzel_field_starts_at_the_constant_field():
    bb = GRUMDN(3, hidden=6, n_components=2)
    theta = bb.init(torch.Generator().manual_seed(0))
    field = GraphVectorField(bb, build_weight_graph(bb), 2, theta, torch.ones_like(theta), width=8, conv="barzel")
    with torch.no_grad():
        field.affine.normal_()
    torch.testing.assert_close(field(0.0, theta + 0.1), field.affine)  # decoder starts at zero

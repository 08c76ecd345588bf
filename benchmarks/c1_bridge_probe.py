"""What a C1 bridge would change in the default prediction (a probe, prediction time only).

The query-time bridge adds ``lambda * Delta_k`` to the free flow on interval ``k``, so the weight
path's velocity jumps at every interior anchor. Here a cubic Hermite term is added on top,

    L_k [ h10(lambda) (v_k - r_k) + h11(lambda) (v_{k+1} - l_{k+1}) ],
    h10 = lambda^3 - 2 lambda^2 + lambda,  h11 = lambda^3 - lambda^2,

with ``l_j``, ``r_j`` the path's one-sided velocities at anchor ``j`` (finite differences) and
``v_j = (l_j + r_j) / 2`` at interior anchors (the end anchors keep their one-sided velocity), so
the path passes every anchor with one velocity. The fits are the default fits (trained with the
linear bridge); only the prediction's weights change. For the benchmark folds of the datasets
given (comma-separated) and seeds 3-5: W1 of the met cells against the reference, linear and C1
(output: ``results/c1_bridge_probe.txt``, arithmetic means, and ``results/c1_bridge_harmonic.txt``)::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/c1_bridge_probe.py DATASETS [--harmonic] [fit-cache]
"""
import sys

import torch
from probe_folds import compare_met_cells, fit_cache

from wf_sc._core.flow import WeightFlowCore

C1 = {"on": False}
_weights = WeightFlowCore.weights


def _one_sided(core, eps: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Left and right velocities ``d theta / d tau`` at every anchor (K+1, P) of the linear-bridged path."""
    tau = core.tau
    gaps = tau[1:] - tau[:-1]
    h = eps * gaps.min()
    with torch.no_grad():
        at = core.anchors
        before = _weights(core, (tau[1:] - h).clone())
        after = _weights(core, (tau[:-1] + h).clone())
    left = torch.cat([torch.zeros_like(at[:1]), (at[1:] - before) / h])
    right = torch.cat([(after - at[:-1]) / h, torch.zeros_like(at[:1])])
    left[0], right[-1] = right[0], left[-1]
    return left, right


def _slopes(core, left, right):
    """Each anchor's velocity: the mean of its two sides, or with ``--harmonic`` per weight the
    Fritsch-Butland weighted harmonic mean (0 where the sides disagree in sign), as PCHIP takes
    slopes; the end anchors keep their one side."""
    if not HARMONIC:
        return 0.5 * (left + right)
    L = core.tau[1:] - core.tau[:-1]
    mid = left.clone()
    for j in range(1, len(L)):
        w1, w2 = 2 * L[j] + L[j - 1], L[j] + 2 * L[j - 1]
        a, b = left[j], right[j]
        same = a * b > 0
        harm = (w1 + w2) / (w1 / torch.where(same, a, 1.0) + w2 / torch.where(same, b, 1.0))
        mid[j] = torch.where(same, harm, torch.zeros_like(a))
    return mid


def _c1_weights(self, tau, start="nearest"):
    out = _weights(self, tau, start)
    if not C1["on"] or start != "nearest":
        return out
    if not hasattr(self, "_probe_sides"):
        self._probe_sides = _one_sided(self)
    left, right = self._probe_sides
    mid = _slopes(self, left, right)
    k, lam, inside = self._bridge_weight(tau.to(self.tau))
    L = (self.tau[k + 1] - self.tau[k])[:, None]
    lam = lam[:, None]
    h10, h11 = lam**3 - 2 * lam**2 + lam, lam**3 - lam**2
    corr = L * (h10 * (mid[k] - right[k]) + h11 * (mid[k + 1] - left[k + 1]))
    return out + inside[:, None] * corr


WeightFlowCore.weights = _c1_weights
HARMONIC = "--harmonic" in sys.argv
if HARMONIC:
    sys.argv.remove("--harmonic")

cache = fit_cache(2)
compare_met_cells(sys.argv[1], cache, C1, ("linear", "c1"))

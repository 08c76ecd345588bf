"""Met cells from each side's own flow, without the bridge (a probe, prediction time only).

The default prediction moves observed cells of both neighbouring snapshots to the held-out time
along the bridged path (the CDE solution from anchor ``k`` plus ``lambda * Delta_k``, which ends on
anchor ``k + 1``) and averages the OT-paired arrivals. Here each side is moved along the field's
own solution from its anchor instead: forward from anchor ``k`` and backward from anchor ``k + 1``,
no bridge, so the learned dynamics alone carry each side and the meet averages their two ends.
For the default fits of the benchmark folds (seeds 3-5) of the datasets given (comma-separated),
W1 of both predictions against the reference, and the distance of their centres from the
reference's (output: ``results/free_flow_meet_probe.txt``, made at commit ``8a0d178``, when each
time was read on its own grid of 4 steps from the anchor; the path is now read on the query grid,
``docs/method.md`` §5)::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/free_flow_meet_probe.py DATASETS [fit-cache]
"""
import sys

import torch
from probe_folds import compare_met_cells, fit_cache

from wf_sc._core.flow import WeightFlowCore
from wf_sc._core.transport import kr_transport

FREE = {"on": False}
_transport = WeightFlowCore.transport


def _free_transport(self, x_std, tau_from, tau_to):
    if not FREE["on"]:
        return _transport(self, x_std, tau_from, tau_to)
    k = int(torch.argmin((self.tau - float(tau_from)).abs()))
    if abs(float(self.tau[k]) - float(tau_from)) > 1e-9 or float(tau_from) == float(tau_to):
        return _transport(self, x_std, tau_from, tau_to)  # not from an anchor: the default path
    target = torch.tensor([float(tau_to)], dtype=self.tau.dtype, device=self.tau.device)
    return kr_transport(self.backbone, self.anchors[k], self.free_weights(k, target)[0], x_std)


WeightFlowCore.transport = _free_transport

cache = fit_cache(2)
compare_met_cells(sys.argv[1], cache, FREE, ("bridged", "free"))

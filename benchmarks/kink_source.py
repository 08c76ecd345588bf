"""Where the fitted path's turn at an anchor comes from: the free flow or the bridge (a probe).

On EMT 10-D, for both benchmark folds and seeds 3-5, the default fit on the training times (three
anchors) is integrated from the first anchor over both intervals, and the weight-space velocity of
the bridged path (:func:`wf_sc._core.objectives.bridged_states`) is taken by one-sided differences
on the integration grid just before and just after the middle anchor. Inside an interval the
bridge adds a constant velocity, the interval's gap rate ``(end gap - start gap) / Delta``, so the
jump of the bridged velocity at the anchor splits exactly into

- the free flow's jump (the CDE solution's own turn over the two grid steps around the anchor), and
- the bridge's jump, the difference of the two intervals' gap rates.

Printed per fold: the three jumps' norms in the field's normalized weights (``theta / s``), and the
size of the bridged velocity itself. An optional argument is a folder of saved fits shared with the
benchmark's ``--fit-cache``. The output method.md cites is ``results/kink_source.txt``::

    OMP_NUM_THREADS=1 WF_SC_DATA_DIR=../shared/data python benchmarks/kink_source.py [fit-cache]
"""
import torch
from probe_folds import default_fits, fit_cache, middle_anchor_segment

from wf_sc._core.objectives import bridged_states


def one_sided(states, grid, b):
    """Velocities just before and just after grid point ``b``."""
    return ((states[b] - states[b - 1]) / (grid[b] - grid[b - 1]), (states[b + 1] - states[b]) / (grid[b + 1] - grid[b]))


if __name__ == "__main__":
    for t_out, seed, _, model in default_fits(fit_cache(1)):
        core = model.core
        with torch.no_grad():
            seg = middle_anchor_segment(core)
            scale = core.field.scale
            free, bridged, grid = seg.states / scale, bridged_states(core, seg) / scale, seg.grid
            b = int(seg.index[0])  # the middle anchor's grid point
            before, after = one_sided(bridged, grid, b)
            free_before, free_after = one_sided(free, grid, b)
            jump, free_jump = after - before, free_after - free_before
            bridge_jump = jump - free_jump
            speed = 0.5 * (before.norm() + after.norm())
        print(f"held out {t_out:g}, seed {seed}: |bridged velocity| {speed:.2f}; jump at the middle anchor "
              f"{jump.norm():.2f}: free flow {free_jump.norm():.2f}, bridge {bridge_jump.norm():.2f} "
              f"(cosine of the bridge's jump with the whole {float(bridge_jump @ jump / (bridge_jump.norm() * jump.norm())):.2f})",
              flush=True)

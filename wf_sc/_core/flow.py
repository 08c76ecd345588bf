"""``WeightFlowCore``: anchors, control path and vector field as one torch module.

Everything here works in *standardized* cell coordinates ``(x - mean) / scale`` and *normalized*
time ``tau in [0, 1]`` over the training times; the AnnData layer converts. The module's
``state_dict`` plus :attr:`config` (plain numbers and strings) is the whole fitted model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .backbone import GRUMDN
from .config import CoreConfig
from .control_path import anchor_codes, anchor_scale, build_path
from .drift import transport_drift
from .growth_field import GrowthField
from .pace import PaceClock
from .dynamics import anchor_grid, integrate, weight_velocity
from .score import score
from .transport import kr_transport
from .vector_field import GraphVectorField
from .weight_graph import build_weight_graph


#: channels of the control path that Stage 2's starting field is fitted on (:meth:`WeightFlowCore.init_affine`)
FIELD_STARTS = ("all", "time")


class WeightFlowCore(nn.Module):
    """The fitted WeightFlow model in standardized space.

    Buffers: ``x_mean``, ``x_scale`` (d,); ``t_range`` (2,) the first and last training time (float64,
    so that large or finely spaced times survive); ``times`` (K+1,) the training times as given (float64);
    ``tau`` (K+1,) normalized anchor times; ``anchors`` (K+1, P); ``codes`` (K+1, n_codes).
    ``growth``: the relative growth field (:class:`~wf_sc._core.growth_field.GrowthField`) when
    ``config.growth``, else None. With ``config.bridge_clock`` also ``pace_speeds`` (K,), the
    interval speeds of the pace clock the bridge follows (:meth:`set_pace`; all equal: no warp).
    """

    def __init__(self, config: CoreConfig):
        super().__init__()
        self.config = config
        self.backbone = GRUMDN(config.dim, config.hidden, config.n_components)
        K1, P = config.n_times, self.backbone.n_params
        self.register_buffer("x_mean", torch.zeros(config.dim))
        self.register_buffer("x_scale", torch.ones(config.dim))
        self.register_buffer("t_range", torch.tensor([0.0, 1.0], dtype=torch.float64))
        self.register_buffer("tau", torch.linspace(0, 1, K1))
        self.register_buffer("times", torch.linspace(0, 1, K1, dtype=torch.float64))
        self.register_buffer("anchors", torch.zeros(K1, P))
        self.register_buffer("codes", torch.zeros(K1, config.n_codes))
        self.graph = build_weight_graph(self.backbone, config.graph)
        self.field = GraphVectorField(
            self.backbone,
            self.graph,
            1 + config.n_codes,
            torch.zeros(P),
            torch.ones(P),
            width=config.width,
            n_layers=config.n_layers,
            heads=config.heads,
            conv=config.conv,
        )
        self.growth = GrowthField(config.dim) if config.growth else None
        if config.bridge_clock:
            self.register_buffer("pace_speeds", torch.ones(K1 - 1, dtype=torch.float64))
        self._cache: dict = {}  # derived state kept out of the state_dict: the control path, the interval paths

    # ------------------------------------------------------------------ set-up
    def set_data(self, x_mean: Tensor, x_scale: Tensor, times: Tensor) -> None:
        """Record the standardization and the training times (sorted, real units)."""
        self.x_mean.copy_(x_mean)
        self.x_scale.copy_(x_scale)
        times = times.double()
        self.times.copy_(times)
        self.t_range.copy_(torch.stack([times[0], times[-1]]))
        self.tau.copy_((times - times[0]) / (times[-1] - times[0]))
        self._cache.clear()

    def set_anchors(self, anchors: Tensor) -> None:
        """Store the anchors, the per-weight normalization and the control-path codes."""
        self.anchors.copy_(anchors)
        center, scale = anchor_scale(anchors, self.config.scale_floor)
        self.field.center.copy_(center)
        self.field.scale.copy_(scale)
        self.codes.copy_(anchor_codes(anchors, center, scale, self.config.n_codes))
        self._cache.clear()

    def set_pace(self, speeds: Tensor) -> None:
        """Store the interval speeds of the pace clock (:func:`~wf_sc._core.pace.interval_speeds`)
        that the bridge follows with ``config.bridge_clock``; without it there is nothing to store."""
        if self.config.bridge_clock:
            self.pace_speeds.copy_(speeds)
            self._cache.clear()

    def bridge_clock(self) -> PaceClock | None:
        """The pace clock the bridge grows along (``config.bridge_clock``), else None."""
        if not self.config.bridge_clock:
            return None
        if "clock" not in self._cache:
            self._cache["clock"] = PaceClock(self.tau, self.pace_speeds)
        return self._cache["clock"]

    @torch.no_grad()
    def init_affine(self, channels: str = "all") -> None:
        """Least-squares constant field ``B``: ``(theta_k - theta_0)/s ~ B (Z(tau_k) - Z(tau_0))``.

        ``channels="all"`` fits every channel of ``Z`` (time and codes: the start passes through
        the anchors); ``"time"`` fits the time channel alone and starts the codes' columns at 0,
        so Stage 2 starts from one time-driven field shared by all intervals.
        """
        if channels not in FIELD_STARTS:
            raise ValueError(f"unknown channels {channels!r}, known are {list(FIELD_STARTS)}")
        dz = self.path.evaluate(self.tau) - self.path.evaluate(self.tau[0])  # (K+1, C)
        if channels == "time":
            dz = dz[:, :1]
        du = (self.anchors - self.anchors[0]) / self.field.scale  # (K+1, P)
        sol = torch.linalg.lstsq(dz, du, driver="gelsd" if dz.device.type == "cpu" else None).solution
        affine = torch.zeros_like(self.field.affine)
        affine[:, : dz.shape[1]] = sol.T
        self.field.affine.copy_(affine)

    @property
    def path(self):
        """The control path Z (torchcde linear or cubic interpolation), rebuilt from the buffers when needed."""
        if "path" not in self._cache:
            self._cache["path"] = build_path(self.tau, self.codes, self.config.path)
        return self._cache["path"]

    def _apply(self, fn, *args, **kwargs):  # device/dtype moves invalidate the cached path
        self._cache.clear()
        return super()._apply(fn, *args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        self._cache.clear()
        return super().load_state_dict(*args, **kwargs)

    # ------------------------------------------------------------------ time
    def to_tau(self, t: Tensor) -> Tensor:
        """Real time -> normalized time ``tau = (t - t_0) / (t_K - t_0)``, computed in float64."""
        return (t.double() - self.t_range[0]) / (self.t_range[1] - self.t_range[0])

    def tau_to_time(self, tau: Tensor) -> Tensor:
        """Normalized time -> real time (float64)."""
        return self.t_range[0] + tau.double() * (self.t_range[1] - self.t_range[0])

    # ------------------------------------------------------------------ dynamics
    def integrate_from(self, k: int, targets: Tensor, steps: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Integrate from anchor ``k`` on its grid (:func:`~wf_sc._core.dynamics.anchor_grid`, ``steps``
        sub-steps per anchor interval, ``config.steps`` if None: training's grid) to the last of
        ``targets``, which must be grid points (anchors, in the direction of integration).

        Returns (grid, states (G, P), index of each target in the grid).
        """
        grid = anchor_grid(self.tau, k, targets[-1], self.config.steps if steps is None else steps)
        states = integrate(self.field, self.path, self.anchors[k], grid, self.config.method)
        index = (grid[None, :] == targets[:, None]).int().argmax(1)
        if not torch.equal(grid[index], targets):
            raise ValueError("integrate_from's targets must be points of the anchor grid; use free_weights")
        return grid, states, index

    def free_weights(self, k: int, targets: Tensor) -> Tensor:
        """The unbridged solution :math:`\\hat\\theta_k` started at anchor ``k``, at ``targets`` (all on
        one side of :math:`\\tau_k`), read on the query grid: (T, P).

        One integration on the anchor grid with ``config.query_steps`` sub-steps per anchor interval
        (:func:`~wf_sc._core.dynamics.anchor_grid`) to the farthest target (without gradients and
        inside interval ``k``, the kept :meth:`interval_paths`), then from the grid point
        :math:`g_i` at or before each target one partial step of the solver to it:

        .. math:: \\hat\\theta_k(\\tau) = \\Phi_{\\tau - g_i}\\big(\\hat\\theta_k(g_i)\\big)

        Every time reads the same trajectory, so a time's weights do not depend on the other times
        queried with it, and their change over a short time is the field's velocity.
        """
        forward = bool(targets.min() >= self.tau[k])
        end = targets.max() if forward else targets.min()
        if forward and k < len(self.tau) - 1 and end <= self.tau[k + 1] and not torch.is_grad_enabled():
            grid, states = self.interval_paths()[k]
        else:
            grid = anchor_grid(self.tau, k, end, self.config.query_steps)
            states = integrate(self.field, self.path, self.anchors[k], grid, self.config.method)
        sign = 1.0 if forward else -1.0
        before = (torch.searchsorted(sign * grid, (sign * targets).contiguous(), right=True) - 1).clamp_min(0)
        out = states[before]
        for q in torch.nonzero(grid[before] != targets)[:, 0].tolist():
            step = torch.stack([grid[before[q]], targets[q]])
            out[q] = integrate(self.field, self.path, states[before[q]], step, self.config.method)[-1]
        return out

    def interval_ends(self, steps: int | None = None) -> Tensor:
        """Where each interval's trajectory ends, :math:`\\hat\\theta_k(\\tau_{k+1})`: (K, P), with
        :math:`\\hat\\theta_k` the (unbridged) CDE solution started at anchor :math:`k`, integrated with
        ``steps`` sub-steps (``config.steps`` if None, as in training)."""
        return torch.stack(
            [self.integrate_from(k, self.tau[k + 1 : k + 2], steps)[1][-1] for k in range(len(self.tau) - 1)]
        )

    @torch.no_grad()
    def interval_paths(self) -> list[tuple[Tensor, Tensor]]:
        """Each anchor interval's unbridged trajectory on the query grid, ``[(grid_k, states_k)]``
        (:meth:`integrate_from` anchor ``k`` to :math:`\\tau_{k+1}` with ``config.query_steps``).

        The tensors are the kept ones: read them, do not write into them. Kept until the times,
        anchors, codes, the field's parameters or buffers, ``config.query_steps``
        or ``config.method`` change: the values they follow from are compared whole, since writes
        through ``.data`` or in inference mode leave no version counter to trust.
        """
        inputs = [self.tau, self.anchors, self.codes, *self.field.parameters(), *self.field.buffers()]
        kept = self._cache.get("paths")
        if kept is None or kept[0] != (self.config.query_steps, self.config.method) or not all(
            a.dtype == b.dtype and a.shape == b.shape and a.device == b.device and torch.equal(a, b)
            for a, b in zip(kept[1], inputs, strict=True)
        ):
            paths = [self.integrate_from(k, self.tau[k + 1 : k + 2], self.config.query_steps)[:2]
                     for k in range(len(self.tau) - 1)]
            kept = self._cache["paths"] = ((self.config.query_steps, self.config.method), [x.clone() for x in inputs], paths)
        return kept[2]

    def anchor_gaps(self) -> Tensor:
        """How far each interval's trajectory, read on the query grid, ends from the next anchor: (K, P).

        .. math:: \\Delta_k = \\theta_{k+1} - \\hat\\theta_k(\\tau_{k+1})   (:meth:`interval_ends` with ``config.query_steps``)

        Without gradients, the same values from the ends of the kept :meth:`interval_paths`.
        """
        if torch.is_grad_enabled():
            return self.anchors[1:] - self.interval_ends(self.config.query_steps)
        return self.anchors[1:] - torch.stack([states[-1] for _, states in self.interval_paths()])

    def bridge_share(self) -> Tensor:
        """How much of each anchor interval the bridge covers rather than the learned field: (K,).

        .. math:: b_k = \\frac{\\lVert \\Delta_k / s \\rVert}{\\lVert (\\theta_{k+1} - \\theta_k) / s \\rVert}

        (:meth:`anchor_gaps`, weights normalized by the field's scale ``s``): 0 when the free
        trajectory from anchor ``k`` reaches anchor ``k+1`` by itself, 1 when it does not move
        (``> 1`` when it moves away).
        """
        scale = self.field.scale
        return (self.anchor_gaps() / scale).norm(dim=1) / ((self.anchors[1:] - self.anchors[:-1]) / scale).norm(dim=1)

    def _bridge_weight(self, tau: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Interval ``k`` of each time, the bridge weight ``(tau - tau_k) / (tau_{k+1} - tau_k)``
        (with ``config.bridge_clock`` ``(phi(tau) - tau_k) / (tau_{k+1} - tau_k)``, ``phi`` the pace
        clock, which agrees with ``tau`` at the anchors; 0 outside ``[tau_0, tau_K)``: no next anchor
        to bridge to) and whether it is inside."""
        k, frac = self._segment(tau)
        clock = self.bridge_clock()
        if clock is not None:
            frac = (clock(tau) - self.tau[k]) / (self.tau[k + 1] - self.tau[k])
        inside = (tau >= self.tau[0]) & (tau < self.tau[-1])
        return k, torch.where(inside, frac, torch.zeros_like(frac)), inside

    def weights(self, tau: Tensor, start: str = "nearest") -> Tensor:
        """``theta(tau)`` for each query (Q,) -> (Q, P).

        ``start="nearest"`` integrates from the nearest anchor at or before each time (times before
        the first anchor integrate backward from it); ``start="first"`` always from ``theta_0``.
        Queries sharing a start anchor share one integration (:meth:`free_weights`); a time's
        weights do not depend on the other times queried with it. With
        ``config.bridge`` and ``start="nearest"``, a time inside anchor interval ``k`` gets the
        bridged weights

        .. math:: \\tilde\\theta(\\tau) = \\hat\\theta_k(\\tau) + \\lambda\\,\\Delta_k, \\quad
                  \\lambda = (\\tau - \\tau_k) / (\\tau_{k+1} - \\tau_k)
        (``config.bridge_clock``: :math:`\\varphi(\\tau)` for :math:`\\tau` in the numerator),

        which start at anchor ``k`` and end exactly at anchor ``k+1`` (:meth:`anchor_gaps`);
        ``start="first"`` shows the free trajectory. With ``config.dynamics == "linear"`` theta is
        the piecewise-linear interpolation of the anchors (extended linearly beyond the first and
        last anchor), whatever ``start`` says.
        """
        if start not in ("nearest", "first"):
            raise ValueError(f"unknown start {start!r}, known are ['nearest', 'first']")
        tau = tau.to(self.tau)
        if self.config.dynamics == "linear":
            k, frac = self._segment(tau)
            return self.anchors[k] + frac[:, None] * (self.anchors[k + 1] - self.anchors[k])
        out = torch.empty(len(tau), self.anchors.shape[1], dtype=self.anchors.dtype, device=tau.device)
        if start == "first":
            starts = torch.zeros(len(tau), dtype=torch.long, device=tau.device)
        else:
            starts = (torch.searchsorted(self.tau, tau.contiguous(), right=True) - 1).clamp_min(0)
        for k in starts.unique().tolist():
            sel = torch.nonzero(starts == k)[:, 0]
            forward = tau[sel] >= self.tau[k]
            for idx in (sel[forward], sel[~forward]):
                if len(idx):
                    out[idx] = self.free_weights(k, tau[idx])
        if self.config.bridge and start == "nearest":
            k, lam, _ = self._bridge_weight(tau)
            out = out + lam[:, None] * self.anchor_gaps()[k]
        return out

    def _segment(self, tau: Tensor) -> tuple[Tensor, Tensor]:
        """Anchor interval ``k`` of each time (first/last interval beyond the ends) and the fraction
        ``(tau - tau_k) / (tau_{k+1} - tau_k)`` (outside [0, 1] beyond the ends)."""
        k = (torch.searchsorted(self.tau, tau.contiguous(), right=True) - 1).clamp(0, len(self.tau) - 2)
        return k, (tau - self.tau[k]) / (self.tau[k + 1] - self.tau[k])

    def weight_velocity(self, theta: Tensor, tau: Tensor) -> Tensor:
        """``d theta / d tau`` at state ``theta`` and time ``tau``.

        CDE/ODE: ``g(theta) dZ/dtau``; with ``config.bridge``, ``theta`` is a bridged state and the
        velocity is ``g(theta - lambda Delta_k) dZ/dtau + Delta_k / (tau_{k+1} - tau_k)`` (times
        ``d phi / d tau`` with ``config.bridge_clock``); linear
        dynamics: the slope of the anchor interval holding ``tau``.
        """
        if self.config.dynamics == "linear":
            k, _ = self._segment(tau.reshape(1).to(self.tau))
            return ((self.anchors[k + 1] - self.anchors[k]) / (self.tau[k + 1] - self.tau[k]))[0]
        if self.config.bridge:
            k, lam, inside = self._bridge_weight(tau.reshape(1).to(self.tau))
            if bool(inside[0]):
                gap = self.anchor_gaps()[k[0]]
                raw = theta - lam[0] * gap
                rate = gap / (self.tau[k[0] + 1] - self.tau[k[0]])
                clock = self.bridge_clock()
                if clock is not None:
                    rate = rate * clock.rate(tau.reshape(1).to(self.tau))[0]
                return weight_velocity(self.field, self.path, raw, tau) + rate
        return weight_velocity(self.field, self.path, theta, tau)

    # ------------------------------------------------------------------ populations
    def log_prob(self, theta: Tensor, x_std: Tensor) -> Tensor:
        return self.backbone.log_prob(theta, x_std)

    def sample(self, theta: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self.backbone.sample(theta, n, generator)

    def score(self, theta: Tensor, x_std: Tensor) -> Tensor:
        """Score ``grad log p_theta`` of cells ``x_std`` in standardized space (:mod:`.score`)."""
        return score(self.backbone, theta, x_std)

    def drift(self, theta: Tensor, tau: Tensor, x_std: Tensor, theta_dot: Tensor | None = None) -> Tensor:
        """Transport drift ``dx_std / d tau`` of cells ``x_std`` under ``theta`` at ``tau``.

        ``theta_dot``: :meth:`weight_velocity` at ``(theta, tau)`` when the caller has it already
        (chunks of one time should share it).
        """
        theta_dot = self.weight_velocity(theta, tau) if theta_dot is None else theta_dot
        return transport_drift(self.backbone, theta, theta_dot, x_std)

    def drift_and_log_prob(self, theta: Tensor, tau: Tensor, x_std: Tensor, theta_dot: Tensor) -> tuple[Tensor, Tensor]:
        """:meth:`drift` and :meth:`log_prob` of cells ``x_std`` from one pass over the coordinates."""
        return transport_drift(self.backbone, theta, theta_dot, x_std, with_log_prob=True)

    def transport(self, x_std: Tensor, tau_from: float, tau_to: float) -> Tensor:
        """Cells ``x_std`` at ``tau_from`` moved along the drift to ``tau_to`` (:mod:`.transport`)."""
        tau = torch.tensor([float(tau_from), float(tau_to)], dtype=self.tau.dtype, device=self.tau.device)
        theta = self.weights(tau)
        return kr_transport(self.backbone, theta[0], theta[1], x_std)

r"""OT-CFM, the learned baseline: conditional flow matching with minibatch exact-OT couplings.

Tong et al., TMLR 2024, trained on all training snapshots at once and integrated from the real
cells at :math:`t_{\mathrm{prev}}`. Pure numpy/torch/POT.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .baselines import draw, exact_plan

log = logging.getLogger(__name__)


class _VelocityMLP(nn.Module):
    """``v(x, tau)``: an MLP on the concatenation ``[x, tau]`` with SiLU activations."""

    def __init__(self, dim: int, width: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = []
        d_in = dim + 1
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.SiLU()]
            d_in = width
        layers.append(nn.Linear(d_in, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, tau: Tensor) -> Tensor:
        """Velocities at cells ``x`` (n, d) and times ``tau`` ((n, 1) or (1, 1)): (n, d)."""
        return self.net(torch.cat([x, tau.expand(len(x), 1)], dim=1))


def minibatch_ot_pairs(x0: np.ndarray, x1: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r"""Pair two minibatches by their exact OT plan: :math:`(i_k, j_k) \sim P^\star`, :math:`k = 1..B_0`.

    :math:`P^\star = \arg\min_{P \in U(B_0, B_1)} \sum_{ij} P_{ij} \lVert x^0_i - x^1_j \rVert^2`
    (:func:`ot.emd`); ``B_0`` index pairs are drawn with replacement with probabilities
    :math:`P^\star_{ij}`, as in Tong et al. (2024), Algorithm 2 with exact OT.

    Parameters
    ----------
    x0
        Source minibatch, shape ``(B0, d)``.
    x1
        Target minibatch, shape ``(B1, d)``.
    rng
        Pair draws.

    Returns
    -------
    Index arrays ``(i, j)`` of length ``B0``.
    """
    plan = exact_plan(x0, x1, num_itermax=100_000)  # POT's default budget: minibatches are small
    flat = plan.ravel() / plan.sum()
    pick = rng.choice(flat.size, size=len(x0), p=flat)
    return np.unravel_index(pick, plan.shape)


class OTCFM:
    r"""Conditional flow matching with minibatch exact-OT couplings (OT-CFM; Tong et al., TMLR 2024).

    A velocity field :math:`v_\phi(x, \tau)` (an MLP of ``depth`` hidden layers of ``width`` units,
    SiLU, input :math:`[x, \tau]`) is trained on every interval between consecutive training
    snapshots :math:`(t_k, t_{k+1})`, in standardized coordinates
    :math:`\tilde x = (x - \mu) / \sigma_{\mathrm{data}}` (per-dimension mean and standard deviation
    over all training cells) and normalized time
    :math:`\tau = (t - t_0) / (t_K - t_0) \in [0, 1]`. Each optimizer step draws an interval
    :math:`k` uniformly, ``batch_size`` cells from each of its two snapshots, pairs them with
    :func:`minibatch_ot_pairs`, draws :math:`u \sim U(0, 1)` and :math:`\varepsilon \sim N(0, I)`,
    and minimizes

    .. math::
        \mathcal L(\phi) = \Big\lVert v_\phi\big(x_u, \tau_k + u\,\Delta\tau_k\big)
            - \frac{x_1 - x_0}{\Delta\tau_k} \Big\rVert^2, \qquad
        x_u = (1 - u)\,x_0 + u\,x_1 + \sigma\,\varepsilon,

    with :math:`\Delta\tau_k = \tau_{k+1} - \tau_k`: the constant-width Gaussian path of OT-CFM
    (width :math:`\sigma` in standardized units), its conditional velocity rescaled from the unit
    interval to the interval's real length so one field serves every interval.

    Prediction (:meth:`predict`) integrates :math:`d\tilde x / d\tau = v_\phi(\tilde x, \tau)` from
    the real cells at :math:`t_{\mathrm{prev}}` to :math:`t` with ``ode_steps`` fixed RK4 steps.

    Parameters
    ----------
    steps
        Optimizer steps (the fixed training budget; default 2000).
    batch_size
        Cells per snapshot per step (default 256).
    lr
        Adam learning rate.
    sigma
        Width of the probability path in standardized units (default 0.1; 0 gives the
        deterministic straight-line path).
    width, depth
        Hidden units per layer and number of hidden layers of the MLP.
    ode_steps
        Fixed RK4 steps of each prediction (whatever the length of the interval).
    random_state
        Seed of the initialization, the minibatches, the couplings and the noise.
    device
        Torch device of the network (the couplings are computed on the CPU).
    """

    def __init__(
        self,
        *,
        steps: int = 2000,
        batch_size: int = 256,
        lr: float = 1e-3,
        sigma: float = 0.1,
        width: int = 64,
        depth: int = 3,
        ode_steps: int = 100,
        random_state: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if steps < 0 or batch_size < 1 or ode_steps < 1 or sigma < 0:
            raise ValueError(
                "need steps >= 0, batch_size >= 1, ode_steps >= 1, sigma >= 0; "
                f"got {steps}, {batch_size}, {ode_steps}, {sigma}"
            )
        self.steps, self.batch_size, self.lr, self.sigma = int(steps), int(batch_size), float(lr), float(sigma)
        self.width, self.depth, self.ode_steps = int(width), int(depth), int(ode_steps)
        self.random_state = int(random_state)
        self.device = torch.device(device)
        self.net: _VelocityMLP | None = None
        self.losses: list[float] = []

    # ------------------------------------------------------------------ coordinates
    def _tau(self, t: float) -> float:
        return (float(t) - self.t0) / self.t_span

    def _std(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.scale

    # ------------------------------------------------------------------ training
    def fit(self, snapshots: Sequence[np.ndarray], times: Sequence[float]) -> OTCFM:
        """Train on consecutive pairs of ``snapshots`` (list of ``(n_k, d)``) at sorted ``times``.

        Parameters
        ----------
        snapshots
            Cells of each training time point.
        times
            Their times, strictly increasing, at least two.

        Returns
        -------
        ``self``, fitted.
        """
        times = np.asarray(times, dtype=np.float64)
        if len(snapshots) != len(times) or len(times) < 2 or not np.all(np.diff(times) > 0):
            raise ValueError("need at least two snapshots at strictly increasing times, one time per snapshot")
        allx = np.concatenate([np.asarray(x, dtype=np.float64) for x in snapshots])
        self.mean, self.scale = allx.mean(0), np.maximum(allx.std(0), 1e-8)
        self.t0, self.t_span = float(times[0]), float(times[-1] - times[0])
        taus = (times - self.t0) / self.t_span
        std = [self._std(x) for x in snapshots]
        dim = allx.shape[1]
        rng = np.random.default_rng(self.random_state)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.random_state)
            self.net = _VelocityMLP(dim, self.width, self.depth).to(self.device)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)

        def as_t(a: np.ndarray) -> Tensor:
            return torch.as_tensor(a, dtype=torch.float32, device=self.device)

        self.losses = []
        for _ in range(self.steps):
            k = int(rng.integers(len(std) - 1))
            x0 = draw(std[k], min(self.batch_size, len(std[k])), rng)
            x1 = draw(std[k + 1], min(self.batch_size, len(std[k + 1])), rng)
            i, j = minibatch_ot_pairs(x0, x1, rng)
            x0, x1 = x0[i], x1[j]
            u = rng.uniform(size=(len(x0), 1))
            dtau = taus[k + 1] - taus[k]
            xu = (1 - u) * x0 + u * x1 + self.sigma * rng.standard_normal(x0.shape)
            target = (x1 - x0) / dtau
            pred = self.net(as_t(xu), as_t(taus[k] + u * dtau))
            loss = ((pred - as_t(target)) ** 2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.losses.append(loss.item())
        self.net.eval()
        log.debug("OT-CFM: %d steps, final loss %.4g", self.steps, self.losses[-1] if self.losses else float("nan"))
        return self

    # ------------------------------------------------------------------ prediction
    def predict(self, x: np.ndarray, t_from: float, t_to: float) -> np.ndarray:
        r"""Transport cells ``x`` observed at ``t_from`` to ``t_to`` along the learned ODE (RK4).

        .. math::
            \tilde x_{i+1} = \tilde x_i + \tfrac{h}{6}(k_1 + 2k_2 + 2k_3 + k_4), \qquad
            h = (\tau(t_{\mathrm{to}}) - \tau(t_{\mathrm{from}})) / \mathrm{ode\_steps}.

        Parameters
        ----------
        x
            Cells at ``t_from``, shape ``(n, d)``, in the original coordinates.
        t_from
            Their time.
        t_to
            Target time (may be earlier: integrates backward).

        Returns
        -------
        The transported cells, shape ``(n, d)``, in the original coordinates.
        """
        if self.net is None:
            raise RuntimeError("OTCFM is not fitted; call .fit(snapshots, times) first")
        net = self.net
        z = torch.as_tensor(self._std(x), dtype=torch.float32, device=self.device)
        tau0, tau1 = self._tau(t_from), self._tau(t_to)
        h = (tau1 - tau0) / self.ode_steps

        def v(zz: Tensor, tt: float) -> Tensor:
            return net(zz, torch.full((1, 1), tt, dtype=zz.dtype, device=zz.device))

        with torch.no_grad():
            for i in range(self.ode_steps):
                tt = tau0 + i * h
                k1 = v(z, tt)
                k2 = v(z + 0.5 * h * k1, tt + 0.5 * h)
                k3 = v(z + 0.5 * h * k2, tt + 0.5 * h)
                k4 = v(z + h * k3, tt + h)
                z = z + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        return z.cpu().numpy().astype(np.float64) * self.scale + self.mean


#: the pairwise predictors under the benchmark's method names

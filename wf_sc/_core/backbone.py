"""Autoregressive mixture-density backbone whose flat weight vector is the WeightFlow state.

The density of a cell ``x in R^d`` factorizes over coordinates,

.. math:: p_\\theta(x) = \\prod_{j=1}^{d} p_\\theta(x_j \\mid x_{<j}),\\qquad
          p_\\theta(x_j \\mid x_{<j}) = \\sum_{k=1}^{K} \\pi_{jk}\\,
          \\mathcal N(x_j;\\, \\mu_{jk}, \\sigma_{jk}^2),

with ``(pi_j, mu_j, log sigma_j)`` read from the hidden state ``h_j`` of a GRU run over the
coordinate index (WeightFlow, Li et al. AAAI 2026, Sec. 3.1). Step ``j`` reads the previous
coordinate and a one-hot code of ``j``; ``h_0 = 0``.

Every weight belongs to one of three plain linear maps (no fused cuDNN kernels) so that the weight
graph can address each neuron:

========== ================ ===========================================
layer      map              rows (= neurons)
========== ================ ===========================================
input      [x_{j-1}, e_j]   3H gate pre-activations (r, z, n) from input
recurrent  h_{j-1}          3H gate pre-activations (r, z, n) from state
head       h_j              3K mixture parameters (logits, means, log-scales)
========== ================ ===========================================

Each layer is stored as a matrix ``[W | b]`` of shape ``(n_out, n_in + 1)`` (row = one neuron's
incoming weights and bias), flattened row-major and concatenated in the order above.
All functions take the flat vector ``theta`` of shape ``(P,)`` explicitly, so the same code
evaluates anchors, CDE states and their tangents (forward-mode, :mod:`wf_sc._core.drift`). The likelihood, the
Knothe-Rosenblatt maps and their inverses also take a stack ``(M, P)`` of weight vectors with cells
``(M, n, d)`` (or ``(n, d)`` shared by all ``M``): one pass over the coordinates then serves ``M``
densities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

#: log-scales are squashed into [LOG_SIGMA_CENTER - LOG_SIGMA_RADIUS, ... + LOG_SIGMA_RADIUS]
LOG_SIGMA_CENTER = -1.0
LOG_SIGMA_RADIUS = 3.0
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class Layer:
    """One linear map of the backbone: ``n_out`` neurons reading ``n_in`` inputs plus a bias."""

    name: str
    n_in: int
    n_out: int
    #: names of the consecutive row blocks (gates / mixture parameter groups), equal sizes
    blocks: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.n_out * (self.n_in + 1)


class Maps(NamedTuple):
    """The backbone's linear maps for one pass over the coordinates (:meth:`GRUMDN.maps`)."""

    x_weight: Tensor  # (..., 1, 3H): the input map's column reading x_{j-1}
    codes: Tensor  # (..., d, 1, 3H): each step's input bias W e_j + b
    rec: tuple[Tensor, Tensor]  # recurrent weight (..., 3H, H) and bias (..., 3H)
    head: tuple[Tensor, Tensor]  # head weight (..., 3K, H) and bias (..., 3K)


class GRUMDN:
    """GRU mixture-density network over the coordinate index, as a function of flat weights.

    Parameters
    ----------
    dim
        Number of coordinates ``d``.
    hidden
        GRU hidden size ``H``.
    n_components
        Gaussian components ``K`` per conditional.
    """

    def __init__(self, dim: int, hidden: int = 32, n_components: int = 5):
        if dim < 1 or hidden < 1 or n_components < 1:
            raise ValueError("dim, hidden and n_components must be positive")
        self.dim, self.hidden, self.n_components = dim, hidden, n_components
        self.layers = (
            Layer("input", 1 + dim, 3 * hidden, ("r", "z", "n")),
            Layer("recurrent", hidden, 3 * hidden, ("r", "z", "n")),
            Layer("head", hidden, 3 * n_components, ("logit", "mean", "log_scale")),
        )
        self.offsets = [0]
        for layer in self.layers:
            self.offsets.append(self.offsets[-1] + layer.size)

    @property
    def n_params(self) -> int:
        """Length ``P`` of the flat weight vector."""
        return self.offsets[-1]

    # ------------------------------------------------------------------ weights
    def unflatten(self, theta: Tensor) -> list[Tensor]:
        """Split ``theta`` (..., P) into the per-layer matrices ``[W | b]`` of shape (..., n_out, n_in+1)."""
        return [
            theta[..., a:b].reshape(*theta.shape[:-1], layer.n_out, layer.n_in + 1)
            for layer, a, b in zip(self.layers, self.offsets[:-1], self.offsets[1:])
        ]

    def init(self, generator: torch.Generator | None = None, dtype=torch.float32) -> Tensor:
        """PyTorch-style uniform initialization ``U(-1/sqrt(H), 1/sqrt(H))``; head scaled by 0.1."""
        bound = 1.0 / math.sqrt(self.hidden)
        parts = []
        for layer in self.layers:
            w = (torch.rand(layer.n_out, layer.n_in + 1, generator=generator, dtype=dtype) * 2 - 1)
            w = w * bound * (0.1 if layer.name == "head" else 1.0)
            parts.append(w.reshape(-1))
        return torch.cat(parts)

    # ------------------------------------------------------------------ forward
    def maps(self, theta: Tensor) -> Maps:
        """The three linear maps of ``theta`` (..., P) laid out for a pass over the coordinates.

        Each weight matrix is copied contiguous once per pass (a strided slice of ``[W | b]`` makes
        every per-step matrix product slower), and the input map is split into the column that
        reads ``x_{j-1}`` and each step's bias ``W e_j + b``.
        """
        W_in, W_rec, W_head = self.unflatten(theta)
        return Maps(
            x_weight=W_in[..., None, :, 0],
            codes=(W_in[..., 1 : 1 + self.dim] + W_in[..., -1:]).mT[..., None, :],
            rec=_weight_bias(W_rec),
            head=_weight_bias(W_head),
        )

    def _step_inputs(self, maps: Maps, x_prev: Tensor | None, j: int) -> Tensor:
        """Input pre-activations ``W [x_{j-1}, e_j] + b`` of step ``j`` for cells ``x_prev`` (..., n):
        (..., n, 3H); ``x_prev=None`` is the first step (``x_0 = 0``), (..., 1, 3H).

        Formed step by step (not for all ``d`` steps at once) so each step's inputs stay small.
        """
        if x_prev is None:
            return maps.codes[..., j, :, :]
        return torch.addcmul(maps.codes[..., j, :, :], x_prev[..., None], maps.x_weight)

    def _gru(self, maps: Maps, gi: Tensor, h: Tensor) -> Tensor:
        """One GRU update ``h' = (1 - z) * n + z * h = n + z * (h - n)`` (PyTorch gate convention)."""
        H = self.hidden
        gi_rz, gi_n = gi.split((2 * H, H), dim=-1)
        gh_rz, gh_n = _affine(*maps.rec, h).split((2 * H, H), dim=-1)
        r, z = torch.sigmoid(gi_rz + gh_rz).chunk(2, dim=-1)
        n = torch.tanh(gi_n + r * gh_n)
        return n + z * (h - n)

    def _head(self, maps: Maps, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture parameters from the states ``h`` (..., n, H): log-weights, means, log-scales, each (..., n, K)."""
        return self._mixture(_affine(*maps.head, h))

    def _mixture(self, out: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture parameters from the head's outputs ``out = (l, m, s)`` (..., n, 3K):
        ``log pi = log softmax(l)``, ``mu = m``, ``log sigma = C + R tanh(s / R)`` (``LOG_SIGMA_*``)."""
        K = self.n_components
        logits = out[..., :K]
        # log-softmax written out, shifted by the (constant) largest logit
        shift = logits.max(dim=-1, keepdim=True).values.detach()
        log_pi = logits - shift - torch.log(torch.exp(logits - shift).sum(-1, keepdim=True))
        mu = out[..., K : 2 * K]
        log_sigma = LOG_SIGMA_CENTER + LOG_SIGMA_RADIUS * torch.tanh(out[..., 2 * K :] / LOG_SIGMA_RADIUS)
        return log_pi, mu, log_sigma

    def _mixture_tangent(self, out: Tensor, out_dot: Tensor, log_pi: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Tangents of :meth:`_mixture`'s parameters at ``out = (l, m, s)`` along a tangent
        ``out_dot = (l', m', s')``, given ``log_pi = _mixture(out)[0]`` (``R = LOG_SIGMA_RADIUS``):

        .. math:: (\\log\\pi_k)' = l'_k - \\sum_i \\pi_i l'_i, \\qquad \\mu_k' = m'_k, \\qquad
                  (\\log\\sigma_k)' = \\big(1 - \\tanh^2(s_k / R)\\big)\\, s'_k .
        """
        K = self.n_components
        logits_dot = out_dot[..., :K]
        squash = torch.tanh(out[..., 2 * K :] / LOG_SIGMA_RADIUS)
        log_pi_dot = logits_dot - (torch.exp(log_pi) * logits_dot).sum(-1, keepdim=True)
        return log_pi_dot, out_dot[..., K : 2 * K], (1 - squash**2) * out_dot[..., 2 * K :]

    def _scan(self, theta: Tensor, ref: Tensor, step) -> list:
        """Run the GRU over the coordinates ``j = 1..d`` for ``ref.shape[-2]`` cells per weight vector.

        At each step the head's mixture parameters go to ``step(j, log_pi, mu, log_sigma)``, which
        returns the coordinate fed to the next step and this step's output; returns the outputs.
        ``ref`` fixes the number of cells, dtype and device; ``theta`` (..., P) the batch shape.
        """
        maps = self.maps(theta)
        n = ref.shape[-2]
        h = ref.new_zeros(*theta.shape[:-1], n, self.hidden)
        x_prev = None
        outs = []
        for j in range(self.dim):
            h = self._gru(maps, self._step_inputs(maps, x_prev, j), h)
            x_prev, out = step(j, *self._head(maps, h))
            outs.append(out)
        return outs

    def conditionals(self, theta: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mixture parameters of every conditional ``p(x_j | x_<j)`` under teacher forcing.

        ``theta`` (..., P), ``x`` (..., n, d). Returns ``(log_pi, mu, log_sigma)``, each of shape
        (..., n, d, K). The same recursion as :meth:`_scan`, with the head map of all ``d`` steps
        applied in one batched call (only the recurrent update is sequential).
        """
        maps = self.maps(theta)
        n, d = x.shape[-2], self.dim
        h = x.new_zeros(*torch.broadcast_shapes(theta.shape[:-1], x.shape[:-2]), n, self.hidden)
        states = []
        for j in range(d):
            h = self._gru(maps, self._step_inputs(maps, x[..., j - 1] if j else None, j), h)
            states.append(h)
        H = torch.stack(states, dim=-2)  # (..., n, d, H)
        params = self._head(maps, H.flatten(-3, -2))  # each (..., n * d, K)
        return tuple(p.unflatten(-2, (n, d)) for p in params)

    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        """Exact log-density ``log p_theta(x) = sum_j log sum_k pi_jk N(x_j; mu_jk, sigma_jk^2)``: (..., n)."""
        return mixture_log_pdf(*self.conditionals(theta, x), x).sum(-1)

    def cdf(self, theta: Tensor, x: Tensor) -> Tensor:
        """Conditional CDFs ``u_j = F_j(x_j | x_<j) = sum_k pi_jk Phi((x_j - mu_jk) / sigma_jk)``: (..., n, d).

        The map ``x -> u`` is the Knothe-Rosenblatt (triangular) transport from ``p_theta`` to the
        uniform distribution on the unit cube.
        """
        return mixture_cdf_pdf(*self.conditionals(theta, x), x)[0]

    @torch.no_grad()
    def sample(self, theta: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Ancestral sampling ``x_j ~ p_theta(x_j | x_<j)``, j = 1..d: (n, d)."""
        rows = torch.arange(n, device=theta.device)

        def draw(j, log_pi, mu, log_sigma):
            k = torch.multinomial(torch.exp(log_pi), 1, generator=generator)[:, 0]
            eps = torch.randn(n, generator=generator, dtype=theta.dtype, device=theta.device)
            x_j = mu[rows, k] + torch.exp(log_sigma[rows, k]) * eps
            return x_j, x_j

        return torch.stack(self._scan(theta, theta.new_empty(n, 0), draw), dim=1)

    @torch.no_grad()
    def quantile(self, theta: Tensor, u: Tensor, max_iter: int = 40, tol: float | None = None) -> Tensor:
        """Inverse Knothe-Rosenblatt map ``x = F_theta^{-1}(u)`` for ``u`` in the unit cube (..., n, d).

        Coordinate by coordinate, ``x_j`` solves ``F_j(x_j | x_<j) = u_j`` (``u`` clipped to
        ``[1e-6, 1 - 1e-6]``) by :func:`invert_mixture_cdf`. With ``u`` uniform this is a sample
        of ``p_theta``; with the same ``u`` at two weight vectors the two samples are coupled
        (common random numbers).
        """
        u = u.clamp(1e-6, 1 - 1e-6)

        def invert(j, log_pi, mu, log_sigma):
            x_j = invert_mixture_cdf(log_pi, mu, log_sigma, u[..., j], max_iter, tol)
            return x_j, x_j

        return torch.stack(self._scan(theta, u, invert), dim=-1)

    def reparameterize(self, theta: Tensor, x: Tensor, min_density: float = 1e-6) -> Tensor:
        """Cells ``x = F_theta^{-1}(u)`` (values unchanged) carrying the implicit gradient in ``theta``.

        Differentiating ``F_j(x_j | x_<j; theta) = u_j`` at fixed ``u``:

        .. math:: \\frac{d x_j}{d\\theta} = -\\frac{1}{p(x_j \\mid x_{<j})}
                  \\Big(\\partial_\\theta F_j + \\sum_{i<j} \\partial_{x_i} F_j
                  \\frac{d x_i}{d\\theta}\\Big),

        realized coordinate by coordinate as ``x~_j = x_j - (F_j(x_j | x~_<j) - [F_j]) / [p_j]``
        (``[.]``: value without gradient), whose value is ``x_j`` and whose gradient is the above.
        ``min_density`` floors ``p_j`` for cells in the model's far tails.
        """
        def implicit(j, *params):
            x_j = _implicit_step(params, x[..., j], min_density)
            return x_j, x_j

        return torch.stack(self._scan(theta, x, implicit), dim=-1)

    def quantile_reparameterized(
        self, theta: Tensor, u: Tensor, min_density: float = 1e-6, max_iter: int = 40, tol: float | None = None
    ) -> Tensor:
        """``reparameterize(theta, quantile(theta, u))`` in one pass over the coordinates.

        At coordinate ``j`` the mixture parameters (with gradient, from ``x~_<j``) are inverted
        without gradient, ``x_j = F_j^{-1}(u_j)``, and ``x~_j`` is formed as in :meth:`reparameterize`.
        ``x~_<j`` has the values ``x_<j``, so the cells and their gradient are bit for bit those of
        the two passes; the pass of :meth:`quantile` over the coordinates is saved.
        """
        u = u.clamp(1e-6, 1 - 1e-6)

        def implicit_quantile(j, *params):
            x_j = invert_mixture_cdf(*(p.detach() for p in params), u[..., j], max_iter, tol)
            x_j = _implicit_step(params, x_j, min_density)
            return x_j, x_j

        return torch.stack(self._scan(theta, u, implicit_quantile), dim=-1)


def _implicit_step(params: tuple[Tensor, Tensor, Tensor], x_j: Tensor, min_density: float) -> Tensor:
    """``x_j - (F_j(x_j) - [F_j(x_j)]) / [p_j(x_j)]``: the value ``x_j`` with the implicit gradient of
    ``F_j(x_j | x_<j; theta) = u_j`` (``[.]``: value without gradient, ``p_j`` floored at ``min_density``)."""
    cdf, pdf = mixture_cdf_pdf(*params, x_j)
    return x_j - (cdf - cdf.detach()) / pdf.detach().clamp_min(min_density)


def _weight_bias(W: Tensor) -> tuple[Tensor, Tensor]:
    """A layer ``[W | b]`` (..., n_out, n_in + 1) as a contiguous weight (..., n_out, n_in) and its bias."""
    return W[..., :-1].contiguous(), W[..., -1]


def _affine(weight: Tensor, bias: Tensor, h: Tensor) -> Tensor:
    """``h W^T + b`` for inputs ``h`` (..., n, n_in), weight (..., n_out, n_in) and bias (..., n_out)."""
    if weight.dim() == 2:
        return torch.nn.functional.linear(h, weight, bias)
    return h @ weight.mT + bias[..., None, :]


def mixture_log_pdf(log_pi: Tensor, mu: Tensor, log_sigma: Tensor, x: Tensor) -> Tensor:
    """Log-density of a 1-D Gaussian mixture at ``x``, mixture axis last, stable in the tails.

    ``log p(x) = logsumexp_k (log pi_k - z_k^2 / 2 - log sigma_k - log sqrt(2 pi))``, ``z_k = (x - mu_k) / sigma_k``.
    """
    zscore = (x[..., None] - mu) * torch.exp(-log_sigma)
    log_normal = -0.5 * zscore**2 - log_sigma - _LOG_SQRT_2PI
    return torch.logsumexp(log_pi + log_normal, dim=-1)


def mixture_cdf_pdf(log_pi: Tensor, mu: Tensor, log_sigma: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """CDF and density of a 1-D Gaussian mixture at ``x``, mixture axis last.

    ``F(x) = sum_k pi_k Phi((x - mu_k)/sigma_k)``, ``p(x) = sum_k pi_k phi((x - mu_k)/sigma_k)/sigma_k``.
    """
    return _cdf_pdf(torch.exp(log_pi), mu, torch.exp(-log_sigma), x)


def _cdf_pdf(pi: Tensor, mu: Tensor, inv_sigma: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`mixture_cdf_pdf` from the weights ``pi`` and inverse scales ``1 / sigma``."""
    zscore = (x[..., None] - mu) * inv_sigma
    cdf = (pi * 0.5 * (1 + torch.erf(zscore / math.sqrt(2.0)))).sum(-1)
    pdf = (pi * torch.exp(-0.5 * zscore**2 - _LOG_SQRT_2PI) * inv_sigma).sum(-1)
    return cdf, pdf


def invert_mixture_cdf(
    log_pi: Tensor, mu: Tensor, log_sigma: Tensor, u: Tensor, max_iter: int = 40, tol: float | None = None
) -> Tensor:
    """Root ``x`` of ``F(x) = u`` for 1-D Gaussian mixtures (..., n, K) and levels ``u`` (..., n): (..., n).

    Safeguarded Newton iteration on the bracket ``[min_k mu_k - 12 sigma_k, max_k mu_k + 12 sigma_k]``:

    .. math:: x \\leftarrow x - \\frac{F(x) - u}{p(x)},

    started at ``x_0 = sum_k pi_k (mu_k + sigma_k Phi^{-1}(u))`` (exact for one component). Each
    iterate shrinks the bracket (``F`` is increasing); a Newton step leaving the bracket, or longer
    than half its width, is replaced by the bracket's midpoint. A cell stops once its step is below ``tol * (1 + |x|)`` (default ``eps^{3/4}`` of the
    dtype: about 6e-6 in float32, 2e-12 in float64) or after ``max_iter`` iterations.
    """
    tol = torch.finfo(u.dtype).eps ** 0.75 if tol is None else tol
    sigma = torch.exp(log_sigma)
    lo = (mu - 12 * sigma).min(-1).values
    hi = (mu + 12 * sigma).max(-1).values
    x = (torch.exp(log_pi) * (mu + sigma * torch.special.ndtri(u)[..., None])).sum(-1)
    x = torch.minimum(torch.maximum(x, lo), hi)
    active = torch.ones_like(x, dtype=torch.bool)
    pi, inv_sigma = torch.exp(log_pi), torch.exp(-log_sigma)  # the same in every iteration
    for _ in range(max_iter):
        cdf, pdf = _cdf_pdf(pi, mu, inv_sigma, x)
        below = cdf < u
        lo, hi = torch.where(below, x, lo), torch.where(below, hi, x)
        step = (cdf - u) / pdf.clamp_min(1e-30)
        newton = x - step
        width = hi - lo
        # Newton inside the bracket and closer to x than half its width; otherwise bisect
        ok = (newton >= lo) & (newton <= hi) & (step.abs() <= 0.5 * width)
        x_new = torch.where(ok, newton, 0.5 * (lo + hi))
        # a converged cell stops moving, so its result does not depend on the others in the batch
        x, active = torch.where(active, x_new, x), active & ((x_new - x).abs() > tol * (1 + x.abs()))
        if not bool(active.any()):
            break
    return x

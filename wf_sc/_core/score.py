r"""The score of the model density and the stochastic cell paths it allows.

The score is the gradient of the log-density in the cell's coordinates,

.. math:: s_\theta(x) = \nabla_x \log p_\theta(x),

taken by automatic differentiation through the autoregressive backbone.

With the transport drift :math:`v` (:mod:`.drift`) the density path solves the continuity equation
:math:`\partial_t p + \nabla\cdot(p v) = 0`. Adding a score term and noise of strength
:math:`\sigma`,

.. math:: dX_t = \Big(v(X_t, t) + \tfrac{\sigma^2}{2}\, s_{\theta(t)}(X_t)\Big)\,dt + \sigma\, dW_t,

keeps every marginal on the same path: the Fokker-Planck equation of this SDE is
:math:`\partial_t p = -\nabla\cdot(p v) - \tfrac{\sigma^2}{2}\nabla\cdot(p \nabla \log p)
+ \tfrac{\sigma^2}{2}\Delta p = -\nabla\cdot(p v)`, since :math:`p \nabla\log p = \nabla p`.
So cells diffuse while the population still follows the fitted densities.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backbone import GRUMDN


def score(backbone: GRUMDN, theta: Tensor, x: Tensor) -> Tensor:
    r""":math:`\nabla_x \log p_\theta(x)` for cells ``x`` (n, d) under weights ``theta`` (P,): (n, d)."""
    with torch.inference_mode(False), torch.enable_grad():  # autograd is off in inference mode: leave it here
        x, theta = ((t.clone() if t.is_inference() else t).detach() for t in (x, theta))
        xg = x.requires_grad_(True)
        logp = backbone.log_prob(theta, xg)
        (grad,) = torch.autograd.grad(logp.sum(), xg)
    return grad


def sde_step(x, drift, score_x, sigma: float, dt: float, noise):
    r"""One Euler-Maruyama step of the marginal-preserving SDE:
    :math:`x + (v + \tfrac{\sigma^2}{2} s)\,\Delta t + \sigma \sqrt{\Delta t}\, \xi`, with :math:`\xi` = ``noise``
    (tensors or numpy arrays)."""
    return x + (drift + 0.5 * sigma**2 * score_x) * dt + sigma * abs(dt) ** 0.5 * noise

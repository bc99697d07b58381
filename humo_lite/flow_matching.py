"""Flow matching in Wan's convention — stated once, here, and used everywhere.

    sigma = 1 is pure noise, sigma = 0 is data.
    x_sigma  = (1 - sigma) * x_0 + sigma * eps          eps ~ N(0, I)          (add_noise)
    target   = d x_sigma / d sigma = eps - x_0          what the DiT predicts  (velocity_target)
    timestep = 1000 * sigma                             what the DiT is told   (sigma_to_timestep)
    shift s:   sigma -> s * sigma / (1 + (s - 1) * sigma)                      (shift_sigmas)

Sampling integrates ``dx/dsigma = v`` from sigma = 1 down to 0, so an Euler step is
``x <- x + (sigma_next - sigma) * v`` and the clean estimate at any sigma is ``x_0 = x - sigma * v``.

Paper: HuMo §3.1 Eq. 1 writes the same objective with time running the other way (t = 0 noise,
t = 1 data); the released code uses Wan's convention above (``docs/paper_notes.md`` §1.5), and so do we.
Upstream code it mirrors: Wan2.1's ``wan/utils/fm_solvers_unipc.py`` (``FlowUniPCMultistepScheduler``,
copied into HuMo as ``humo/models/utils/fm_solvers_unipc.py``) and diffusers' flow-matching schedulers,
which we use directly (:func:`make_scheduler`): ``UniPCMultistepScheduler`` with
``use_flow_sigmas=True, prediction_type="flow_prediction"`` is the sampler HuMo runs (order 2,
``bh2``, predict-x0; 50 steps, shift 5.0), ``FlowMatchEulerDiscreteScheduler`` the plain one.

Why shift: at a fixed noise level, big images keep more of their structure (neighbouring pixels
average the noise away), so high-resolution models spend more steps near sigma = 1. ``s > 1`` pushes
every sigma towards 1 (HuMo: s = 5 at 480p/720p). Our latent grids are tiny, which argues for a
small shift; it is a parameter everywhere.

Training draws sigma per sample: ``logit_normal`` (sigma = sigmoid(N(0, 1)), the ``logitnormal(0, 1)``
entry in HuMo's yaml, as in SD3) or ``uniform``, optionally shifted.
"""

from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

NUM_TRAIN_TIMESTEPS = 1000
"""timestep = NUM_TRAIN_TIMESTEPS * sigma (Wan, diffusers)."""


def _expand(sigma: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """A per-sample ``sigma`` ``[B]`` (or a scalar) shaped ``[B, 1, 1, ...]`` to broadcast with ``like``."""
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma.ndim == 0:
        return sigma
    if sigma.ndim != 1 or sigma.shape[0] != like.shape[0]:
        raise ValueError(
            f"sigma must be a scalar or [B] with B = {like.shape[0]}, got shape {tuple(sigma.shape)}"
        )
    return sigma.view(-1, *([1] * (like.ndim - 1)))


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """``x_sigma = (1 - sigma) * x0 + sigma * noise``; ``x0``, ``noise`` ``[B, ...]``, ``sigma`` ``[B]``."""
    if x0.shape != noise.shape:
        raise ValueError(
            f"x0 and noise must have the same shape, got {tuple(x0.shape)} and {tuple(noise.shape)}"
        )
    s = _expand(sigma, x0)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The flow-matching target ``noise - x0`` (= d x_sigma / d sigma): what the DiT learns to predict."""
    return noise - x0


def x0_from_velocity(
    x_sigma: torch.Tensor, velocity: torch.Tensor, sigma: torch.Tensor | float
) -> torch.Tensor:
    """The clean estimate ``x0 = x_sigma - sigma * velocity`` (exact when ``velocity`` is the target)."""
    return x_sigma - _expand(sigma, x_sigma) * velocity


def sigma_to_timestep(sigma: torch.Tensor | float) -> torch.Tensor:
    """``timestep = 1000 * sigma``: the number the DiT's time embedding sees."""
    return torch.as_tensor(sigma) * NUM_TRAIN_TIMESTEPS


def shift_sigmas(sigma: torch.Tensor | float, shift: float) -> torch.Tensor:
    """``s * sigma / (1 + (s - 1) * sigma)``: fixes 0 and 1, pushes everything between towards 1 if s > 1."""
    if shift <= 0:
        raise ValueError(f"shift must be positive, got {shift}")
    sigma = torch.as_tensor(sigma)
    return shift * sigma / (1 + (shift - 1) * sigma)


def sample_training_sigmas(
    batch: int,
    generator: torch.Generator | None = None,
    mode: str = "logit_normal",
    shift: float = 1.0,
    loc: float = 0.0,
    scale: float = 1.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """One sigma per sample, ``[batch]`` in (0, 1): ``logit_normal`` (sigmoid of N(loc, scale)) or ``uniform``
    (HuMo's yaml names ``logitnormal(0, 1)``; ``docs/paper_notes.md`` §1.5).

    The draw uses ``generator`` (on CPU, so the same seed gives the same sigmas on any device), then
    :func:`shift_sigmas`.
    """
    if mode == "logit_normal":
        sigma = torch.sigmoid(loc + scale * torch.randn(batch, generator=generator))
    elif mode == "uniform":
        sigma = torch.rand(batch, generator=generator)
    else:
        raise ValueError(f"mode must be 'logit_normal' or 'uniform', got {mode!r}")
    return shift_sigmas(sigma, shift).to(device)


def make_scheduler(
    name: str = "unipc", shift: float = 5.0, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS
) -> UniPCMultistepScheduler | FlowMatchEulerDiscreteScheduler:
    """A diffusers scheduler configured for our convention (the model outputs ``eps - x0``).

    - ``"unipc"``: ``UniPCMultistepScheduler`` as HuMo/Wan sample (order 2, ``bh2``, predict-x0,
      flow sigmas ``linspace(1, 1/1000, N)`` shifted by ``shift``, last step to sigma = 0). Its
      ``timesteps`` are ``int(1000 * sigma)`` — with N = 50 and shift 5: 999, 995, 991, ... as in HuMo.
    - ``"euler"``: ``FlowMatchEulerDiscreteScheduler`` (``x += (sigma_next - sigma) * v``); its
      ``timesteps`` are exactly ``1000 * sigma``.

    Use it the diffusers way::

        scheduler.set_timesteps(num_inference_steps)
        for t in scheduler.timesteps:                      # 1000 * sigma, from ~1000 down
            v = model(x, t)                                # eps - x0
            x = scheduler.step(v, t, x).prev_sample
    """
    if name == "unipc":
        return UniPCMultistepScheduler(
            num_train_timesteps=num_train_timesteps,
            prediction_type="flow_prediction",
            use_flow_sigmas=True,
            flow_shift=shift,
            solver_order=2,
            solver_type="bh2",
            predict_x0=True,
            lower_order_final=True,
            final_sigmas_type="zero",
        )
    if name == "euler":
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=num_train_timesteps, shift=shift)
    raise ValueError(f"scheduler name must be 'unipc' or 'euler', got {name!r}")

"""The flow-matching training step, written once for every stage (HuMo §3.1–§3.3, Wan's recipe).

One step, in Wan's convention (:mod:`humo_lite.flow_matching`): draw σ and noise ε, make
``x_σ = (1 − σ)·x_0 + σ·ε``, ask the DiT for the velocity ``ε − x_0``, and take the mean squared error
over the *video* latents only (reference frames appended by HuMo's injection are conditions, not
targets; the DiT already drops their outputs).

Each condition is dropped per sample with its own probability (HuMo trains every guidance branch
this way, §3.4): a dropped caption becomes the null text — no tokens at all, exactly what the
empty caption encodes to, a dropped reference becomes zero reference frames.

Stage 0 can add a second, small term: ``role_weight`` x the cross-entropy of the text encoder's role
head against :func:`humo_lite.data.captions.token_roles` (which colour word names the room, which the
shirt), so that the text features *bind* colours to objects (see
:class:`humo_lite.models.text_encoder.TextEncoder`). The per-sample losses logged for
:func:`~humo_lite.training.trainer.loss_by_sigma` are the flow-matching term alone.

Data lives in memory as tensors indexed by clip (cached VAE latents, token ids), so a training step
never touches the renderer or the VAE: see :func:`humo_lite.training.latent_cache.cache_latents`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..data.captions import IGNORE_ROLE
from ..flow_matching import add_noise, sample_training_sigmas, sigma_to_timestep, velocity_target
from ..io import check_real
from .trainer import TrainingTask


def _everything(name: str) -> bool:
    return True


def check_training_data(data: dict[str, torch.Tensor], needed: tuple[str, ...]) -> int:
    """Clear errors unless ``data`` holds every ``needed`` tensor, all of one length; returns that length."""
    for key in needed:
        if key not in data:
            raise KeyError(f"training data needs {key!r}; got {sorted(data)}")
    lengths = {key: len(value) for key, value in data.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"training data tensors differ in length: {lengths}")
    return lengths[needed[0]]


class TextToVideoTask(TrainingTask):
    """Stage 0: text → video on cached latents (the foundation model HuMo gets from Wan).

    Args:
        transformer: the DiT.  text_encoder: trained jointly here, frozen in later stages.
        data: ``latents [N, C, F, H, W]`` (normalised VAE latents), ``text_ids [N, L]``, ``text_mask [N, L]``.
        text_dropout: probability of replacing a caption by the null text (classifier-free guidance).
        role_weight: weight of the text encoder's binding objective; needs ``data["text_roles"] [N, L]``
            and a text encoder with a role head. 0 turns it off.
        sigma_mode, shift: how training σ are drawn (:func:`humo_lite.flow_matching.sample_training_sigmas`).
        trainable: which parameters train, ``{module name: predicate(param name)}``; default: all of both.
    """

    def __init__(self, transformer: torch.nn.Module, text_encoder: torch.nn.Module, data: dict[str, torch.Tensor],
                 text_dropout: float = 0.1, sigma_mode: str = "logit_normal", shift: float = 1.0,
                 trainable: dict[str, Callable[[str], bool]] | None = None, role_weight: float = 0.0):
        check_real(text_dropout, "text_dropout", 0, 1, high_open=True, what="the share of captions dropped")
        check_real(shift, "sigma_shift", 0, low_open=True, what="1: no shift")
        check_real(role_weight, "role_weight", 0, what="0: video loss only")
        num_items = check_training_data(
            data, ("latents", "text_ids", "text_mask") + (("text_roles",) if role_weight else ()))
        self.modules = {"transformer": transformer, "text_encoder": text_encoder}
        self.trainable = trainable or {"transformer": _everything, "text_encoder": _everything}
        self.data, self.num_items = data, num_items
        self.text_dropout, self.sigma_mode, self.shift = text_dropout, sigma_mode, shift
        self.role_weight = role_weight
        if role_weight and getattr(text_encoder, "role_head", None) is None:
            raise ValueError("role_weight > 0 needs a text encoder with a role head (num_roles > 0)")

    def hyperparameters(self) -> dict:
        """Dropout, σ sampling and the binding weight: recorded with checkpoints, checked on resume."""
        return {"num_items": self.num_items, "text_dropout": self.text_dropout, "sigma_mode": self.sigma_mode,
                "shift": self.shift, "role_weight": self.role_weight}

    def conditions(self, modules, batch: dict[str, torch.Tensor], keep_text: torch.Tensor) -> dict:
        """The DiT's keyword arguments for a batch: text context and mask, dropped captions emptied."""
        text_ctx = modules["text_encoder"](batch["text_ids"], batch["text_mask"])  # (B, L, text_dim)
        text_mask = batch["text_mask"] & keep_text[:, None]  # (B, L): a dropped caption has no tokens
        return {"text_ctx": text_ctx * text_mask[..., None].to(text_ctx.dtype), "text_mask": text_mask}

    def loss(self, modules, indices, generator, device):
        batch = {key: value[indices].to(device) for key, value in self.data.items()}
        x_0 = batch["latents"]  # (B, C, F, H, W)
        b = len(x_0)
        noise = torch.randn(x_0.shape, generator=generator).to(device)
        sigma = sample_training_sigmas(b, generator, mode=self.sigma_mode, shift=self.shift).to(device)  # (B,)
        keep_text = (torch.rand(b, generator=generator) >= self.text_dropout).to(device)
        x_t = add_noise(x_0, noise, sigma)
        conditions = self.conditions(modules, batch, keep_text)
        velocity = modules["transformer"](x_t, sigma_to_timestep(sigma), **conditions).sample
        per_sample = ((velocity.float() - velocity_target(x_0, noise).float()) ** 2).mean(dim=(1, 2, 3, 4))  # (B,)
        loss = per_sample.mean()
        if self.role_weight:  # binding: each kept caption token's role, read off its text feature
            roles = batch["text_roles"].masked_fill(~keep_text[:, None], IGNORE_ROLE)  # (B, L)
            logits = modules["text_encoder"].role_logits(conditions["text_ctx"])  # (B, L, num_roles)
            loss = loss + self.role_weight * F.cross_entropy(logits.flatten(0, 1).float(), roles.flatten(),
                                                             ignore_index=IGNORE_ROLE)
        return loss, {"sigma": sigma, "loss": per_sample}

"""Does a model generalise or memorise? Its flow-matching loss on clips it never trained on.

The training loss falls whether a model learns the task or learns its training clips by heart. The same loss
on held-out clips, with the noise and the noise levels σ fixed once (so two models, or two steps of one
training run, are scored on exactly the same problems), tells them apart: memorising makes it *rise*.
Stage 2 is the place this matters — its audio pool is small (HuMo §3.2), and audio can become a key to
recall a clip rather than a signal for the lips.

:func:`heldout_data` caches held-out clips as latents (video, reference, audio windows, frozen text features);
:func:`heldout_loss` scores a DiT on them, with or without each condition.
"""

from __future__ import annotations

import numpy as np
import torch

from ..flow_matching import add_noise, sigma_to_timestep, velocity_target
from ..training.latent_cache import cache_latents, encode_text

LOSS_SIGMAS = (0.2, 0.4, 0.6, 0.8)
"""The noise levels the held-out loss averages over (each clip is scored at every one)."""


@torch.no_grad()
def heldout_data(pipe, pool: str = "heldout_voice", num_clips: int = 48, preset: str = "humo-micro",
                 progress: bool = False) -> dict[str, torch.Tensor]:
    """The first ``num_clips`` clips of ``pool`` as the DiT sees them: ``latents``, ``ref_latents``,
    ``audio_windows`` (a zero window for the reference frame), ``text_ctx`` and ``text_mask``; and for the face
    checks ``face_share`` (the face's share of each latent cell), ``position`` (0 left, 1 centre, 2 right) and the
    lip law's ``mouth``."""
    data = cache_latents(pipe.vae, pool, preset, size=num_clips, progress=progress, references=True, audio=True)
    text_ctx = encode_text(pipe.text_encoder, data["text_ids"], data["text_mask"])
    return {"latents": data["latents"], "ref_latents": data["ref_latents"], "audio_windows": data["audio_windows"],
            "text_ctx": text_ctx, "text_mask": data["text_mask"], "mouth": data["mouth"],
            "face_share": data["face_share"], "position": data["position"]}


@torch.no_grad()
def heldout_loss(transformer, data: dict[str, torch.Tensor], sigmas=LOSS_SIGMAS, seed: int = 0,
                 use_audio: bool = True, use_reference: bool = True, batch_size: int = 16) -> dict:
    """Mean flow-matching loss of ``transformer`` on ``data`` (:func:`heldout_data`) at each of ``sigmas``, the
    noise drawn once from ``seed``. Audio is used only if the DiT has audio modules and ``use_audio``.

    Returns ``{"loss": mean over σ and clips, "by_sigma": {σ: loss}, "per_clip": (N,) array}``.
    """
    transformer.eval()
    device = next(transformer.parameters()).device
    x_0 = data["latents"]
    noise = torch.randn(x_0.shape, generator=torch.Generator().manual_seed(seed))
    has_audio = (transformer.config.get("conditions") or {}).get("audio") is not None
    per_clip = torch.zeros(len(x_0))
    by_sigma = {}
    for sigma_value in sigmas:
        losses = []
        for rows in torch.arange(len(x_0)).split(batch_size):
            x0, eps = x_0[rows].to(device), noise[rows].to(device)
            sigma = torch.full((len(rows),), float(sigma_value), device=device)
            kwargs = {"text_mask": data["text_mask"][rows].to(device)}
            if use_reference:
                kwargs["ref_latents"] = data["ref_latents"][rows].to(device)
            if has_audio:
                windows = data["audio_windows"][rows].to(device)
                if not use_reference:  # no reference frame: drop its (zero) window
                    windows = windows[:, : x0.shape[2]]
                kwargs["audio_ctx"] = windows if use_audio else torch.zeros_like(windows)
            velocity = transformer(add_noise(x0, eps, sigma), sigma_to_timestep(sigma),
                                   data["text_ctx"][rows].to(device), **kwargs).sample
            losses.append(((velocity.float() - velocity_target(x0, eps).float()) ** 2).mean(dim=(1, 2, 3, 4)).cpu())
        loss = torch.cat(losses)
        per_clip += loss / len(sigmas)
        by_sigma[float(sigma_value)] = float(loss.mean())
    return {"loss": float(np.mean(list(by_sigma.values()))), "by_sigma": by_sigma, "per_clip": per_clip.numpy()}


__all__ = ["LOSS_SIGMAS", "heldout_data", "heldout_loss"]

"""Does the face-mask head find the face on clips it never trained on? IoU per position (HuMo §3.3).

The head of focus-by-predicting (:mod:`humo_lite.models.focus`) reads the DiT's hidden states while it denoises.
:func:`heldout_mask_check` runs the DiT on held-out clips (:func:`~humo_lite.eval.heldout_loss.heldout_data`:
held-out people speaking held-out recordings) noised at fixed σ with fixed noise, in TIA, and scores the
head's prediction against the true face mask on the token grid
(:func:`~humo_lite.models.focus.face_mask_target`): the IoU per clip, by where the person stands (left,
centre, right), and by σ (at σ near 1 the latent holds almost nothing of the clip, so the head can only
guess from the reference and audio).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.attributes import POSITIONS
from ..flow_matching import add_noise, sigma_to_timestep
from ..models.focus import face_mask_target, mask_iou

MASK_SIGMAS = (0.2, 0.4, 0.6, 0.8)
"""The noise levels the mask check averages over."""


@torch.no_grad()
def predict_masks(transformer, mask_head, data: dict[str, torch.Tensor], sigma: float, seed: int = 0,
                  batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's face probability and the true mask, both ``[N, F', h, w]``, for ``data`` noised at ``sigma``
    (noise drawn from ``seed``), in TIA."""
    transformer.eval()
    mask_head.eval()
    device = next(transformer.parameters()).device
    noise = torch.randn(data["latents"].shape, generator=torch.Generator().manual_seed(seed))
    patch = tuple(transformer.config.patch_size[1:])
    preds = []
    for rows in torch.arange(len(noise)).split(batch_size):
        x0 = data["latents"][rows].to(device)
        s = torch.full((len(rows),), float(sigma), device=device)
        out = transformer(add_noise(x0, noise[rows].to(device), s), sigma_to_timestep(s),
                          data["text_ctx"][rows].to(device), text_mask=data["text_mask"][rows].to(device),
                          ref_latents=data["ref_latents"][rows].to(device),
                          audio_ctx=data["audio_windows"][rows].to(device),
                          return_hidden_states=mask_head.config.num_blocks)
        preds.append(mask_head(out.hidden_states).float().cpu())
    return torch.cat(preds), face_mask_target(data["face_share"], patch)


def heldout_mask_check(transformer, mask_head, data: dict[str, torch.Tensor], sigmas=MASK_SIGMAS,
                       seed: int = 0) -> dict:
    """IoU of the head's mask (threshold 0.5) with the true face mask on ``data`` (:func:`heldout_data`).

    Returns ``iou`` (mean over clips and σ) and ``iou_std`` (over clips), ``by_position`` and ``by_sigma`` (means),
    ``face_area`` (the true mask's share of the token grid) and ``num_clips``."""
    per_clip = []
    by_sigma = {}
    area = None
    for sigma in sigmas:
        pred, target = predict_masks(transformer, mask_head, data, sigma, seed)
        iou = mask_iou(pred, target).numpy()
        per_clip.append(iou)
        by_sigma[float(sigma)] = float(iou.mean())
        area = float(target.mean())
    per_clip = np.mean(per_clip, axis=0)  # (N,)
    position = data["position"].numpy()
    names = list(POSITIONS)
    by_position = {names[p]: float(per_clip[position == p].mean()) for p in sorted(set(position.tolist()))}
    return {"iou": float(per_clip.mean()), "iou_std": float(per_clip.std()), "by_position": by_position,
            "by_sigma": by_sigma, "face_area": area, "num_clips": int(len(per_clip))}


__all__ = ["MASK_SIGMAS", "heldout_mask_check", "predict_masks"]

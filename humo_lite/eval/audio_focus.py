"""Where does the audio act? The share of the audio cross-attention's effect that lands on the face.

HuMo argues (§3.3, focus-by-predicting) that audio should change the face — the lips above all — and not the
room. :class:`~humo_lite.models.attention_maps.AudioAttention` records, for every block and denoising step, the
norm of what the audio cross-attention adds to each video token; :func:`audio_face_share` generates clips with
audio and weighs that effect by the face mask on the token grid (the share of each token cell the face
covers, in the VAE's causal layout: :func:`humo_lite.training.latent_cache.latent_face_share`). Its baseline is
the face's share of the frame: what the number would be if the audio changed every token alike.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.attention_maps import AudioAttention, face_effect_share
from ..training.latent_cache import latent_face_share


@torch.no_grad()
def audio_face_share(pipe, clips: list, num_inference_steps: int = 20, seed: int = 0) -> dict:
    """For each clip, generated in TIA mode (its caption, reference and audio; the pipeline's default guidance),
    the share of the audio effect inside the face, over every block and step of the TIA branch.

    Returns ``face_share`` and ``face_area`` (mean and std over clips), ``by_block`` (mean per block) and
    ``num_clips``.
    """
    shares, areas, by_block = [], [], []
    for i, clip in enumerate(clips):
        with AudioAttention(pipe.transformer) as rec:
            pipe(clip.caption, image=clip.reference, audio=clip.audio, sample_rate=16_000,
                 num_inference_steps=num_inference_steps, generator=torch.Generator().manual_seed(seed + i))
        effect = rec.effect()[:, -1]  # (calls, blocks, F', h, w): the last row is the branch with every condition
        face = latent_face_share(clip.face_mask, effect.shape[-2:]).numpy()
        share = face_effect_share(effect, face)
        shares.append(float(share["face_share"].mean()))
        by_block.append(share["face_share"].mean(0))  # (blocks,)
        areas.append(share["face_area"])
    return {"face_share": float(np.mean(shares)), "face_share_std": float(np.std(shares)),
            "face_area": float(np.mean(areas)), "face_area_std": float(np.std(areas)),
            "by_block": [float(v) for v in np.mean(by_block, 0)], "num_clips": len(clips),
            "num_inference_steps": num_inference_steps}


__all__ = ["audio_face_share"]

"""Training data as tensors: a pool rendered once and encoded once into cached VAE latents.

HuMo starts from Wan2.1's pretrained T2V weights (``docs/paper_notes.md`` §1.1); we have none, so we make
a miniature one (``docs/design.md`` §4). A training step must never run the renderer or the VAE, so
:func:`cache_latents` renders a pool at the preset's size and encodes every clip with the trained VAE's
posterior mean; the DiT and text encoder then train on the cached tensors with the flow-matching loss of
:mod:`humo_lite.training.tasks`. :func:`humo_lite.recipes.train_stage0` is the whole recipe (cache, train,
assemble the pipeline, score it, write the manifest); the later stages cache their pools the same way.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import make_clip, make_pool
from ..data.audio import audio_windows
from ..data.captions import Tokenizer, token_roles
from ..models.vae import encode_image, encode_video
from ..presets import Preset, get_preset
from .trainer import iterate_minibatches

TEMPORAL_STRIDE = 4  # the VAE's: latent frame 0 is video frame 0, latent frame i > 0 is frames 4i-3 .. 4i


def latent_face_share(face_mask: np.ndarray | torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
    """A clip's pixel mask ``(F, H, W)`` (``F = 4k+1``) → the share of each latent cell it covers, ``(F', h, w)``.

    The cells are the VAE's: latent frame 0 covers video frame 0 alone, each later latent frame the next
    four frames (the causal layout of :func:`humo_lite.models.vae.encode_video`), and each cell a
    ``H/h × W/w`` patch of pixels. Used to weight the loss on the face (stage 1's ``face_weight``).
    """
    m = torch.as_tensor(np.asarray(face_mask, np.float32))
    if m.ndim != 3 or (m.shape[0] - 1) % TEMPORAL_STRIDE:
        raise ValueError(f"face_mask must be (F, H, W) with F = 4k+1 frames, got shape {tuple(m.shape)}")
    m = torch.cat([m[:1].expand(TEMPORAL_STRIDE - 1, -1, -1), m])  # frame 0 fills its own group of four
    m = m.reshape(-1, TEMPORAL_STRIDE, *m.shape[1:]).mean(1)  # (F', H, W)
    return F.adaptive_avg_pool2d(m[:, None], grid_hw)[:, 0]  # (F', h, w)


@torch.no_grad()
def encode_text(text_encoder, text_ids: torch.Tensor, text_mask: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """The frozen text encoder's features for cached captions, ``[N, L, text_dim]``, in chunks (stages 1 and 2
    freeze the encoder, as HuMo freezes umT5, so its output is cached with the latents)."""
    text_encoder.eval()
    return torch.cat([text_encoder(ids, mask) for ids, mask in
                      zip(text_ids.split(chunk), text_mask.split(chunk), strict=True)])


def cache_latents(vae, pool: str = "foundation", preset: Preset | str = "humo-micro", size: int | None = None,
                  batch_size: int = 32, progress: bool = True, references: bool = False,
                  audio: bool = False, voice_rates: float | None = None) -> dict[str, torch.Tensor]:
    """Render a pool and encode it: ``latents [N, C, F', h, w]``, ``text_ids``, ``text_mask``, labels.

    Clips are rendered at the preset's size and encoded with the VAE's posterior mean, normalised. With
    ``references`` each clip's cross-paired reference image is encoded too, as HuMo encodes it (a 1-frame
    video): ``ref_latents [N, C, 1, h, w]``, and the face's share of each latent cell
    (:func:`latent_face_share`): ``face_share [N, F', h, w]``. With ``audio`` each clip's HuMo audio windows
    (:func:`humo_lite.data.audio.audio_windows`, one all-zero window per reference frame when ``references``):
    ``audio_windows [N, F' + R, 8, 80]``, and its lip-law mouth opening ``mouth [N, F]``. ``voice_rates``: the
    pool's bank recordings played at other rates (:func:`humo_lite.data.pools.make_pool`).
    """
    world = get_preset(preset).world
    specs = make_pool(pool, size=size, voice_rates=voice_rates)
    tokenizer = Tokenizer()
    out: dict[str, list] = {"latents": [], "text_ids": [], "text_mask": [], "text_roles": [], "background": [],
                            "clothing": [], "position": [], "ref_latents": [], "face_share": [], "audio_windows": [],
                            "mouth": []}
    vae.eval()
    for idx in tqdm(list(iterate_minibatches(len(specs), batch_size)), desc=f"encode {pool}", disable=not progress):
        clips = [make_clip(specs[int(i)], world) for i in idx]
        video = torch.stack([torch.from_numpy(c.video).permute(3, 0, 1, 2) for c in clips]) * 2 - 1  # (B,3,F,H,W)
        with torch.no_grad():
            out["latents"].append(encode_video(vae, video))
            if references:
                images = torch.stack([torch.from_numpy(c.reference).permute(2, 0, 1) for c in clips]) * 2 - 1
                out["ref_latents"].append(encode_image(vae, images))  # (B, C, 1, h, w)
                grid = tuple(out["latents"][-1].shape[-2:])
                out["face_share"].append(torch.stack([latent_face_share(c.face_mask, grid) for c in clips]))
        for clip in clips:
            if audio:
                out["audio_windows"].append(torch.from_numpy(audio_windows(clip.audio_features, int(references))))
                out["mouth"].append(torch.from_numpy(clip.mouth))
            ids, mask = tokenizer.encode(clip.caption)
            out["text_ids"].append(ids)
            out["text_mask"].append(mask)
            out["text_roles"].append(token_roles(clip.caption))
            out["background"].append(clip.labels["background"])
            out["clothing"].append(clip.labels["clothing"])
            out["position"].append(clip.labels["position"])
    cached = {
        "latents": torch.cat(out["latents"]),
        "text_ids": torch.stack(out["text_ids"]),
        "text_mask": torch.stack(out["text_mask"]),
        "text_roles": torch.stack(out["text_roles"]),
        "background": torch.tensor(out["background"]),
        "clothing": torch.tensor(out["clothing"]),
        "position": torch.tensor(out["position"]),
    }
    if references:
        cached["ref_latents"] = torch.cat(out["ref_latents"])
        cached["face_share"] = torch.cat(out["face_share"])
    if audio:
        cached["audio_windows"] = torch.stack(out["audio_windows"])
        cached["mouth"] = torch.stack(out["mouth"])
    return cached

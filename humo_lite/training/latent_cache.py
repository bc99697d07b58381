"""Training data as tensors: a pool rendered once and encoded once into cached VAE latents.

HuMo starts from Wan2.1's pretrained T2V weights (``docs/paper_notes.md`` §1.1); we have none, so we make
a miniature one (``docs/design.md`` §4). A training step must never run the renderer or the VAE, so
:func:`cache_latents` renders a pool at the preset's size and encodes every clip with the trained VAE's
posterior mean; the DiT and text encoder then train on the cached tensors with the flow-matching loss of
:mod:`humo_lite.training.tasks`. :func:`humo_lite.recipes.train_stage0` is the whole recipe (cache, train,
assemble the pipeline, score it, write the manifest); the later stages cache their pools the same way.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..data import make_clip, make_pool
from ..data.captions import Tokenizer, token_roles
from ..models.vae import encode_image, encode_video
from ..presets import Preset, get_preset
from .trainer import iterate_minibatches


def cache_latents(vae, pool: str = "foundation", preset: Preset | str = "humo-micro", size: int | None = None,
                  batch_size: int = 32, progress: bool = True, references: bool = False) -> dict[str, torch.Tensor]:
    """Render a pool and encode it: ``latents [N, C, F', h, w]``, ``text_ids``, ``text_mask``, labels.

    Clips are rendered at the preset's size and encoded with the VAE's posterior mean, normalised. With
    ``references`` each clip's cross-paired reference image is encoded too, as HuMo encodes it (a 1-frame
    video): ``ref_latents [N, C, 1, h, w]``.
    """
    world = get_preset(preset).world
    specs = make_pool(pool, size=size)
    tokenizer = Tokenizer()
    out: dict[str, list] = {"latents": [], "text_ids": [], "text_mask": [], "text_roles": [], "background": [],
                            "clothing": [], "ref_latents": []}
    vae.eval()
    for idx in tqdm(list(iterate_minibatches(len(specs), batch_size)), desc=f"encode {pool}", disable=not progress):
        clips = [make_clip(specs[int(i)], world) for i in idx]
        video = torch.stack([torch.from_numpy(c.video).permute(3, 0, 1, 2) for c in clips]) * 2 - 1  # (B,3,F,H,W)
        with torch.no_grad():
            out["latents"].append(encode_video(vae, video))
            if references:
                images = torch.stack([torch.from_numpy(c.reference).permute(2, 0, 1) for c in clips]) * 2 - 1
                out["ref_latents"].append(encode_image(vae, images))  # (B, C, 1, h, w)
        for clip in clips:
            ids, mask = tokenizer.encode(clip.caption)
            out["text_ids"].append(ids)
            out["text_mask"].append(mask)
            out["text_roles"].append(token_roles(clip.caption))
            out["background"].append(clip.labels["background"])
            out["clothing"].append(clip.labels["clothing"])
    cached = {
        "latents": torch.cat(out["latents"]),
        "text_ids": torch.stack(out["text_ids"]),
        "text_mask": torch.stack(out["text_mask"]),
        "text_roles": torch.stack(out["text_roles"]),
        "background": torch.tensor(out["background"]),
        "clothing": torch.tensor(out["clothing"]),
    }
    if references:
        cached["ref_latents"] = torch.cat(out["ref_latents"])
    return cached

"""Does a reference-conditioned model keep the identity, and still draw what the caption asks?

Stage 1's check (chapter 03, HuMo §3.3): clips of the ``heldout_identity`` pool — 60 identities no
training pool contains, in training scene combinations — generated from their caption and their
cross-paired reference (TI mode), or from the caption alone (T mode, the floor), and read by the judge:

- **ID-lite**: cosine between the judge's identity embedding of the reference and of each frame;
- **retrieval top-1**: each generated clip's mean embedding against a gallery of *fresh* references of
  all 60 held-out identities (another pose and scale than the one the model saw; chance 1/60): is the
  nearest its own identity?
- **identity attributes**: how often the judge's identity heads read each of the person's attributes
  (face shape, skin tone, hair style, hair colour, eye colour) in the generated frames, beside the same on
  the real clips (the judge's heads are not perfect on unseen people) — which parts of an identity get
  through;
- **TVA-lite** and per attribute: the caption's background, clothing, position and head motion;
- **not copied**: background and clothing as the caption says, read from the pixels as well; and two
  direct reads of copying — ``white_frame0``, the share of frame 0's pixels that are white (the
  reference's background; no room in the world is white), and ``reference_distance``, the mean absolute
  pixel difference between the reference and the closest generated frame
  (:func:`~humo_lite.data.world.closest_frame_distance`: 0 for a pasted reference, about 0.3 for real
  clips).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import make_clip, make_pool
from ..data.attributes import IDENTITY_FIELDS, SCENE_FIELDS
from ..data.pools import identity_split
from ..data.render import render_reference
from ..data.world import closest_frame_distance
from ..guidance import default_scales
from ..layouts import as_images, as_video
from ..presets import get_preset
from .judge import load_judge
from .metrics import id_lite, identity_attribute_accuracy, retrieve, scene_predictions
from .scene_check import judged_accuracy
from .scene_pixels import scene_accuracy

GALLERY_SEED = 0x6A11  # the gallery's references are drawn from their own seed stream
WHITE = 0.9  # a pixel whose every channel is above this is "white" (the references' background)


def white_share(frame: np.ndarray) -> float:
    """Share of an ``(H, W, 3)`` frame's pixels that are white (every channel > :data:`WHITE`)."""
    return float((np.asarray(frame).min(-1) > WHITE).mean())


def identity_gallery(world, world_seed: int = 0) -> tuple[list, np.ndarray]:
    """One fresh reference per held-out identity: ``(identities, images (N_id, H, W, 3))``."""
    _, heldout = identity_split(world_seed)
    images = [render_reference(identity, world.height, world.width, np.random.default_rng([GALLERY_SEED, i]))
              for i, identity in enumerate(heldout)]
    return heldout, np.stack(images)


def generate_clips(pipe, clips: list, use_reference: bool, seed: int = 0, batch_size: int = 16,
                   progress: bool = False, use_audio: bool = False, audio: list | None = None,
                   **call_kwargs) -> np.ndarray:
    """Each clip's caption (and, in TI mode, its own reference; with ``use_audio``, its own audio, or
    ``audio[i]`` when given) through ``pipe``, in batches, the noise of batch ``k`` seeded
    ``seed + k·batch_size``: frames ``(N, F, H, W, 3)``. ``call_kwargs`` go to the pipeline (steps, scales)."""
    frames = []
    for start in tqdm(range(0, len(clips), batch_size), desc="generate", disable=not progress):
        chunk = clips[start:start + batch_size]
        image = [[c.reference] for c in chunk] if use_reference else None
        sound = None
        if use_audio:
            sound = list(audio[start:start + batch_size]) if audio is not None else [c.audio for c in chunk]
        frames.append(pipe([c.caption for c in chunk], image=image, audio=sound,
                           sample_rate=16_000 if use_audio else None,
                           generator=torch.Generator().manual_seed(seed + start), **call_kwargs).frames)
    return np.concatenate(frames)


def _copying(frames: np.ndarray, clips: list) -> dict[str, float]:
    """The two direct reads of a pasted reference (see the module docstring)."""
    return {"white_frame0": float(np.mean([white_share(f[0]) for f in frames])),
            "reference_distance": float(np.mean([closest_frame_distance(f, c.reference)
                                                 for f, c in zip(frames, clips, strict=True)]))}


@torch.no_grad()
def heldout_identity_check(pipe, num_clips: int = 48, use_reference: bool = True, num_inference_steps: int = 20,
                           guidance_scale: float | None = None, image_guidance_scale: float | None = None,
                           seed: int = 0, batch_size: int = 16,
                           progress: bool = True, judge=None, preset: str = "humo-micro") -> dict:
    """Generate the first ``num_clips`` clips of ``heldout_identity`` with ``pipe`` and score them.

    ``use_reference``: TI mode (each clip's own reference, per prompt) or T mode (caption only). The
    pipeline's default guidance (HuMo's Eq. 4: ``guidance_scale`` on the text, ``image_guidance_scale`` on the
    reference; :mod:`humo_lite.guidance`; None: :data:`~humo_lite.guidance.TOY_SCALES`', as the pipeline's). Returns
    the settings, ``id_lite`` (mean and per-clip std), ``retrieval_top1`` (and ``chance``),
    ``identity_attributes`` (and the same on the real clips, and chance), ``judge`` (scene attributes and
    ``tva_lite``, :func:`~humo_lite.eval.scene_check.judged_accuracy`), ``pixels`` (background and clothing
    read from the pixels), ``white_frame0`` and ``reference_distance``.
    """
    scales = default_scales(guidance_scale, image_guidance_scale)  # the values used, for the record
    guidance_scale, image_guidance_scale = scales["text"], scales["image"]
    world = get_preset(preset).world
    specs = make_pool("heldout_identity")[:num_clips]
    clips = [make_clip(spec, world) for spec in specs]
    frames = generate_clips(pipe, clips, use_reference, seed, batch_size, progress,
                            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                            image_guidance_scale=image_guidance_scale)
    judge = load_judge(judge).model
    out = judge.judge_video(as_video(frames))
    id_mean, _, _ = id_lite(out["embedding"], judge.embed_images(as_images([c.reference for c in clips])))
    identities, gallery_images = identity_gallery(world)
    gallery = judge.embed_images(as_images(list(gallery_images)))  # (N_id, E)
    top1 = retrieve(out["embedding"], gallery) == np.array([identities.index(s.identity) for s in specs])
    labels = {k: np.array([c.labels[k] for c in clips]) for k in (*SCENE_FIELDS, *IDENTITY_FIELDS)}
    real = judge.judge_video(as_video(np.stack([c.video for c in clips])))
    return {"num_clips": len(clips), "use_reference": use_reference, "num_inference_steps": num_inference_steps,
            "guidance": guidance_scale, "image_guidance": image_guidance_scale if use_reference else None,
            "seed": seed,
            "id_lite": float(id_mean.mean()), "id_lite_std": float(id_mean.std()),
            "retrieval_top1": float(top1.mean()), "retrieval_identities": len(identities),
            "chance": 1 / len(identities),
            "identity_attributes": identity_attribute_accuracy(out, labels),
            "identity_attributes_real": identity_attribute_accuracy(real, labels),
            "identity_attribute_chance": {k: 1 / len(v) for k, v in IDENTITY_FIELDS.items()},
            "judge": judged_accuracy(scene_predictions(out), {k: labels[k] for k in SCENE_FIELDS}),
            "pixels": scene_accuracy(frames, labels["background"], labels["clothing"]),
            **_copying(frames, clips)}


__all__ = ["generate_clips", "heldout_identity_check", "identity_gallery", "white_share"]

"""Long clips, measured: identity per window and its drift, lip sync over the whole clip, and the seams.

A clip made in windows (:mod:`humo_lite.long_video`) can go wrong in three ways a short clip cannot: the face can
drift away from the reference window after window, the lips can lose the audio somewhere along the way, and the
picture can jump where one window hands over to the next. Each is read by the judge
(:mod:`humo_lite.eval.judge`) against what the world's own long clips score:

- **Real long clips** (:func:`render_long_clip`): the world renders a clip of any 4k+1 length. Its speech is the
  spec's: synthetic speech from its seed, or, for a speech-bank spec, the bank recordings of the same group (the
  held-out voice's held-out sentences for the ``heldout_voice`` pool) read one after another from the spec's own,
  with a short pause between sentences (:func:`long_speech`): every bank sentence is about 2 s.
- **ID-lite per window** and **ID-drift**: the cosine between the judge's identity embedding of the reference and
  of each frame (:func:`~humo_lite.eval.metrics.id_lite`), averaged over the frames each window added; the drift is
  the least-squares change of that cosine from the clip's first frame to its last, and ``id_last_over_first`` the
  last window's ID-lite over the first's.
- **Sync-C/D-lite over the whole clip** (:func:`~humo_lite.eval.metrics.sync_lite` on the judged mouth against the
  lip law of the clip's audio), reported as a ratio to the same on the VAE's reconstructions of the real clips at
  the same length (the reconstruction ceiling).
- **Seam score** (:func:`seam_score`): the frame-to-frame change (mean absolute pixel difference) across the seams
  — from the last frame one window gave to the first the next one gave — over the change across the other
  latent-frame boundaries inside the windows (a seam is always one; the VAE's frames change more there than within a
  latent frame, seams or not); the same ratio on the real clips at the same frame positions is the reference (real
  clips have no seams: about 1). ``seam_score`` is the generated ratio over the real one: 1 means the seams are as
  smooth as the rest of the clip, 2 that the picture changes twice as much there.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..data import make_pool, render_clip
from ..data.speech import bank_keys, bank_recording, synth_speech
from ..layouts import as_images, as_video
from ..presets import SAMPLE_RATE, VAE_TIME_STRIDE, WorldConfig, get_preset
from .ceilings import reconstruct
from .judge import load_judge
from .metrics import id_lite, sync_lite

PAUSE_S = 0.25  # the silence between two bank sentences of a long recording
BANK_GROUPS = ("unseen_voice", "heldout_train_voice", "train", "train_stage2")  # a bank key's group: split, voice kind


def long_speech(spec, num_samples: int) -> np.ndarray:
    """``num_samples`` of 16 kHz speech for a :class:`~humo_lite.data.speech.SpeechSpec`: synthetic speech from its
    seed, or the bank recordings of its key's group read in turn from its key, ``PAUSE_S`` apart."""
    if spec.kind == "synth":
        return synth_speech(num_samples, spec.seed)
    group = next((bank_keys(g) for g in BANK_GROUPS if spec.key in bank_keys(g)), None)
    if group is None:
        raise KeyError(f"no recording {spec.key!r} in the speech bank")
    order = group[group.index(spec.key):] + group[:group.index(spec.key)]
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)
    parts, total, i = [], 0, 0
    while total < num_samples:
        parts += [bank_recording(order[i % len(order)]), pause]
        total, i = total + len(parts[-2]) + len(pause), i + 1
    return np.concatenate(parts)[:num_samples].astype(np.float32)


def render_long_clip(spec, num_frames: int, preset: str | WorldConfig = "humo-micro"):
    """The world's clip of ``spec`` at the size of ``preset`` (a name or a world) and ``num_frames`` (4k+1)
    frames, speaking :func:`long_speech`: a :class:`~humo_lite.data.world.Clip`."""
    world = preset if isinstance(preset, WorldConfig) else get_preset(preset).world
    world = dataclasses.replace(world, num_frames=num_frames)
    clip = render_clip(spec.identity, spec.scene, long_speech(spec.speech, world.num_samples), world, spec.seed)
    clip.spec = spec
    return clip


def long_heldout_clips(num_clips: int, num_frames: int, preset: str = "humo-micro", pool: str = "heldout_voice"):
    """The first ``num_clips`` specs of ``pool`` (default: people and recordings no training pool has) rendered
    ``num_frames`` long."""
    specs = make_pool(pool)
    if not isinstance(num_clips, int) or not 1 <= num_clips <= len(specs):
        raise ValueError(f"num_clips must be a whole number in 1..{len(specs)} (the {pool} pool), got {num_clips!r}")
    return [render_long_clip(spec, num_frames, preset) for spec in specs.specs[:num_clips]]


def frame_changes(frames) -> np.ndarray:
    """Mean absolute pixel change between neighbouring frames: clips ``(B, N, H, W, 3)`` → ``(B, N − 1)``."""
    video = as_video(frames).numpy()  # (B, N, 3, H, W) in [0, 1]
    return np.abs(np.diff(video, axis=1)).mean(axis=(2, 3, 4))


def seam_score(frames, real_frames, seams: list[int]) -> dict[str, float]:
    """The change across the seams over the change across the other latent-frame boundaries, for the clips and for
    the real clips at the same frame positions; ``seams``: the first frame of each window after the first.

    A window always starts at a latent frame (frames ``4l − 3 … 4l``), and the VAE's frames change more from one
    latent frame to the next than within one, seams or not; so the seams are compared with the same kind of
    transition, the latent-frame boundaries inside the windows (module docstring)."""
    gen, real = frame_changes(frames), frame_changes(real_frames)
    if gen.shape != real.shape:
        raise ValueError(f"the clips and the real clips differ in shape: {gen.shape} vs {real.shape} changes")
    boundary = np.zeros(gen.shape[1], bool)
    boundary[VAE_TIME_STRIDE::VAE_TIME_STRIDE] = True  # change t is between frames t and t + 1: 4 → 5, 8 → 9, ...
    at = np.zeros_like(boundary)
    at[np.asarray(seams, int) - 1] = True
    if not at.any() or not (boundary & ~at).any() or (at & ~boundary).any():
        raise ValueError(f"seams must be first frames of latent frames (4l + 1, l >= 1), with another latent-frame "
                         f"boundary left in {len(gen[0]) + 1} frames; got {seams}")
    inside = boundary & ~at
    ratio = lambda d: float(d[:, at].mean() / max(d[:, inside].mean(), 1e-9))  # noqa: E731
    return {"seam_change": float(gen[:, at].mean()), "inside_change": float(gen[:, inside].mean()),
            "seam_vs_inside": ratio(gen), "real_seam_vs_inside": ratio(real), "seam_score": ratio(gen) / ratio(real),
            "seam_change_over_real": float(gen[:, at].mean() / max(real[:, at].mean(), 1e-9))}


def window_spans(seams: list[int], num_frames: int) -> list[tuple[int, int]]:
    """The frames each window added, ``[(first, end), ...]``, from the seams."""
    edges = [0, *seams, num_frames]
    return list(zip(edges[:-1], edges[1:], strict=True))


@torch.no_grad()
def long_clip_scores(judge, frames, clips: list, seams: list[int]) -> dict:
    """The module docstring's numbers for generated ``frames`` ``(B, N, H, W, 3)`` of ``clips`` (the real long clips
    they were made from: references, lip law, real frames), with windows meeting at ``seams`` (none: one window).
    Means over the clips; ``id_per_window`` the mean ID-lite of each window in turn."""
    judge = load_judge(judge)
    out = judge.model.judge_video(as_video(frames))
    ref = judge.model.embed_images(as_images([c.reference for c in clips]))
    _, drift, cos = id_lite(out["embedding"], ref)  # cos (B, N): each frame against its reference
    per_window = np.stack([cos[:, a:b].mean(1) for a, b in window_spans(seams, cos.shape[1])], 1)  # (B, J)
    sync = sync_lite(out["mouth"].numpy(), np.stack([c.mouth for c in clips]))
    row = {"id_lite": float(cos.mean()), "id_drift": float(drift.mean()),
           "id_first_window": float(per_window[:, 0].mean()), "id_last_window": float(per_window[:, -1].mean()),
           "id_last_over_first": float(per_window[:, -1].mean() / per_window[:, 0].mean()),
           "sync_c": float(sync["sync_c"].mean()), "sync_d": float(sync["sync_d"].mean()),
           "id_per_window": per_window.mean(0).tolist()}
    if seams:
        row.update(seam_score(frames, np.stack([c.video for c in clips]), seams))
    return row


def short_versions(clips: list, num_frames: int) -> list:
    """The same specs rendered ``num_frames`` long at the same size: the first window's length, for the
    single-window comparison (the same person, room, speech and motion from the start)."""
    height, width = clips[0].video.shape[1:3]
    return [render_long_clip(c.spec, num_frames, WorldConfig(height, width, num_frames)) for c in clips]


def real_reference_scores(vae, clips: list, seams: list[int], judge=None) -> dict:
    """:func:`long_clip_scores` on the real clips and on the VAE's reconstructions of them (the two ceilings)."""
    real = np.stack([c.video for c in clips])
    return {"real": long_clip_scores(judge, real, clips, seams),
            "reconstruction": long_clip_scores(judge, reconstruct(vae, real, batch_size=4), clips, seams)}


def long_clip_summary(comparison: dict, long_vs_single: dict | None = None) -> dict:
    """The numbers to read, as ``mean ± std`` over seeds: per method the seam score (over real clips'), ID-lite,
    ID-drift and Sync-C/D-lite over the reconstruction ceiling; with ``long_vs_single``, its two ratios."""
    keys = ("seam_score", "id_lite", "id_drift", "sync_c_over_reconstruction", "sync_d_over_reconstruction")
    methods = {name: {k: f"{r['mean'][k]:.3f} ± {r['std'][k]:.3f}" for k in keys}
               for name, r in comparison["methods"].items()}
    out = {"clips": comparison["num_clips"], "seconds": comparison["seconds"], "seeds": len(comparison["seeds"]),
           "windows": len(comparison["windows"]), "methods": methods}
    if long_vs_single is not None:
        long = long_vs_single["long"]
        out["long_clip"] = {"seconds": long["seconds"], "windows": len(long["windows"]),
                            "id_last_over_first": round(long_vs_single["id_last_over_first"], 3),
                            "sync_c_whole_over_single_window": round(
                                long_vs_single["sync_c_whole_over_single_window"], 3)}
    return out


__all__ = ["frame_changes", "long_clip_scores", "long_clip_summary", "long_heldout_clips", "long_speech",
           "real_reference_scores", "render_long_clip", "seam_score", "short_versions", "window_spans"]

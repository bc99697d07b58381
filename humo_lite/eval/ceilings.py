"""The two ceilings every generated clip is measured against: real data, and the VAE's reconstruction.

A generated clip is a decoded latent, so it can be no better than the VAE's reconstruction of a real
clip: whatever the latent space drops (a mouth's motion, a face's detail) no DiT can put back. Each
metric therefore has two ceilings, both measured once on the same 240 real clips of held-out
identities speaking held-out speech (the judge's validation set, ``VAL_SEED``):

- the **real-data ceiling**: the metric on the real frames (stored with the judge, ``ceiling`` in its
  manifest) — what perfect video would score;
- the **reconstruction ceiling**: the metric on the VAE's reconstructions of those frames, scored
  against the *real* conditions (caption, reference image, audio) — what perfect *latents* would score.
  Stored with the VAE (``reconstruction_ceiling`` in its manifest).

:func:`~humo_lite.eval.metrics.evaluate` shows both as columns, with a generated value's ratio to each.
Quality-lite (a Fréchet distance) has no stored reconstruction ceiling: its small-sample bias depends
on how many frames are scored, so one measured on 240 clips would not compare with a batch of 48.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from tqdm.auto import tqdm

from ..data import make_clip, make_pool
from ..data.audio import lip_law
from ..io import write_json
from ..layouts import as_images, as_video
from ..models.vae import decode_latents, encode_video, load_vae
from ..presets import get_preset
from .judge import JudgeCheckpoint, load_judge
from .judge_data import judge_specs, render_set
from .judge_training import VAL_SEED
from .metrics import sync_lite
from .validation import ceiling_metrics

MANIFEST = "manifest.json"
KEY = "reconstruction_ceiling"


@torch.no_grad()
def reconstruct(vae, video, batch_size: int = 16, progress: bool = False) -> np.ndarray:
    """Encode and decode clips: any layout :func:`~humo_lite.layouts.as_video` reads → ``(N, F, H, W, 3)`` in [0, 1]."""
    clips = rearrange(as_video(video), "n f c h w -> n c f h w") * 2 - 1  # the VAE's [-1, 1], channels first
    out = []
    for batch in tqdm(clips.split(batch_size), desc="reconstruct", disable=not progress, leave=False):
        out.append(decode_latents(vae, encode_video(vae, batch)))
    return rearrange((torch.cat(out) + 1) / 2, "n c f h w -> n f h w c").clamp(0, 1).numpy()


def reconstruction_ceiling(vae, judge: JudgeCheckpoint | str | None = None, num_clips: int = 240,
                           progress: bool = False) -> dict:
    """Every judge metric on the VAE's reconstructions of the judge's held-out real clips.

    ``vae``: an ``AutoencoderKLWan``, or any function from real clips ``(N, F, H, W, 3)`` uint8 to
    "reconstructions" in the same layout in [0, 1] (e.g. one that freezes each clip at its mean frame:
    what a VAE that keeps no motion at all would give).

    Returns ``{"metrics": {metric: value}, "real": {metric: value}, "num_clips": N, "judge": …}``:
    ``real`` is the same metrics on the same clips before the VAE (with the judge's 240 clips it equals
    the judge's stored real-data ceiling), so the two can be compared one to one.
    """
    judge = load_judge(judge)
    world = get_preset(judge.manifest.get("preset", "humo-micro")).world
    val = render_set(judge_specs(num_clips, "heldout", seed=VAL_SEED), world, progress=progress)
    fake = callable(vae) and not isinstance(vae, torch.nn.Module)
    recon = {**val, "video": vae(val["video"]) if fake else reconstruct(vae, val["video"], progress=progress)}
    references = judge.model.embed_images(as_images(val["reference"]))
    return {
        "metrics": ceiling_metrics(judge.model, recon, references),
        "real": ceiling_metrics(judge.model, val, references),
        "num_clips": num_clips,
        "judge": judge.manifest.get("command", "the shipped judge"),
    }


def _sync(judge: JudgeCheckpoint, video, audio: np.ndarray) -> dict:
    """Sync-C/D-lite and |best offset| of clips against audio, plus the judged mouth ``(N, F)``."""
    out = judge.model.judge_video(as_video(video))
    num_frames = out["mouth"].shape[1]
    s = sync_lite(out["mouth"].numpy(), np.stack([lip_law(w, num_frames) for w in audio]))
    return {"Sync-C-lite": float(s["sync_c"].mean()), "Sync-D-lite": float(s["sync_d"].mean()),
            "Sync-|offset|": float(np.abs(s["offset"]).mean()), "mouth": out["mouth"].numpy()}


def within_clip_r(mouth: np.ndarray, lips: np.ndarray) -> float:
    """Mean over clips of the correlation between the judged mouth and the lip law, frame by frame.

    A mouth that does not move correlates with nothing: r = 0. Clips whose lip law is constant are skipped.
    """
    rs = [np.corrcoef(m, lp)[0, 1] if m.std() > 1e-6 else 0.0
          for m, lp in zip(mouth, lips, strict=True) if lp.std() > 1e-6]
    return float(np.mean(rs))


def mouth_check(vae, judge: JudgeCheckpoint | str | None = None, num_clips: int = 48,
                pool: str = "heldout_speech") -> dict:
    """Does the mouth's motion survive the VAE? Lip sync of real clips and of their reconstructions.

    On the first ``num_clips`` clips of ``pool`` (default: held-out speech), with the judge, for: the
    real frames, the VAE's reconstructions, each with another clip's audio (shuffled), every frame
    encoded alone as an image (the spatial path only: what is lost before any temporal compression), and
    every frame replaced by the clip's mean frame (no motion at all). Each row: Sync-C-lite, Sync-D-lite, mean
    |best offset| and ``r_within_clip`` (judged mouth vs the lip law, per clip, averaged). Also the
    reconstructions' ``psnr_db`` (all pixels).
    """
    judge = load_judge(judge)
    world = get_preset(judge.manifest.get("preset", "humo-micro")).world
    clips = [make_clip(spec, world) for spec in make_pool(pool)[:num_clips]]
    real = np.stack([c.video for c in clips])  # (N, F, H, W, 3) in [0, 1]
    audio = np.stack([c.audio for c in clips])
    shuffled = audio[np.roll(np.arange(len(audio)), 1)]
    recon = reconstruct(vae, real)
    n, f = real.shape[:2]
    frames_alone = reconstruct(vae, real.reshape(n * f, 1, *real.shape[2:])).reshape(real.shape)
    frozen = np.broadcast_to(real.mean(1, keepdims=True), real.shape)
    lips = np.stack([c.mouth for c in clips])
    lips_shuffled = lips[np.roll(np.arange(len(lips)), 1)]  # the lip law of the audio each clip is given
    rows = {}
    for name, video, wave in (("real", real, audio), ("reconstruction", recon, audio),
                              ("real, shuffled audio", real, shuffled),
                              ("reconstruction, shuffled audio", recon, shuffled),
                              ("each frame reconstructed alone", frames_alone, audio),
                              ("every frame = the clip's mean frame", frozen, audio)):
        row = _sync(judge, video, wave)
        row["r_within_clip"] = within_clip_r(row.pop("mouth"), lips if wave is audio else lips_shuffled)
        rows[name] = {k: round(v, 4) for k, v in row.items()}
    psnr = float(-10 * np.log10(np.mean((recon - real) ** 2)))
    return {"rows": rows, "psnr_db": round(psnr, 3), "num_clips": num_clips, "pool": pool}


def write_reconstruction_ceiling(vae_folder: str | os.PathLike, judge: JudgeCheckpoint | str | None = None,
                                 num_clips: int = 240, progress: bool = True) -> dict:
    """Measure :func:`reconstruction_ceiling` and :func:`mouth_check` of a VAE folder; store both in its
    ``manifest.json`` (atomically)."""
    folder = Path(vae_folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{folder} has no {MANIFEST}; expected a VAE folder written by `humo-lite train vae`")
    manifest = json.loads(manifest_path.read_text())
    vae = load_vae(folder)
    manifest[KEY] = reconstruction_ceiling(vae, judge, num_clips, progress)
    manifest["mouth_check"] = mouth_check(vae, judge)
    write_json(manifest_path, manifest)
    return manifest[KEY]


def load_reconstruction_ceiling(folder: str | os.PathLike) -> dict[str, float]:
    """The stored reconstruction ceiling of a VAE folder, or of a pipeline folder's ``vae/``: ``{metric: value}``."""
    folder = Path(folder)
    for path in (folder / MANIFEST, folder / "vae" / MANIFEST):
        if path.is_file():
            manifest = json.loads(path.read_text())
            if manifest.get("kind") == "vae":
                if KEY not in manifest:
                    raise ValueError(f"{path} has no {KEY!r}; measure it with "
                                     f"humo_lite.eval.ceilings.write_reconstruction_ceiling({str(path.parent)!r})")
                return dict(manifest[KEY]["metrics"])
    raise FileNotFoundError(f"no VAE manifest in {folder} or {folder / 'vae'}; expected a VAE or pipeline folder")


__all__ = ["load_reconstruction_ceiling", "mouth_check", "reconstruct", "reconstruction_ceiling",
           "write_reconstruction_ceiling"]

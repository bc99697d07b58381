"""Does the mouth follow the audio? Stage 2's check, measured against the reconstruction ceiling.

Clips of the ``heldout_voice`` pool — people no training pool contains, speaking recordings no training pool
contains (held-out sentences and voices of the speech bank, and synthetic speech from a separate seed
stream) — generated from caption, reference and audio (TIA mode) or caption and audio (TA), over several
sampling seeds, and read by the judge (:mod:`humo_lite.eval.judge`):

- **Sync-C-lite / Sync-D-lite / |offset|**: SyncNet's recipe on the judged mouth against the lip law of the
  clip's own audio (:func:`~humo_lite.eval.metrics.sync_lite`); ``within_1``: share of clips whose best
  offset is within ±1 frame;
- **chance**: the same clips scored against *another* clip's audio (rolled by one); a clip that ignores its
  audio scores as well against either;
- **r within clip**: per clip, the correlation between the judged mouth and the lip law, frame by frame;
- **ID-lite** against the reference (TIA) and **TVA-lite** against the caption.

The same numbers on the real clips and on the VAE's reconstructions of them (the two ceilings) come with
it; a generated clip is reported as a ratio to the reconstruction ceiling, and its **margin over chance**
(own audio vs shuffled) as a share of the reconstruction's margin.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import make_clip, make_pool
from ..layouts import as_images, as_video
from ..presets import get_preset
from .ceilings import reconstruct, within_clip_r
from .identity_check import generate_clips
from .judge import load_judge
from .metrics import id_lite, scene_predictions, sync_lite, tva_lite

POOL = "heldout_voice"


def heldout_voice_clips(num_clips: int = 48, preset: str = "humo-micro", pool: str = POOL) -> list:
    """The first ``num_clips`` clips of the ``heldout_voice`` pool (or of ``pool``, e.g. ``"validation"`` when
    choosing a setting), rendered at the preset's size."""
    specs = make_pool(pool)
    if not isinstance(num_clips, int) or not 2 <= num_clips <= len(specs):
        raise ValueError(f"num_clips must be a whole number in 2..{len(specs)} (the {pool} pool), got {num_clips!r}")
    world = get_preset(preset).world
    return [make_clip(spec, world) for spec in specs.specs[:num_clips]]


def shuffled_order(n: int) -> np.ndarray:
    """Which clip's audio each clip is scored against for chance: the next one (no clip gets its own)."""
    return np.roll(np.arange(n), -1)


def own_and_shuffled(mouth: np.ndarray, lips: np.ndarray) -> tuple[dict, dict]:
    """Per-clip :func:`~humo_lite.eval.metrics.sync_lite` of the judged mouths against their own lip law and
    against the shuffled one (chance)."""
    return sync_lite(mouth, lips), sync_lite(mouth, lips[shuffled_order(len(lips))])


def lip_sync(judge, frames, lips: np.ndarray) -> dict:
    """Sync of clips ``frames`` (any layout :func:`~humo_lite.layouts.as_video` reads) against their lip law
    ``lips (N, F)`` and against the shuffled lip law; the judged mouth ``(N, F)`` as ``mouth``."""
    out = judge.model.judge_video(as_video(frames))
    mouth = out["mouth"].numpy()
    own, other = own_and_shuffled(mouth, lips)
    return {"sync_c": float(own["sync_c"].mean()), "sync_d": float(own["sync_d"].mean()),
            "abs_offset": float(np.abs(own["offset"]).mean()), "within_1": float((np.abs(own["offset"]) <= 1).mean()),
            "sync_c_shuffled": float(other["sync_c"].mean()), "sync_d_shuffled": float(other["sync_d"].mean()),
            "r_within_clip": within_clip_r(mouth, lips), "mouth": mouth, "judged": out}


def margin_shares(gen: dict, ceiling: dict) -> dict[str, float]:
    """The generated clips' margin over chance as a share of the ceiling's: Sync-C (own − shuffled) and
    Sync-D (shuffled − own, lower is better)."""
    c = (gen["sync_c"] - gen["sync_c_shuffled"]) / max(ceiling["sync_c"] - ceiling["sync_c_shuffled"], 1e-9)
    d = (gen["sync_d_shuffled"] - gen["sync_d"]) / max(ceiling["sync_d_shuffled"] - ceiling["sync_d"], 1e-9)
    return {"sync_c_margin_share": float(c), "sync_d_margin_share": float(d)}


def _drop_arrays(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("mouth", "judged")}


@torch.no_grad()
def sync_ceilings(vae, clips: list, judge=None) -> dict:
    """Every number of :func:`lip_sync` on the real clips and on the VAE's reconstructions of them."""
    judge = load_judge(judge)
    real = np.stack([c.video for c in clips])
    lips = np.stack([c.mouth for c in clips])
    return {"real": _drop_arrays(lip_sync(judge, real, lips)),
            "reconstruction": _drop_arrays(lip_sync(judge, reconstruct(vae, real), lips))}


def score_frames(judge, frames, clips, lips, use_reference: bool) -> dict:
    """Generated ``frames`` of ``clips`` judged: lip sync against the lip law ``lips`` (:func:`lip_sync`, without
    its arrays), TVA-lite against the clips' scenes and, with ``use_reference``, ID-lite against their references."""
    row = lip_sync(judge, frames, lips)
    out = row["judged"]
    row["tva_lite"] = float(tva_lite(scene_predictions(out), [c.labels for c in clips]).mean())
    if use_reference:
        ref = judge.model.embed_images(as_images([c.reference for c in clips]))
        row["id_lite"] = float(id_lite(out["embedding"], ref)[0].mean())
    return _drop_arrays(row)


def summarise(per_seed: list[dict]) -> tuple[dict, dict]:
    """Mean and standard deviation over seeds of every number the rows share."""
    keys = [k for k in per_seed[0] if isinstance(per_seed[0][k], float)]
    values = {k: np.array([row[k] for row in per_seed]) for k in keys}
    return ({k: float(v.mean()) for k, v in values.items()}, {k: float(v.std()) for k, v in values.items()})


@torch.no_grad()
def heldout_sync_check(pipe, num_clips: int = 48, seeds=(0, 1, 2), mode: str = "TIA", num_inference_steps: int = 20,
                       batch_size: int = 16, progress: bool = True, judge=None, preset: str = "humo-micro",
                       ceilings: dict | None = None, pool: str = POOL, **guidance) -> dict:
    """Generate the first ``num_clips`` ``heldout_voice`` clips in ``mode`` (``"TIA"``, ``"TA"``; ``"TI"`` / ``"T"``
    give the no-audio floor) once per sampling seed and score them (module docstring).

    ``pool``: ``"validation"`` to choose a setting on clips that neither train nor test (never the default).
    ``guidance`` goes to the pipeline (``guidance_scale``, ``image_guidance_scale``, ``audio_guidance_scale``
    or ``guidance=``); none given: the pipeline's defaults. ``ceilings``: :func:`sync_ceilings` of these clips
    if already measured. Returns the settings, ``per_seed`` rows, their ``mean`` and ``std``, the
    ``ceilings``, and ``ratios``: the mean over the reconstruction ceiling (Sync-C, Sync-D, ID, TVA) and the
    margin shares (:func:`margin_shares`).
    """
    if mode not in ("T", "TI", "TA", "TIA"):
        raise ValueError(f"mode must be one of 'T', 'TI', 'TA', 'TIA', got {mode!r}")
    judge = load_judge(judge)
    clips = heldout_voice_clips(num_clips, preset, pool)
    lips = np.stack([c.mouth for c in clips])
    use_reference, use_audio = "I" in mode, "A" in mode
    per_seed = []
    for seed in seeds:
        frames = generate_clips(pipe, clips, use_reference, seed, batch_size, progress, use_audio=use_audio,
                                num_inference_steps=num_inference_steps, **guidance)
        per_seed.append({"seed": int(seed), **score_frames(judge, frames, clips, lips, use_reference)})
    mean, std = summarise(per_seed)
    ceilings = ceilings or sync_ceilings(pipe.vae, clips, judge)
    recon = ceilings["reconstruction"]
    ratios = {"sync_c": mean["sync_c"] / recon["sync_c"], "sync_d": mean["sync_d"] / recon["sync_d"],
              **margin_shares(mean, recon)}
    return {"pool": pool, "mode": mode, "num_clips": len(clips), "seeds": [int(s) for s in seeds],
            "num_inference_steps": num_inference_steps, "guidance": {k: str(v) for k, v in guidance.items()},
            "guidance_formula": type(pipe).guidance_schedule(**{"guidance": None, **guidance}).formula(mode),
            "per_seed": per_seed, "mean": mean, "std": std, "ceilings": ceilings, "ratios": ratios}


def sync_by_group(mouth: np.ndarray, lips: np.ndarray, groups) -> dict[str, dict]:
    """Per group of clips (``groups[i]`` names clip i's): Sync-C against the clip's own lip law and against the
    shuffled one (the shuffle of the whole set, :func:`shuffled_order`), their margin, r within clip and |offset|."""
    groups = np.asarray(groups)
    own, other = own_and_shuffled(mouth, lips)
    out = {}
    for name in sorted(set(groups.tolist())):
        sel = groups == name
        c, c_shuffled = float(own["sync_c"][sel].mean()), float(other["sync_c"][sel].mean())
        out[name] = {"num_clips": int(sel.sum()), "sync_c": c, "sync_c_shuffled": c_shuffled, "margin": c - c_shuffled,
                     "r_within_clip": within_clip_r(mouth[sel], lips[sel]),
                     "abs_offset": float(np.abs(own["offset"][sel]).mean())}
    return out


@torch.no_grad()
def sync_by_speech(pipe, num_clips: int = 48, seeds=(0, 1), num_inference_steps: int = 20, batch_size: int = 16,
                   judge=None, preset: str = "humo-micro", pool: str = POOL) -> dict:
    """Where lip sync is lost: the TIA clips of :func:`heldout_sync_check` split by their speech — synthetic
    (``synth``) or a recording of the speech bank (``bank``; in ``heldout_voice``, the bank's held-out voice) —
    each group's generated numbers (mean over ``seeds``) beside its reconstruction's, and its margin share (None
    where the reconstruction has no margin over chance)."""
    judge = load_judge(judge)
    clips = heldout_voice_clips(num_clips, preset, pool)
    kinds = [spec.speech.kind for spec in make_pool(pool).specs[:num_clips]]
    lips = np.stack([c.mouth for c in clips])

    def judged(frames):
        return sync_by_group(judge.model.judge_video(as_video(frames))["mouth"].numpy(), lips, kinds)

    recon = judged(reconstruct(pipe.vae, np.stack([c.video for c in clips])))
    runs = [judged(generate_clips(pipe, clips, True, seed, batch_size, False, use_audio=True,
                                  num_inference_steps=num_inference_steps)) for seed in seeds]
    out = {}
    for kind, ceiling in recon.items():
        rows = [run[kind] for run in runs]
        generated = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "num_clips"}
        has_margin = ceiling["margin"] > 1e-6  # a reconstruction no closer to its own audio than to another's: no share
        generated["margin_share"] = generated["margin"] / ceiling["margin"] if has_margin else None
        generated["margin_share_std"] = (float(np.std([r["margin"] for r in rows]) / ceiling["margin"])
                                         if has_margin else None)
        out[kind] = {"num_clips": ceiling["num_clips"], "generated": generated, "reconstruction": ceiling}
    return {"pool": pool, "num_clips": num_clips, "seeds": [int(s) for s in seeds],
            "num_inference_steps": num_inference_steps, "by_speech": out}


__all__ = ["POOL", "heldout_sync_check", "heldout_voice_clips", "lip_sync", "margin_shares", "score_frames",
           "own_and_shuffled", "shuffled_order", "summarise", "sync_by_group", "sync_by_speech", "sync_ceilings"]

"""Before a metric is trusted, it is validated: the judge's own numbers, and true vs corrupted clips.

Two questions, both asked on a rendered held-out set (:func:`humo_lite.eval.judge_data.render_set` of
held-out identities speaking held-out speech):

1. :func:`validate_judge` — does the judge read what it claims? Attribute accuracy, identity retrieval,
   mouth-opening R², face-box error, offset recovery for shifted audio; and, from the same clips, the
   **real-data ceiling** of every metric (what real clips score), stored in the judge's manifest.
2. :func:`metric_validation` — does each metric tell a true condition from a corrupted one (another
   clip's caption, another identity's reference, shuffled audio, noise, blur), and by how much
   (Cohen's d)? Chapter 08 draws both.

Used when the judge is trained (:mod:`humo_lite.eval.judge_training`), by the tests and by chapter 08.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.attributes import SCENE_FIELDS
from ..data.audio import lip_law
from ..layouts import as_images, as_video
from .judge import FRAME_SCENE_FIELDS, Judge, JudgeCheckpoint
from .metrics import (
    effect_size,
    evaluate,
    id_lite,
    identity_attribute_accuracy,
    quality_lite,
    retrieve,
    scene_predictions,
    shift_audio,
    sync_lite,
    tva_lite,
)

NOISE_SIGMA = 0.1  # the "noise" corruption: Gaussian, in [0, 1] pixel units
BLUR_SIGMA = 1.0  # the "blur" corruption: Gaussian, in pixels


def _attribute_accuracy(out: dict, labels: dict) -> tuple[dict, dict]:
    """Scene attributes (per frame; motion per clip) and identity attributes (per frame): accuracy."""
    acc = {k: float((out[f"scene_{k}"].argmax(-1).numpy() == labels[k][:, None]).mean()) for k in FRAME_SCENE_FIELDS}
    acc["motion"] = float((out["scene_motion"].argmax(-1).numpy() == labels["motion"]).mean())
    return acc, identity_attribute_accuracy(out, labels)


def _retrieval(out: dict, ref_emb: torch.Tensor, identities: np.ndarray) -> dict:
    """Enrol one reference per identity; query with each clip's mean frame embedding, and with single frames."""
    enrolled = sorted(set(identities.tolist()))
    first = [int(np.nonzero(identities == i)[0][0]) for i in enrolled]
    gallery = ref_emb[first]  # (N_id, E): one reference per identity
    target = np.array([enrolled.index(i) for i in identities])
    return {
        "retrieval_top1_clip": round(float((retrieve(out["embedding"], gallery) == target).mean()), 4),
        "retrieval_top1_frame": round(float(((out["embedding"] @ gallery.T).argmax(-1).numpy()
                                             == target[:, None]).mean()), 4),
        "retrieval_identities": len(enrolled),
    }


def _offset_recovery(mouth: np.ndarray, audio: np.ndarray, num_frames: int, max_shift: int) -> dict:
    """Delay the audio by −max_shift…max_shift frames: how often is the best offset exactly the delay?"""
    shifts = np.arange(-max_shift, max_shift + 1)
    recovered = np.stack([
        sync_lite(mouth, np.stack([lip_law(w, num_frames) for w in shift_audio(audio, int(s))]))["offset"] == s
        for s in shifts
    ])  # (shifts, B)
    per_shift = {int(k): round(float(v), 4) for k, v in zip(shifts, recovered.mean(1), strict=True)}
    return {"offset_recovery": round(float(recovered.mean()), 4), "offset_recovery_per_shift": per_shift}


def _ceilings(out: dict, ref_emb: torch.Tensor, val: dict) -> dict[str, float]:
    """Every metric on the real clips themselves: the real-data ceiling."""
    labels, num_frames = val["labels"], val["video"].shape[1]
    scenes = [{k: int(labels[k][i]) for k in SCENE_FIELDS} for i in range(len(val["video"]))]
    id_mean, id_drift, _ = id_lite(out["embedding"], ref_emb)
    s = sync_lite(out["mouth"].numpy(), np.stack([lip_law(w, num_frames) for w in val["audio"]]))
    ceiling = {
        "TVA-lite": float(tva_lite(scene_predictions(out), scenes).mean()),
        "ID-lite": float(id_mean.mean()),
        "ID-drift": float(id_drift.mean()),
        "Sync-C-lite": float(s["sync_c"].mean()),
        "Sync-D-lite": float(s["sync_d"].mean()),
        "Sync-|offset|": float(np.abs(s["offset"]).mean()),
    }
    return {k: round(v, 4) for k, v in ceiling.items()}


def ceiling_metrics(judge: Judge, clips: dict, ref_emb: torch.Tensor | None = None) -> dict[str, float]:
    """Every metric on a rendered set (:func:`~humo_lite.eval.judge_data.render_set`) against its own conditions.

    On real clips this is the real-data ceiling; on their VAE reconstructions, the reconstruction ceiling
    (:mod:`humo_lite.eval.ceilings`). ``ref_emb``: the references' embeddings, if already computed.
    """
    out = judge.judge_video(as_video(clips["video"]))
    ref_emb = judge.embed_images(as_images(clips["reference"])) if ref_emb is None else ref_emb
    return _ceilings(out, ref_emb, clips)


def validate_judge(judge: Judge, val: dict, max_shift: int = 4) -> dict:
    """The judge network's own numbers on a rendered held-out set, and the real-data ceilings.

    Attribute accuracy (per frame for background/clothing/position, per clip for motion), identity
    retrieval top-1, mouth-opening R², face-box error in pixels, offset recovery for audio shifted by
    −max_shift…max_shift frames, and ``ceiling``: every metric on these real clips.
    """
    video = as_video(val["video"])
    out = judge.judge_video(video)
    ref_emb = judge.embed_images(as_images(val["reference"]))
    acc, id_acc = _attribute_accuracy(out, val["labels"])
    mouth_pred, mouth = out["mouth"].numpy().clip(0, 1), val["mouth"]
    r2 = 1 - ((mouth_pred - mouth) ** 2).sum() / ((mouth - mouth.mean()) ** 2).sum()
    return {
        "clips": int(len(video)),
        "attribute_accuracy": {k: round(v, 4) for k, v in acc.items()},
        "attribute_accuracy_mean": round(float(np.mean(list(acc.values()))), 4),
        "identity_attribute_accuracy": {k: round(v, 4) for k, v in id_acc.items()},
        **_retrieval(out, ref_emb, val["labels"]["identity"]),
        "mouth_r2": round(float(r2), 4),
        "box_error_px": round(float(np.abs(out["box"].numpy() - val["box"]).mean() * val["video"].shape[-2]), 3),
        **_offset_recovery(out["mouth"].numpy(), val["audio"], video.shape[1], max_shift),
        "ceiling": _ceilings(out, ref_emb, val),
    }


def corrupt(video: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Degrade clips ``(B, F, H, W, 3)`` in [0, 1]: ``"noise"`` (Gaussian, σ 0.1) or ``"blur"`` (σ 1 px)."""
    video = np.asarray(video, np.float32)
    if kind == "noise":
        noise = np.random.default_rng(seed).standard_normal(video.shape, np.float32)
        return np.clip(video + NOISE_SIGMA * noise, 0, 1)
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(video, sigma=(0, 0, BLUR_SIGMA, BLUR_SIGMA, 0), mode="nearest")
    raise ValueError(f"unknown corruption {kind!r}; expected 'noise' or 'blur'")


def _frechet_groups(judge: JudgeCheckpoint, video: np.ndarray, group: int, seed: int) -> dict[str, np.ndarray]:
    """Quality-lite of groups of ``group`` real clips, and of the same groups with noise and with blur."""
    fd = {"real": [], "noise": [], "blur": []}
    for start in range(0, len(video) - group + 1, group):
        chunk = video[start : start + group]
        for kind in fd:
            clips = chunk if kind == "real" else corrupt(chunk, kind, seed + start)
            fd[kind].append(quality_lite(judge, as_video(clips)))
    return {k: np.array(v) for k, v in fd.items()}


def metric_validation(judge: JudgeCheckpoint, val: dict, seed: int = 0, group: int = 8) -> dict:
    """True vs corrupted conditions for every metric, per clip, and the effect sizes (Cohen's d).

    TVA: the clip's caption vs another clip's (a derangement). ID: the clip's reference vs another
    identity's. Sync: the clip's audio vs another clip's (shuffled), and the best offset's spread.
    Quality: Fréchet distance of groups of ``group`` real clips vs the same groups with noise or blur.
    Effect sizes are signed so that a large positive number means "the metric tells them apart in the
    right direction".
    """
    rng = np.random.default_rng(seed)
    video = val["video"].astype(np.float32) / 255.0
    b = len(video)
    perm = np.roll(np.arange(b), 1 + int(rng.integers(b - 1)))  # a derangement: nobody keeps their own
    ids = val["labels"]["identity"]
    other = np.array([int(rng.choice(np.nonzero(ids != ids[i])[0])) for i in range(b)])
    score = lambda **kw: evaluate(video, judge=judge, frechet_ceiling=False, **kw).per_clip  # noqa: E731
    pc = score(captions_or_labels=val["captions"], references=val["reference"], audio=val["audio"])
    wc = score(captions_or_labels=[val["captions"][i] for i in perm])
    wr = score(references=val["reference"][other])
    sh = score(audio=val["audio"][perm])
    fd = _frechet_groups(judge, video, group, seed)
    scores = {
        "TVA-lite": (pc["TVA-lite"], wc["TVA-lite"]),
        "ID-lite": (pc["ID-lite"], wr["ID-lite"]),
        "Sync-C-lite": (pc["Sync-C-lite"], sh["Sync-C-lite"]),
        "Sync-D-lite": (-pc["Sync-D-lite"], -sh["Sync-D-lite"]),  # negated: lower is better
        "Quality-lite (noise)": (-fd["real"], -fd["noise"]),
        "Quality-lite (blur)": (-fd["real"], -fd["blur"]),
    }
    return {
        "effect_size": {k: effect_size(a, c) for k, (a, c) in scores.items()},
        "true": pc,
        "wrong_caption": wc,
        "wrong_reference": wr,
        "shuffled_audio": sh,
        "frechet": fd,
        "offset_true": pc["sync_offset"],
        "offset_shuffled": sh["sync_offset"],
    }


__all__ = ["ceiling_metrics", "corrupt", "metric_validation", "validate_judge"]

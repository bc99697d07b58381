"""The clips the judge is trained and validated on, rendered from seeded specs.

The training split is training identities x *every* scene combination x training speech: the judge is
the expert, so it may see every colour. The held-out split is the 60 *held-out* identities speaking
*held-out* speech (synthetic seeds >= 2**31 and the held-out recordings), in any scene: every validation
number and every real-data ceiling is measured on it.
"""

from __future__ import annotations

import numpy as np

from ..data.attributes import IDENTITY_FIELDS, SCENE_FIELDS, Scene
from ..data.pools import identity_split
from ..data.speech import SpeechSpec, bank_keys
from ..data.world import ClipSpec, make_clip

SPLITS = ("train", "heldout")
HELDOUT_SYNTH_OFFSET = 2**31  # held-out synthetic speech seeds start here; training seeds stay below


def judge_specs(n: int, split: str = "train", seed: int = 0, world_seed: int = 0) -> list[ClipSpec]:
    """``n`` seeded clip specs for the judge.

    ``split="train"``: training identities, any scene, training speech (synth < 2**31 and the train bank).
    ``split="heldout"``: the 60 *held-out* identities speaking *held-out* speech (synth >= 2**31 and the
    held-out bank), any scene — the split every validation number is measured on.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    train_ids, heldout_ids = identity_split(world_seed)
    ids = train_ids if split == "train" else heldout_ids
    keys = bank_keys("train" if split == "train" else "heldout")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x10D6E, split == "train"]))
    specs = []
    for i in range(n):
        identity = ids[i % len(ids)] if split != "train" else ids[int(rng.integers(len(ids)))]
        scene = Scene(*(int(rng.integers(len(v))) for v in SCENE_FIELDS.values()))
        if rng.random() < 0.3:
            speech = SpeechSpec("bank", key=keys[int(rng.integers(len(keys)))], offset=float(rng.random()))
        else:
            offset = 0 if split == "train" else HELDOUT_SYNTH_OFFSET
            speech = SpeechSpec("synth", seed=int(rng.integers(2**31)) + offset)
        specs.append(ClipSpec(identity, scene, speech, int(rng.integers(2**31))))
    return specs


def face_boxes(face_mask: np.ndarray) -> np.ndarray:
    """Face masks ``(F, H, W)`` → boxes ``(F, 4)`` (x0, y0, x1, y1) as fractions of the frame.

    From the mask's moments, not its extreme pixels: an ellipse's box is its centroid ± 2 standard
    deviations per axis, and averaging over every mask pixel moves it smoothly by fractions of a pixel
    (a 1.4-pixel nod is visible), where the extreme pixels would jump a whole pixel at a time.
    """
    f, h, w = face_mask.shape
    boxes = np.zeros((f, 4), np.float32)
    for i, m in enumerate(face_mask):
        ys, xs = np.nonzero(m)
        if len(ys):
            cx, cy = (xs.mean() + 0.5) / w, (ys.mean() + 0.5) / h
            rx, ry = 2 * xs.std() / w + 0.5 / w, 2 * ys.std() / h + 0.5 / h
            boxes[i] = (cx - rx, cy - ry, cx + rx, cy + ry)
    return boxes


def render_set(specs: list[ClipSpec], world, progress: bool = False) -> dict[str, np.ndarray]:
    """Render ``specs`` into arrays: video uint8 ``(N, F, H, W, 3)``, references, mouth, boxes, labels."""
    from tqdm.auto import tqdm

    out: dict[str, list] = {k: [] for k in ("video", "reference", "mouth", "box", "audio", "captions")}
    out["labels"] = {k: [] for k in (*SCENE_FIELDS, *IDENTITY_FIELDS, "identity")}
    for spec in tqdm(specs, desc="render", disable=not progress, leave=False):
        clip = make_clip(spec, world)
        out["video"].append(np.round(clip.video * 255).astype(np.uint8))
        out["reference"].append(np.round(clip.reference * 255).astype(np.uint8))
        out["mouth"].append(clip.mouth)
        out["box"].append(face_boxes(clip.face_mask))
        out["audio"].append(clip.audio)
        out["captions"].append(clip.caption)
        for k in out["labels"]:
            out["labels"][k].append(clip.labels[k])
    data = {k: np.stack(v) for k, v in out.items() if k not in ("labels", "captions")}
    data["captions"] = out["captions"]
    data["labels"] = {k: np.asarray(v) for k, v in out["labels"].items()}
    return data


__all__ = ["SPLITS", "face_boxes", "judge_specs", "render_set"]

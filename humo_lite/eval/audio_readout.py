"""Is the lip law in the log-mels of a voice the model never heard? A linear read-out answers it.

Stage 2 learns, through the diffusion loss alone, to turn an audio window into a mouth opening. When it fails on
a new voice there are two suspects: the features (the voice moves the log-mels so far that the lip law can no
longer be read from them the way it was read from the training voices) or the learning (the model read the
training voices in a way that does not carry over). A **linear read-out** separates them: a ridge regression
from each video frame's log-mel context (its frame ± ``context`` frames, ``(2·context + 1) × 80`` numbers, the
core of HuMo's 8-frame window) to that frame's lip-law opening, fitted on the recordings of some voices and scored
on others (Pearson r over frames). If it reads a new voice about as well as the training voices' unseen sentences,
the information is there, and linearly so; what a trained model loses on that voice, it loses in learning.

``band_norm`` applies the shipped projector's band normalisation (:func:`humo_lite.models.audio.normalise_bands`)
to each recording first, so the same question can be asked of the input the projector really sees.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.audio import audio_features
from ..data.speech import bank_recording
from ..models.audio import normalise_bands
from ..presets import SAMPLES_PER_FRAME


def frame_contexts(features: np.ndarray, context: int = 2) -> np.ndarray:
    """``[F, C]`` per-frame features → ``[F, (2·context + 1)·C]``: each frame with ``context`` frames either side
    (zeros past the ends, as HuMo's windows are padded)."""
    if features.ndim != 2 or context < 0:
        raise ValueError(f"expected features [frames, channels] and context >= 0, got {features.shape} and {context}")
    padded = np.pad(features, ((context, context), (0, 0)))
    return np.concatenate([padded[i : i + len(features)] for i in range(2 * context + 1)], axis=1)


def recording_frames(key: str, context: int = 2, band_norm: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One bank recording as (frame contexts ``[F, (2·context + 1)·80]``, lip-law opening ``[F]``)."""
    audio = bank_recording(key)
    num_frames = len(audio) // SAMPLES_PER_FRAME
    mel, mouth = audio_features(audio[: num_frames * SAMPLES_PER_FRAME], num_frames)
    if band_norm:
        mel = normalise_bands(torch.from_numpy(mel)[None, :, None])[0, :, 0].numpy()
    return frame_contexts(mel, context), mouth


def _pairs(keys: list[str], context: int, band_norm: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    if not keys:
        raise ValueError("expected at least one recording key")
    return [recording_frames(k, context, band_norm) for k in keys]


def _predict(weights: np.ndarray, contexts: np.ndarray) -> np.ndarray:
    return np.c_[contexts, np.ones(len(contexts))] @ weights


def _fit(pairs: list[tuple[np.ndarray, np.ndarray]], ridge: float) -> np.ndarray:
    x, y = np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
    design = np.c_[x, np.ones(len(x))]
    return np.linalg.solve(design.T @ design + ridge * np.eye(design.shape[1]), design.T @ y)


def fit_readout(train_keys: list[str], context: int = 2, ridge: float = 1.0, band_norm: bool = False) -> np.ndarray:
    """The ridge regression's weights (the last one the bias) from ``train_keys``' frame contexts to their openings."""
    return _fit(_pairs(train_keys, context, band_norm), ridge)


def read_out(weights: np.ndarray, key: str, context: int = 2, band_norm: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One recording: (the read-out's opening per video frame, the lip law's)."""
    x, y = recording_frames(key, context, band_norm)
    return _predict(weights, x), y


def lip_law_readout(train_keys: list[str], test_keys: dict[str, list[str]], context: int = 2, ridge: float = 1.0,
                    band_norm: bool = False) -> dict:
    """Fit the read-out on ``train_keys``' recordings; score it on them and on each group of ``test_keys``
    (``{name: keys}``). Returns ``{"train": {...}, name: {...}}``, each ``{"r"`` (over all frames),
    ``"r_within_recording"`` (mean over recordings, as chapter 08's r within a clip), ``"frames", "recordings"}``,
    plus the settings."""
    train = _pairs(train_keys, context, band_norm)
    weights = _fit(train, ridge)

    def score(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
        preds, truth = [_predict(weights, x) for x, _ in pairs], [y for _, y in pairs]
        within = [np.corrcoef(p, t)[0, 1] for p, t in zip(preds, truth, strict=True) if t.std() > 0]
        return {"r": float(np.corrcoef(np.concatenate(preds), np.concatenate(truth))[0, 1]),
                "r_within_recording": float(np.mean(within)), "frames": int(sum(len(t) for t in truth)),
                "recordings": len(pairs)}

    out = {"train": score(train)} | {name: score(_pairs(keys, context, band_norm)) for name, keys in test_keys.items()}
    return {**out, "context": context, "ridge": ridge, "band_norm": band_norm}


__all__ = ["fit_readout", "frame_contexts", "lip_law_readout", "read_out", "recording_frames"]

"""Audio tokens: HuMo's ``AudioProjModel`` at our size, and how a DiT gets its audio modules (HuMo §3.3).

Paper: HuMo §3.3 ("audio cross-attention"); ``docs/paper_notes.md`` §3.3–§3.5. Upstream code it mirrors:
``AudioProjModel`` in HuMo's ``audio_proj.py`` and its use in ``model_humo.py``.

**The projector.** Every latent frame has one audio *window*: 8 video frames of features (its own 4 frames
± 2, :func:`humo_lite.data.audio.audio_windows`). HuMo flattens the window (8 frames × 5 Whisper layer
groups × 1280) and runs an MLP that ends in ``K = 16`` tokens, then a LayerNorm::

    window [8, C] → flatten [8·C] → Linear → ReLU → Linear → ReLU → Linear [K·W] → reshape [K, W] → LayerNorm(W)

We keep the shape exactly and shrink the widths: ``C = 80`` log-mel bands instead of Whisper's states, a
hidden width of 256 (HuMo 512) and tokens of width ``W`` (HuMo 1536, its DiT's width). The tokens are
computed **once per forward pass** and shared by every block's frame-local cross-attention
(:class:`humo_lite.models.attention.FrameLocalCrossAttention`), where latent frame ``f`` sees only its own
``K`` tokens.

**Band normalisation** (ours, off in HuMo's recipe; ``band_norm=True``). A voice the model never heard differs
from the training voices first in its average spectrum (its timbre, and the channel it was recorded through),
which HuMo's Whisper encoder has learned to look past and a small MLP over log-mels has not. With ``band_norm``
the projector first moves each band's mean over the clip's audible window frames to the clip's mean level over
all bands: the clip's average spectral *shape* is removed, its loudness and every change over time are kept
(the lip law reads loudness). All-zero frames (padding, reference frames, audio off) are left at zero, so the
nulls below are unchanged. Statistics are per clip, so a long clip generated window by window normalises each
window on its own audio, and one frame's tokens also depend on the clip's average spectrum (as HuMo's Whisper
features depend on the whole recording); the cross-attention itself stays frame-local.

**Nulls.** Reference frames get all-zero windows, and "audio off" (a guidance branch, or a sample trained
without audio) is all-zero windows for every frame. Because the MLP has biases and ends in a LayerNorm,
zeros become a fixed, learned set of "silent" tokens, not nothing — exactly as in HuMo's code.

:func:`add_audio` turns a stage-1 DiT into one with audio modules (projector + a cross-attention and its
LayerNorm in every block, output projections at zero): the new model's output is the old one's until
stage 2 trains them.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from ..data.audio import N_MELS, WINDOW

AUDIO_TOKENS = 16
"""Tokens per latent frame (HuMo's ``context_tokens``)."""


class AudioProjector(nn.Module):
    """Windows ``[B, F, window, features]`` → tokens ``[B, F, num_tokens, width]`` (HuMo's ``AudioProjModel``)."""

    def __init__(self, features: int = N_MELS, window: int = WINDOW, hidden: int = 256,
                 num_tokens: int = AUDIO_TOKENS, width: int = 64, band_norm: bool = False):
        super().__init__()
        for name, value in (("features", features), ("window", window), ("hidden", hidden),
                            ("num_tokens", num_tokens), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"AudioProjector: {name} must be a whole number >= 1, got {value!r}")
        if not isinstance(band_norm, bool):
            raise ValueError(f"AudioProjector: band_norm must be True or False, got {band_norm!r}")
        self.features, self.window, self.num_tokens, self.width = features, window, num_tokens, width
        self.band_norm = band_norm
        self.mlp = nn.Sequential(
            nn.Linear(window * features, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_tokens * width),
        )
        self.norm = nn.LayerNorm(width)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        expected = (self.window, self.features)
        if windows.ndim != 4 or tuple(windows.shape[2:]) != expected:
            raise ValueError(
                f"audio windows must be [B, frames, {self.window}, {self.features}] (one {self.window}-frame "
                f"window of {self.features} features per latent frame, humo_lite.data.audio.audio_windows); "
                f"got {tuple(windows.shape)}"
            )
        if self.band_norm:
            windows = normalise_bands(windows)
        flat = rearrange(windows, "b f w c -> b f (w c)")  # (B, F, window*features)
        tokens = rearrange(self.mlp(flat), "b f (k d) -> b f k d", k=self.num_tokens)  # (B, F, K, width)
        return self.norm(tokens)


def normalise_bands(windows: torch.Tensor) -> torch.Tensor:
    """Per clip, move each band's mean over the audible window frames to the clip's mean over all bands.

    ``windows``: ``[B, F, window, C]``. A window frame is audible unless all its ``C`` features are zero
    (padding, reference frames, audio off); those stay zero, and a clip with none is returned as it is.
    """
    audible = (windows != 0).any(dim=-1, keepdim=True).to(windows.dtype)  # (B, F, W, 1)
    count = audible.sum(dim=(1, 2)).clamp(min=1.0)  # (B, 1)
    band_mean = (windows * audible).sum(dim=(1, 2)) / count  # (B, C): the clip's average spectrum
    shift = band_mean - band_mean.mean(dim=-1, keepdim=True)  # its shape: the level over all bands kept
    return windows - shift[:, None, None, :] * audible


def audio_config(dim: int, num_tokens: int = AUDIO_TOKENS, hidden: int | None = None,
                 width: int | None = None, band_norm: bool = False) -> dict:
    """The DiT config entries that give it audio: ``conditions={"audio": width}`` and ``audio_projector``.

    Defaults scale with the DiT's width ``dim``: hidden ``max(64, dim)`` capped at 256, token width
    ``max(16, dim // 3)``."""
    hidden = hidden or min(256, max(64, dim))
    width = width or max(16, dim // 3)
    return {"conditions": {"audio": width},
            "audio_projector": {"features": N_MELS, "window": WINDOW, "hidden": hidden,
                                "num_tokens": num_tokens, "width": width, "band_norm": band_norm}}


def add_audio(transformer, num_tokens: int = AUDIO_TOKENS, hidden: int | None = None, width: int | None = None,
              band_norm: bool = False):
    """A copy of ``transformer`` (a :class:`~humo_lite.models.dit.HuMoLiteDiT` without audio) with HuMo's audio
    modules: the projector and, in every block, a frame-local cross-attention with its LayerNorm.

    Every existing weight is copied; the new cross-attentions' output projections are zero, so the new model
    gives exactly the old one's output (whatever the audio) until the audio modules are trained.
    """
    config = dict(transformer.config)
    if (config.get("conditions") or {}).get("audio") is not None:
        raise ValueError("this DiT already has audio modules (config conditions['audio'])")
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config.update(audio_config(config["dim"], num_tokens, hidden, width, band_norm))
    new = type(transformer)(**config)
    missing, unexpected = new.load_state_dict(transformer.state_dict(), strict=False)
    new_keys = [k for k in missing if not (k.startswith("audio_proj.") or ".cond_" in k)]
    if new_keys or unexpected:
        raise ValueError(f"add_audio: weights do not carry over (missing {new_keys[:3]}, unexpected {unexpected[:3]})")
    return new.to(next(transformer.parameters()).device)


__all__ = ["AUDIO_TOKENS", "AudioProjector", "add_audio", "audio_config", "normalise_bands"]

"""The VAE: Wan2.1's causal 3D VAE (diffusers ``AutoencoderKLWan``) at a tiny width.

Paper: HuMo §3.1 works in the latent space of Wan2.1's VAE (``docs/paper_notes.md`` §1.3): a causal 3D
convolutional autoencoder with stride [4, 8, 8] and 16 latent channels. Upstream code it mirrors:
Wan2.1's ``wan/modules/vae.py`` (``WanVAE``), HuMo's copy in ``humo/models/wan_modules/vae.py``, and
diffusers' ``AutoencoderKLWan`` — which we use *as is*, only smaller, so a checkpoint trained here is
a real ``AutoencoderKLWan`` folder.

What makes it a *video* VAE (and why clips have 4k+1 frames):

- It is **causal in time**. Frame 0 is encoded on its own; every following group of 4 frames becomes
  one latent frame, with a feature cache carrying the past into each group. So ``F`` frames give
  ``(F - 1) / 4 + 1`` latent frames, and a single image (``F = 1``) gives exactly one latent frame —
  which is how HuMo encodes its reference images (``docs/paper_notes.md`` §2.2).
- Our sizes: ``dim_mult`` of length 3 gives two 2x spatial downsamplings (4x, where Wan has 8x on
  480p video), and ``temperal_downsample=[True, True]`` two 2x temporal ones (4x, as Wan)::

      humo-nano   video [B, 3,  9, 16, 16]  ->  latents [B,  8, 3,  4,  4]
      humo-micro  video [B, 3, 17, 32, 32]  ->  latents [B, 16, 5,  8,  8]   (16 channels, as Wan's)
      humo-mini   video [B, 3, 33, 64, 64]  ->  latents [B, 16, 9, 16, 16]

- **Latent normalisation** follows Wan, not Stable Diffusion: no single ``scaling_factor`` but a
  per-channel mean and std stored in the config (``latents_mean`` / ``latents_std``), applied as
  ``(z - mean) / std`` after encoding and undone before decoding (diffusers' ``WanPipeline`` does the
  same). :func:`humo_lite.training.vae_training.fit_vae` measures them on training clips.
- **Training** follows Wan's recipe: an image VAE first, *inflated* into the video VAE, then video
  (:func:`humo_lite.training.vae_training.inflate_to_video`).

Public API: :func:`build_vae`, :func:`encode_video`, :func:`encode_image`, :func:`decode_latents`,
:func:`load_vae`, :func:`latent_shape`.
"""

from __future__ import annotations

import os

import torch
from diffusers import AutoencoderKLWan

from humo_lite.models.loading import check_component, check_local_folder
from humo_lite.presets import Preset, check_num_frames, get_preset

STAT_KEYS = ("latents_mean", "latents_std")
"""Config entries that training fills in (Wan's per-channel latent statistics); not part of the size."""


def vae_config(preset: str | Preset = "humo-micro", **overrides) -> dict:
    """The ``AutoencoderKLWan`` keyword arguments of a preset, with identity latent statistics.

    ``latents_mean = 0`` and ``latents_std = 1`` until training measures the real ones.
    """
    config = {**get_preset(preset).vae, **overrides}
    z_dim = config["z_dim"]
    config.setdefault("latents_mean", [0.0] * z_dim)
    config.setdefault("latents_std", [1.0] * z_dim)
    return config


def build_vae(preset: str | Preset = "humo-micro", **overrides) -> AutoencoderKLWan:
    """A freshly initialised ``AutoencoderKLWan`` at a preset's size (``humo-nano``/``-micro``/``-mini``).

    ``overrides`` replace single config entries, e.g. ``build_vae("humo-nano", base_dim=4)``.
    """
    vae = AutoencoderKLWan(**vae_config(preset, **overrides))
    return vae


def time_stride(vae: AutoencoderKLWan) -> int:
    """Temporal compression: 2 per ``True`` in ``temperal_downsample`` (Wan's spelling)."""
    return 2 ** sum(bool(t) for t in vae.config.temperal_downsample)


def space_stride(vae: AutoencoderKLWan) -> int:
    """Spatial compression: 2 per downsampling stage (``len(dim_mult) - 1`` of them)."""
    return 2 ** (len(vae.config.dim_mult) - 1)


def latent_shape(
    vae: AutoencoderKLWan, num_frames: int, height: int, width: int
) -> tuple[int, int, int, int]:
    """``(C, F', H', W')`` of the latents of a ``num_frames`` x ``height`` x ``width`` clip."""
    check_num_frames(num_frames)
    t, s = time_stride(vae), space_stride(vae)
    return vae.config.z_dim, (num_frames - 1) // t + 1, height // s, width // s


def _stats(vae: AutoencoderKLWan, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel latent mean and std from the config, shaped ``(1, C, 1, 1, 1)`` to broadcast."""
    mean = torch.tensor(vae.config.latents_mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1, 1)
    return mean, std


def check_video(vae: AutoencoderKLWan, video: torch.Tensor) -> None:
    """Raise a clear error unless ``video`` is ``[B, 3, F, H, W]`` in [-1, 1] that this VAE can encode."""
    if not isinstance(video, torch.Tensor):
        raise TypeError(
            f"video must be a torch.Tensor [B, 3, F, H, W] in [-1, 1], got {type(video).__name__}"
        )
    if video.ndim != 5:
        hint = " (a single image [B, 3, H, W]? use encode_image)" if video.ndim == 4 else ""
        raise ValueError(f"video must be 5-D [B, 3, F, H, W], got shape {tuple(video.shape)}{hint}")
    channels = vae.config.in_channels
    if video.shape[1] != channels:
        raise ValueError(
            f"video must have {channels} colour channels on dim 1 ([B, C, F, H, W]), got shape "
            f"{tuple(video.shape)}; frames stored as (F, H, W, 3) need einops.rearrange first"
        )
    check_num_frames(int(video.shape[2]))
    s = space_stride(vae)
    if video.shape[3] % s or video.shape[4] % s:
        raise ValueError(
            f"height and width must be multiples of {s} (the VAE's spatial stride), got "
            f"{video.shape[3]}x{video.shape[4]}"
        )
    if not torch.isfinite(video).all():
        raise ValueError("video contains NaN or infinity")
    lo, hi = float(video.min()), float(video.max())
    if lo < -1.001 or hi > 1.001:
        raise ValueError(
            f"video values must lie in [-1, 1] (x * 2 - 1 for frames in [0, 1]); got [{lo:.3g}, {hi:.3g}]"
        )


def check_latents(vae: AutoencoderKLWan, latents: torch.Tensor) -> None:
    """Raise a clear error unless ``latents`` is ``[B, z_dim, F', H', W']``."""
    if not isinstance(latents, torch.Tensor) or latents.ndim != 5:
        shape = tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        raise ValueError(f"latents must be a 5-D tensor [B, C, F', H', W'], got {shape}")
    if latents.shape[1] != vae.config.z_dim:
        raise ValueError(
            f"latents must have {vae.config.z_dim} channels (this VAE's z_dim), "
            f"got shape {tuple(latents.shape)}"
        )


def encode_video(
    vae: AutoencoderKLWan,
    video: torch.Tensor,
    sample: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Video ``[B, 3, F, H, W]`` in [-1, 1] (``F = 4k+1``) -> normalised latents ``[B, C, F', H', W']``.

    Uses the posterior mean (Wan's ``encode`` does too) unless ``sample=True`` (or a ``generator`` is
    given), which draws ``mean + std * eps``. The result is normalised with the config's
    ``latents_mean`` / ``latents_std``, so a trained VAE gives latents of roughly zero mean, unit std.
    """
    check_video(vae, video)
    posterior = vae.encode(video).latent_dist
    z = posterior.sample(generator=generator) if (sample or generator is not None) else posterior.mean
    mean, std = _stats(vae, z)
    return (z - mean) / std  # (B, C, F', H', W')


def encode_image(
    vae: AutoencoderKLWan, image: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Image ``[B, 3, H, W]`` in [-1, 1] -> one latent frame ``[B, C, 1, H', W']`` (a 1-frame video).

    HuMo encodes each reference image exactly like this (``docs/paper_notes.md`` §2.2).
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a 4-D tensor [B, 3, H, W] in [-1, 1], got {shape}")
    return encode_video(vae, image[:, :, None], sample=sample, generator=generator)


def decode_latents(vae: AutoencoderKLWan, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents ``[B, C, F', H', W']`` -> video ``[B, 3, 4(F'-1)+1, H, W]`` in [-1, 1]."""
    check_latents(vae, latents)
    mean, std = _stats(vae, latents)
    return vae.decode(latents * std + mean).sample  # (B, 3, F, H, W), clamped to [-1, 1] by diffusers


def _size_keys(config: dict) -> dict:
    """The config entries that decide the architecture (everything but the latent statistics)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items() if k not in STAT_KEYS}


def load_vae(path: str | os.PathLike, preset: str | Preset | None = None) -> AutoencoderKLWan:
    """Load a VAE folder (``config.json`` + safetensors), checking it against ``preset`` when given.

    Local folders and safetensors only (:func:`humo_lite.models.loading.check_local_folder`): a missing
    folder or file raises ``FileNotFoundError`` with the command that makes one, a truncated weights file
    a ``ValueError`` naming it, and a config that does not match the preset's ``vae`` entry a
    ``ValueError`` naming the entries.
    """
    path = check_local_folder(path, "VAE", make_it="train one with `humo-lite train vae --preset humo-micro "
                              f"--out {path}`")
    check_component(path, AutoencoderKLWan)  # config fields, shapes against the weights, finite values
    if preset is not None:
        preset = get_preset(preset)
        expected = _size_keys(preset.vae)
        found = AutoencoderKLWan.load_config(path)
        wrong = {k: (found.get(k), v) for k, v in expected.items() if found.get(k) != v}
        if wrong:
            lines = ", ".join(f"{k}: checkpoint {f!r} vs preset {e!r}" for k, (f, e) in wrong.items())
            raise ValueError(f"VAE at {path} does not match preset {preset.name!r}: {lines}")
    vae = AutoencoderKLWan.from_pretrained(path, use_safetensors=True)
    return vae.eval()

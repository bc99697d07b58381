"""Named presets: one registry for the world's size and the model's size.

Mirrors minGPT's ``gpt-nano`` beside the GPT-2 sizes and DiT's ``DiT-S/2`` registry: a preset is a
name you can type (``humo-nano``, ``humo-micro``, ``humo-mini``) that fixes every size that has to
agree across the library — clip resolution and length, and the widths of the VAE, text encoder and
DiT.

- ``humo-nano``: tests and CI's SMOKE runs; seconds.
- ``humo-micro``: the default; trains on a laptop CPU in minutes.
- ``humo-mini``: for a GPU.

HuMo itself trains 97-frame 480x832 clips at 25 fps (``docs/paper_notes.md`` §1.6); we keep 25 fps, 16 kHz
audio and the 4k+1 frame rule, and shrink the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FPS = 25
"""Video frame rate, as in HuMo (every clip is resampled to 25 fps)."""
SAMPLE_RATE = 16_000
"""Audio sample rate, as in HuMo (audio is loaded at 16 kHz for Whisper)."""
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
"""640 audio samples per video frame."""
VAE_TIME_STRIDE = 4
"""The causal VAE keeps frame 0 and compresses each following group of 4 frames to one latent frame."""


@dataclass(frozen=True)
class WorldConfig:
    """Size of the clips the toy world renders."""

    height: int = 32  # pixels
    width: int = 32  # pixels
    num_frames: int = 17  # video frames, always 4k+1 (the causal VAE's rule)
    fps: int = FPS
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self):
        check_num_frames(self.num_frames)
        if self.height < 8 or self.width < 8:
            raise ValueError(f"world size must be at least 8x8 pixels, got {self.height}x{self.width}")
        if self.fps != FPS or self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"humo_lite works at {FPS} fps and {SAMPLE_RATE} Hz (HuMo's rates)")

    @property
    def num_samples(self) -> int:
        """Audio samples that cover the clip exactly (640 per frame)."""
        return self.num_frames * SAMPLES_PER_FRAME

    @property
    def duration(self) -> float:
        """Clip length in seconds."""
        return self.num_frames / self.fps

    @property
    def num_latent_frames(self) -> int:
        """Latent frames after the causal VAE: (F - 1) / 4 + 1."""
        return num_latent_frames(self.num_frames)


@dataclass(frozen=True)
class Preset:
    """Every size that must agree across the library, under one name."""

    name: str
    world: WorldConfig
    dit: dict = field(default_factory=dict)  # the DiT's own sizes; its input widths come from the others
    vae: dict = field(default_factory=dict)  # keyword arguments of the VAE's config
    text_encoder: dict = field(default_factory=dict)  # keyword arguments of the text encoder's config

    def dit_config(self) -> dict:
        """The DiT's keyword arguments: its own sizes, plus the widths it must share with its inputs.

        ``in_channels`` is the VAE's ``z_dim`` (the DiT denoises the VAE's latents) and ``text_dim`` the
        text encoder's output width, so the three components cannot disagree.
        """
        return {**self.dit, "in_channels": self.vae["z_dim"], "text_dim": self.text_encoder["text_dim"]}


def check_num_frames(num_frames: int) -> int:
    """Return ``num_frames`` if it is 4k+1 (1, 5, 9, 13, 17, ...), else raise a clear error."""
    if not isinstance(num_frames, int) or num_frames < 1 or (num_frames - 1) % VAE_TIME_STRIDE:
        lower = max(1, (int(num_frames) - 1) // 4 * 4 + 1) if isinstance(num_frames, int) else 1
        raise ValueError(
            f"frame count must be 4k+1 (1, 5, 9, 13, 17, ...) so the causal VAE can compress it 4x in time; "
            f"got {num_frames!r} (nearest below: {lower}, above: {lower + 4})"
        )
    return num_frames


def num_latent_frames(num_frames: int) -> int:
    """Latent frames of a 4k+1-frame clip: frame 0 alone, then one per 4 frames."""
    return (check_num_frames(num_frames) - 1) // VAE_TIME_STRIDE + 1


PRESETS: dict[str, Preset] = {
    "humo-nano": Preset(
        "humo-nano",
        WorldConfig(height=16, width=16, num_frames=9),
        # latents 8 x 3 x 4 x 4 -> 3 x 2 x 2 tokens (+4 per reference frame)
        dit=dict(dim=32, num_layers=2, num_heads=2, ffn_dim=128),
        # AutoencoderKLWan: 3 stages -> 4x in space (Wan: 8x); temperal_downsample [True, True] -> 4x in time
        vae=dict(
            base_dim=8,
            z_dim=8,
            num_res_blocks=1,
            dim_mult=[1, 2, 2],
            temperal_downsample=[True, True],
            attn_scales=[],
            scale_factor_temporal=4,
            scale_factor_spatial=4,
        ),
        text_encoder=dict(dim=32, num_layers=1, num_heads=2, ffn_dim=64, text_dim=32, num_roles=3),
    ),
    "humo-micro": Preset(
        "humo-micro",
        WorldConfig(height=32, width=32, num_frames=17),
        # latents 16 x 5 x 8 x 8 -> 5 x 4 x 4 tokens (+16 per reference frame); 16 channels as Wan's
        dit=dict(dim=192, num_layers=6, num_heads=3, ffn_dim=768),
        vae=dict(
            base_dim=16,
            z_dim=16,
            num_res_blocks=1,
            dim_mult=[1, 2, 2],
            temperal_downsample=[True, True],
            attn_scales=[],
            scale_factor_temporal=4,
            scale_factor_spatial=4,
        ),
        text_encoder=dict(dim=64, num_layers=2, num_heads=4, ffn_dim=256, text_dim=64, num_roles=3),
    ),
    "humo-mini": Preset(
        "humo-mini",
        WorldConfig(height=64, width=64, num_frames=33),
        # latents 16 x 9 x 16 x 16 -> 9 x 8 x 8 tokens (+64 per reference frame)
        dit=dict(dim=384, num_layers=8, num_heads=6, ffn_dim=1536),
        vae=dict(
            base_dim=32,
            z_dim=16,
            num_res_blocks=2,
            dim_mult=[1, 2, 2],
            temperal_downsample=[True, True],
            attn_scales=[],
            scale_factor_temporal=4,
            scale_factor_spatial=4,
        ),
        text_encoder=dict(dim=128, num_layers=3, num_heads=4, ffn_dim=512, text_dim=64, num_roles=3),
    ),
}
DEFAULT_PRESET = "humo-micro"


def get_preset(name: str | Preset = DEFAULT_PRESET) -> Preset:
    """Look a preset up by name; a ``Preset`` passes through."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]

"""Models: the DiT (Wan2.1 block + HuMo's reference injection, HuMo §3.1/§3.3) and its Wan weight loader.

Upstream: Wan2.1 ``wan/modules/model.py`` and diffusers' ``transformer_wan.py`` (see each module)."""

from __future__ import annotations

from humo_lite.models.attention import (
    CONDITION_ATTENTION,
    CrossAttention,
    FrameLocalCrossAttention,
    SelfAttention,
    register_condition,
)
from humo_lite.models.dit import DiTBlock, DiTOutput, HuMoLiteDiT
from humo_lite.models.rope import RotaryEmbedding3D, apply_rope, grid_positions
from humo_lite.presets import Preset, get_preset


def build_dit(preset: Preset | str = "humo-micro", **overrides) -> HuMoLiteDiT:
    """A freshly initialised DiT at a preset's size (``humo-nano``, ``humo-micro``, ``humo-mini``).

    Its ``in_channels`` and ``text_dim`` come from the preset's VAE and text encoder
    (:meth:`~humo_lite.presets.Preset.dit_config`). ``overrides`` replace single config entries, e.g.
    ``build_dit("humo-nano", conditions={"audio": 32})``. An unknown preset name raises a clear error.
    """
    return HuMoLiteDiT(**{**get_preset(preset).dit_config(), **overrides})


__all__ = [
    "CONDITION_ATTENTION",
    "CrossAttention",
    "DiTBlock",
    "DiTOutput",
    "FrameLocalCrossAttention",
    "HuMoLiteDiT",
    "RotaryEmbedding3D",
    "SelfAttention",
    "apply_rope",
    "build_dit",
    "grid_positions",
    "register_condition",
]

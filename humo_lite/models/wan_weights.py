"""Load diffusers' ``WanTransformer3DModel`` (Wan2.1 text-to-video) weights into :class:`HuMoLiteDiT`.

This is the scale-up route of ``docs/design.md`` §1: the same module that trains from scratch on a CPU can start from a
real Wan2.1 checkpoint (HuMo-1.7B starts from Wan2.1-T2V-1.3B, ``docs/paper_notes.md`` §1.1). The mapping is one
table, :func:`wan_key_map`; the only non-renaming step is concatenating Wan's separate q/k/v (self-attention)
and k/v (cross-attention) weights into our fused ``qkv`` / ``kv`` linears.

Anything that does not match stops with an error that names the key: a config option we do not implement
(I2V image embedder, no q/k norm, ...), a missing or unexpected state-dict key, or a shape mismatch.

The reverse direction, :func:`export_wan` (``HuMoLiteDiT.to_wan()``), splits the fused weights again, so a
model trained here can be run by diffusers' Wan pipelines (without extra conditions, which Wan does not have).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping

import torch

# Wan config values humo_lite's DiT implements (Wan2.1 text-to-video); anything else is refused by name.
_REQUIRED_WAN_CONFIG = {
    "qk_norm": "rms_norm_across_heads",
    "cross_attn_norm": True,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "pos_embed_seq_len": None,
}


def _wan_defaults() -> dict:
    from diffusers import WanTransformer3DModel

    params = inspect.signature(WanTransformer3DModel.__init__).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


def dit_config_from_wan(wan_config: Mapping) -> dict:
    """Our DiT's config from a ``WanTransformer3DModel`` config; refuses unknown or unsupported keys."""
    defaults = _wan_defaults()
    unknown = [k for k in wan_config if not k.startswith("_") and k not in defaults]
    if unknown:
        raise ValueError(f"unknown Wan config key {unknown[0]!r} (known: {sorted(defaults)})")
    config = {**defaults, **{k: v for k, v in wan_config.items() if not k.startswith("_")}}
    for key, expected in _REQUIRED_WAN_CONFIG.items():
        if config[key] != expected:
            raise ValueError(
                f"Wan config key {key!r} = {config[key]!r} is not supported: humo_lite's DiT is Wan2.1 "
                f"text-to-video and expects {key!r} = {expected!r}"
            )
    return {
        "in_channels": config["in_channels"],
        "out_channels": config["out_channels"] or config["in_channels"],
        "dim": config["num_attention_heads"] * config["attention_head_dim"],
        "num_layers": config["num_layers"],
        "num_heads": config["num_attention_heads"],
        "ffn_dim": config["ffn_dim"],
        "text_dim": config["text_dim"],
        "freq_dim": config["freq_dim"],
        "patch_size": tuple(config["patch_size"]),
        "eps": config["eps"],
        "rope_max_positions": config["rope_max_seq_len"],
    }


def wan_config_from_dit(config: Mapping) -> dict:
    """The ``WanTransformer3DModel`` config of the same network as our DiT's ``config``."""
    if config.get("conditions"):
        raise ValueError(
            f"a DiT with extra conditions {sorted(config['conditions'])} has no "
            "WanTransformer3DModel equivalent"
        )
    if config.get("rope_theta", 10000.0) != 10000.0:
        raise ValueError(
            f"WanTransformer3DModel has a fixed RoPE theta 10000, got rope_theta={config['rope_theta']}"
        )
    return dict(
        patch_size=tuple(config["patch_size"]),
        num_attention_heads=config["num_heads"],
        attention_head_dim=config["dim"] // config["num_heads"],
        in_channels=config["in_channels"],
        out_channels=config.get("out_channels") or config["in_channels"],
        text_dim=config["text_dim"],
        freq_dim=config["freq_dim"],
        ffn_dim=config["ffn_dim"],
        num_layers=config["num_layers"],
        eps=config["eps"],
        rope_max_seq_len=config["rope_max_positions"],
    )


def wan_key_map(num_layers: int) -> dict[str, list[str]]:
    """Our state-dict key -> the Wan key(s) it is made of (several = concatenated along dim 0)."""
    top = {
        "patch_embed": "patch_embedding",
        "time_embed.0": "condition_embedder.time_embedder.linear_1",
        "time_embed.2": "condition_embedder.time_embedder.linear_2",
        "time_proj.1": "condition_embedder.time_proj",
        "text_embed.0": "condition_embedder.text_embedder.linear_1",
        "text_embed.2": "condition_embedder.text_embedder.linear_2",
        "head": "proj_out",
    }
    mapping = {f"{ours}.{p}": [f"{wan}.{p}"] for ours, wan in top.items() for p in ("weight", "bias")}
    mapping["head_modulation"] = ["scale_shift_table"]
    for i in range(num_layers):
        ours, wan = f"blocks.{i}.", f"blocks.{i}."
        for p in ("weight", "bias"):
            mapping[ours + f"self_attn.qkv.{p}"] = [wan + f"attn1.to_{x}.{p}" for x in "qkv"]
            mapping[ours + f"self_attn.out.{p}"] = [wan + f"attn1.to_out.0.{p}"]
            mapping[ours + f"norm_text.{p}"] = [wan + f"norm2.{p}"]
            mapping[ours + f"text_attn.q.{p}"] = [wan + f"attn2.to_q.{p}"]
            mapping[ours + f"text_attn.kv.{p}"] = [wan + f"attn2.to_{x}.{p}" for x in "kv"]
            mapping[ours + f"text_attn.out.{p}"] = [wan + f"attn2.to_out.0.{p}"]
            mapping[ours + f"ffn.0.{p}"] = [wan + f"ffn.net.0.proj.{p}"]
            mapping[ours + f"ffn.2.{p}"] = [wan + f"ffn.net.2.{p}"]
        for attn, wan_attn in (("self_attn", "attn1"), ("text_attn", "attn2")):
            for norm in ("norm_q", "norm_k"):
                mapping[ours + f"{attn}.{norm}.weight"] = [wan + f"{wan_attn}.{norm}.weight"]
        mapping[ours + "modulation"] = [wan + "scale_shift_table"]
    return mapping


def convert_wan_state_dict(wan_state: Mapping[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Rename (and fuse) a Wan state dict into ours; an unexpected or missing key is an error naming it."""
    mapping = wan_key_map(num_layers)
    used = {k for keys in mapping.values() for k in keys}
    unexpected = sorted(k for k in wan_state if k not in used)
    if unexpected:
        raise KeyError(
            f"unexpected key {unexpected[0]!r} in the Wan checkpoint ({len(unexpected)} unexpected in all); "
            f"humo_lite loads Wan2.1 text-to-video with {num_layers} blocks"
        )
    missing = sorted(k for k in used if k not in wan_state)
    if missing:
        raise KeyError(f"the Wan checkpoint is missing key {missing[0]!r} ({len(missing)} missing in all)")
    return {ours: torch.cat([wan_state[k] for k in keys], dim=0) for ours, keys in mapping.items()}


def to_wan_state_dict(state: Mapping[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Our state dict -> Wan's (the inverse of :func:`convert_wan_state_dict`: fused weights split again)."""
    mapping = wan_key_map(num_layers)
    missing = sorted(k for k in mapping if k not in state)
    if missing:
        raise KeyError(f"the DiT state dict is missing key {missing[0]!r} ({len(missing)} missing in all)")
    unexpected = sorted(k for k in state if k not in mapping)
    if unexpected:
        raise KeyError(f"key {unexpected[0]!r} has no WanTransformer3DModel equivalent")
    wan_state = {}
    for ours, wan_keys in mapping.items():
        for wan_key, part in zip(wan_keys, state[ours].chunk(len(wan_keys), dim=0), strict=True):
            wan_state[wan_key] = part.clone()
    return wan_state


def export_wan(dit):
    """Body of ``HuMoLiteDiT.to_wan``: a ``WanTransformer3DModel`` with the same weights."""
    from diffusers import WanTransformer3DModel

    wan = WanTransformer3DModel(**wan_config_from_dit(dit.config))
    wan.load_state_dict(to_wan_state_dict(dit.state_dict(), dit.config["num_layers"]), strict=True)
    return wan.to(dtype=dit.dtype, device=dit.device)


def load_wan(cls, wan, config: Mapping | None = None):
    """Body of ``HuMoLiteDiT.from_wan``; see there."""
    if isinstance(wan, (str, os.PathLike)):
        from diffusers import WanTransformer3DModel

        from humo_lite.models.loading import check_local_folder

        wan = WanTransformer3DModel.from_pretrained(check_local_folder(wan, "WanTransformer3DModel"),
                                                    use_safetensors=True)  # local, safetensors only
    if isinstance(wan, torch.nn.Module):
        config, wan_state = dict(wan.config), wan.state_dict()
    elif config is None:
        raise ValueError("from_wan(state_dict) needs config= (the WanTransformer3DModel config dict)")
    else:
        wan_state = wan
    dit_config = dit_config_from_wan(config)
    model = cls(**dit_config)
    state = convert_wan_state_dict(wan_state, dit_config["num_layers"])
    expected = model.state_dict()
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ValueError(
                f"shape mismatch for {key!r} (from Wan {wan_key_map(dit_config['num_layers'])[key]}): "
                f"checkpoint {tuple(value.shape)}, config expects {tuple(expected[key].shape)}"
            )
    model.load_state_dict(state, strict=True)
    return model

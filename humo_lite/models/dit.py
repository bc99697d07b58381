"""The DiT: Wan2.1's text-to-video transformer, written out for reading, with HuMo's reference injection.

Paper: HuMo §3.1 (backbone) and §3.3 (subject preservation); reference notes §1.2 and §2.2. Upstream code it
mirrors: ``WanModel`` / ``WanAttentionBlock`` / ``Head`` in Wan2.1's ``wan/modules/model.py`` and HuMo's
``model_humo.py``; diffusers' ``WanTransformer3DModel`` (``from_wan`` loads its weights, see
``wan_weights.py``, and the tests check that both give the same output).

One block, in Wan's order (``x`` are the tokens ``(B, L, D)``, ``m`` the block's modulation ``(B, 6, D)``):

1. ``x = x + gate_1 * SelfAttn(LN(x) * (1 + scale_1) + shift_1)``  (3D RoPE, q/k RMSNorm)
2. ``x = x + TextCrossAttn(LN_affine(x), text_ctx)``             (plain residual)
3. ``x = x + CondCrossAttn(LN_affine(x), cond_ctx)``              per registered condition (audio later)
4. ``x = x + gate_2 * FFN(LN(x) * (1 + scale_2) + shift_2)``      (GELU-tanh)

``m`` = one time projection shared by all blocks + a learned per-block offset (Wan's ``modulation``,
diffusers' ``scale_shift_table``). The head (final LN modulated by the time embedding, then a linear)
is zero-initialised, so a freshly built model predicts exactly zero.

Reference injection (HuMo-1.7B): clean ``ref_latents`` ``[B, C, R, H, W]`` are appended after the noisy
video latents on the time axis, ``[x_t ; ref]``; they take RoPE time positions ``F .. F+R-1``, share the
sample's timestep, and their outputs are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from einops import rearrange
from torch import nn

from humo_lite.models.attention import CrossAttention, SelfAttention, condition_class
from humo_lite.models.rope import RotaryEmbedding3D
from humo_lite.models.wan_weights import load_wan


def sinusoidal_embedding(timestep: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Wan's ``sinusoidal_embedding_1d``: ``[cos(t * f_k), sin(t * f_k)]``, ``f_k = max_period^(-k/half)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=timestep.device) / half)  # (half,)
    angles = timestep.float()[:, None] * freqs[None, :]  # (B, half)
    return torch.cat([angles.cos(), angles.sin()], dim=-1)  # (B, dim)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: ``x * (1 + scale) + shift``; x ``(B, L, D)``, shift and scale ``(B, 1, D)``."""
    return torch.addcmul(shift, x, 1 + scale)


class DiTBlock(nn.Module):
    """One Wan2.1 block, plus a slot of extra condition cross-attentions (HuMo's audio)."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, eps: float = 1e-6, conditions: dict | None = None):
        super().__init__()
        self.eps = eps
        self.self_attn = SelfAttention(dim, num_heads, eps)
        self.norm_text = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.text_attn = CrossAttention(dim, num_heads, ctx_dim=dim, eps=eps)
        conditions = conditions or {}
        self.cond_norm = nn.ModuleDict({n: nn.LayerNorm(dim, eps=eps) for n in conditions})
        self.cond_attn = nn.ModuleDict(
            {n: condition_class(n)(dim=dim, num_heads=num_heads, ctx_dim=c, eps=eps) for n, c in conditions.items()}
        )
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim))
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)  # learned per-block offset

    def forward(
        self,
        x: torch.Tensor,
        time_mod: torch.Tensor,
        text_ctx: torch.Tensor,
        rotations: torch.Tensor,
        grid: tuple[int, int, int],
        cond_ctx: dict[str, torch.Tensor],
        return_hidden: bool = False,
    ):
        """``x`` ``(B, L, D)``, ``time_mod`` ``(B, 6, D)``; with ``return_hidden`` also the tokens after step 3."""
        m = (self.modulation + time_mod).chunk(6, dim=1)  # 6 x (B, 1, D)
        shift_attn, scale_attn, gate_attn, shift_ffn, scale_ffn, gate_ffn = m
        ln = (x.shape[-1],)

        h = modulate(F.layer_norm(x, ln, eps=self.eps), shift_attn, scale_attn)  # (B, L, D)
        x = torch.addcmul(x, gate_attn, self.self_attn(h, rotations))  # gated residual
        x = x + self.text_attn(self.norm_text(x), text_ctx)  # plain residual
        for name, layer in self.cond_attn.items():
            if cond_ctx.get(name) is not None:  # a condition that is not given is skipped
                x = x + layer(self.cond_norm[name](x), cond_ctx[name], grid)  # plain residual
        hidden = x
        h = modulate(F.layer_norm(x, ln, eps=self.eps), shift_ffn, scale_ffn)  # (B, L, D)
        x = torch.addcmul(x, gate_ffn, self.ffn(h))  # gated residual
        return (x, hidden) if return_hidden else x


@dataclass
class DiTOutput(BaseOutput):
    """``sample``: the predicted velocity for the video frames ``[B, C, F, H, W]``.

    ``hidden_states``: with ``return_hidden_states=N``, the last N blocks' tokens after the condition
    cross-attentions (where HuMo's face-mask head reads), video tokens only, each ``[B, D, F, h, w]``.
    """

    sample: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None


class HuMoLiteDiT(ModelMixin, ConfigMixin):
    """Wan2.1 DiT with HuMo's reference-frame injection and pluggable condition cross-attentions.

    Config (``register_to_config``; saved by ``save_pretrained`` as JSON + safetensors):
        in_channels: latent channels of the VAE.  out_channels: predicted channels (default in_channels).
        dim: token width D.  num_layers: blocks.  num_heads: attention heads (head_dim = dim / num_heads).
        ffn_dim: hidden width of the FFN.  text_dim: width of the text encoder's tokens.
        freq_dim: width of the sinusoidal timestep embedding (Wan: 256).  patch_size: (t, h, w) patch.
        eps: LayerNorm / RMSNorm epsilon.  rope_max_positions, rope_theta: 3D RoPE table size and base.
        conditions: extra cross-attention conditions, name -> context width, e.g. ``{"audio": 64}``;
            each name must be registered in ``humo_lite.models.attention.CONDITION_ATTENTION``.
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        in_channels: int = 8,
        out_channels: int | None = None,
        dim: int = 128,
        num_layers: int = 4,
        num_heads: int = 2,
        ffn_dim: int = 512,
        text_dim: int = 64,
        freq_dim: int = 256,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        eps: float = 1e-6,
        rope_max_positions: int = 1024,
        rope_theta: float = 10000.0,
        conditions: dict[str, int] | None = None,
    ):
        super().__init__()
        out_channels = out_channels or in_channels
        self.patch_size = tuple(patch_size)
        self.patch_embed = nn.Conv3d(in_channels, dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.rope = RotaryEmbedding3D(dim // num_heads, rope_max_positions, rope_theta)
        self.text_embed = nn.Sequential(nn.Linear(text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim))
        self.time_embed = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_proj = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))  # shared by all blocks
        self.blocks = nn.ModuleList(
            [DiTBlock(dim, num_heads, ffn_dim, eps, conditions) for _ in range(num_layers)]
        )
        self.norm_out = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)
        self.head_modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)
        self.head = nn.Linear(dim, out_channels * math.prod(self.patch_size))
        self.gradient_checkpointing = False
        self._init_weights()

    def _init_weights(self):
        """Wan's ``init_weights``: Xavier linears, N(0, 0.02) embedding MLPs, zero head.

        Condition cross-attentions keep their own init (e.g. a zero output projection)."""
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear) and ".cond_attn." not in name:
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.patch_embed.weight.flatten(1))
        for module in [*self.text_embed, *self.time_embed]:
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(
        self,
        x_t: torch.Tensor,
        timestep: torch.Tensor | float,
        text_ctx: torch.Tensor,
        ref_latents: torch.Tensor | None = None,
        *,
        return_hidden_states: int = 0,
        return_dict: bool = True,
        **cond_ctx: torch.Tensor | None,
    ) -> DiTOutput | tuple:
        """Predict the flow-matching velocity (``noise - x_0``) for the video frames.

        Args:
            x_t: noisy video latents ``[B, C, F, H, W]``.
            timestep: ``1000 * sigma``, shape ``[B]`` or a scalar.
            text_ctx: text-encoder tokens ``[B, Lt, text_dim]``.
            ref_latents: clean reference latents ``[B, C, R, H, W]``; ``None`` or R = 0 means no image.
            return_hidden_states: also return the last N blocks' hidden states (see :class:`DiTOutput`).
            **cond_ctx: ``<name>_ctx=`` for each configured condition (e.g. ``audio_ctx``); a condition
                left out (or ``None``) is skipped.
        Returns:
            :class:`DiTOutput` (or the tuple ``(sample, hidden_states)`` with ``return_dict=False``).
        """
        batch, _, num_frames, height, width = x_t.shape
        conditions = self.config.conditions or {}
        for key in cond_ctx:
            if not key.endswith("_ctx") or key[: -len("_ctx")] not in conditions:
                raise TypeError(
                    f"unexpected argument {key!r}; this DiT's conditions take {[f'{c}_ctx' for c in conditions]}"
                )
        cond_ctx = {key[: -len("_ctx")]: value for key, value in cond_ctx.items()}
        pt, ph, pw = self.patch_size
        if num_frames % pt or height % ph or width % pw:
            raise ValueError(f"latent size {num_frames}x{height}x{width} is not divisible by patch {self.patch_size}")

        # 1. Reference frames go after the video on the time axis: [x_t ; ref].
        if ref_latents is not None and ref_latents.shape[2] > 0:
            if ref_latents.shape[:2] != x_t.shape[:2] or ref_latents.shape[3:] != x_t.shape[3:]:
                raise ValueError(f"ref_latents {tuple(ref_latents.shape)} do not match x_t {tuple(x_t.shape)} ")
            x_t = torch.cat([x_t, ref_latents.to(x_t.dtype)], dim=2)  # (B, C, F+R, H, W)
        grid = (x_t.shape[2] // pt, height // ph, width // pw)  # token grid (F', h, w), reference frames included
        num_video_tokens = (num_frames // pt) * grid[1] * grid[2]

        # 2. Patchify, positions, conditions.
        x = rearrange(self.patch_embed(x_t), "b d f h w -> b (f h w) d")  # (B, L, D)
        rotations = self.rope(*grid)  # (L, head_dim/2), complex; reference frames take positions F..F+R-1
        timestep = torch.as_tensor(timestep, device=x.device).reshape(-1).expand(batch)  # (B,)
        time_emb = self.time_embed(sinusoidal_embedding(timestep, self.config.freq_dim).to(x.dtype))  # (B, D)
        time_mod = rearrange(self.time_proj(time_emb), "b (six d) -> b six d", six=6)  # (B, 6, D)
        text_ctx = self.text_embed(text_ctx)  # (B, Lt, D)

        # 3. Blocks.
        hidden_states = []
        first_tapped = len(self.blocks) - return_hidden_states
        for i, block in enumerate(self.blocks):
            args = (x, time_mod, text_ctx, rotations, grid, cond_ctx, i >= first_tapped)
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                out = self._gradient_checkpointing_func(block, *args)
            else:
                out = block(*args)
            if i >= first_tapped:
                x, hidden = out
                video = hidden[:, :num_video_tokens]  # (B, L_video, D)
                hidden_states.append(rearrange(video, "b (f h w) d -> b d f h w", h=grid[1], w=grid[2]))
            else:
                x = out

        # 4. Head on the video tokens only (reference outputs are dropped), then unpatchify.
        x = x[:, :num_video_tokens]  # (B, L_video, D)
        shift, scale = (self.head_modulation + time_emb[:, None]).chunk(2, dim=1)  # 2 x (B, 1, D)
        x = self.head(modulate(self.norm_out(x), shift, scale))  # (B, L_video, pt*ph*pw*C)
        sample = rearrange(
            x,
            "b (f h w) (pt ph pw c) -> b c (f pt) (h ph) (w pw)",
            h=grid[1], w=grid[2], pt=pt, ph=ph, pw=pw,
        )  # (B, C, F, H, W)

        hidden_states = tuple(hidden_states) if return_hidden_states else None
        if not return_dict:
            return (sample, hidden_states)
        return DiTOutput(sample=sample, hidden_states=hidden_states)

    @classmethod
    def from_wan(cls, wan, config: dict | None = None) -> HuMoLiteDiT:
        """Build from diffusers' ``WanTransformer3DModel``: a model, a local folder, or a state dict + ``config``.

        The result gives the same output as the Wan model (``tests/test_dit.py`` checks it). A config option
        or a key that does not match raises an error that names it."""
        return load_wan(cls, wan, config)

    def describe(self) -> str:
        """One line: parameter count and sizes."""
        c = self.config
        conditions = ", ".join(f"{n} ({w})" for n, w in (c.conditions or {}).items()) or "none"
        return (
            f"{type(self).__name__}: {self.num_parameters() / 1e6:.2f}M parameters | dim {c.dim}, "
            f"{c.num_layers} blocks x {c.num_heads} heads of {c.dim // c.num_heads}, ffn {c.ffn_dim}, "
            f"patch {'x'.join(map(str, c.patch_size))}, {c.in_channels} latent channels, text {c.text_dim}, "
            f"conditions: {conditions}"
        )

    def __repr__(self) -> str:
        return self.describe() + "\n" + super().__repr__()

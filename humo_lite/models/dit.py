"""The DiT: Wan2.1's text-to-video transformer, written out for reading, with HuMo's reference injection.

Paper: HuMo §3.1 (backbone) and §3.3 (subject preservation); ``docs/paper_notes.md`` §1.2 and §2.2. Upstream code it
mirrors: ``WanModel`` / ``WanAttentionBlock`` / ``Head`` in Wan2.1's ``wan/modules/model.py`` and HuMo's
``model_humo.py``; diffusers' ``WanTransformer3DModel`` (``from_wan`` loads its weights, see
``wan_weights.py``, and the tests check that both give the same output).

One block, in Wan's order (``x`` are the tokens ``(B, L, D)``, ``m`` the block's modulation ``(B, 6, D)``):

1. ``x = x + gate_1 * SelfAttn(LN(x) * (1 + scale_1) + shift_1)``  (3D RoPE, q/k RMSNorm)
2. ``x = x + TextCrossAttn(LN_affine(x), text_ctx)``             (plain residual; padded text masked out)
3. ``x = x + CondCrossAttn(LN_affine(x), cond_ctx)``              per registered condition (HuMo's audio)
4. ``x = x + gate_2 * FFN(LN(x) * (1 + scale_2) + shift_2)``      (GELU-tanh)

``m`` = one time projection shared by all blocks + a learned per-block offset (Wan's ``modulation``,
diffusers' ``scale_shift_table``). The head (final LN modulated by the time embedding, then a linear)
is zero-initialised, so a freshly built model predicts exactly zero.

Reference injection (HuMo-1.7B): clean ``ref_latents`` ``[B, C, R, H, W]`` are appended after the noisy
video latents on the time axis, ``[x_t ; ref]``; they take RoPE time positions ``F .. F+R-1``, share the
sample's timestep, and their outputs are dropped. Config ``reference_position="before"`` puts them first
instead, ``[ref ; x_t]`` at positions ``0 .. R-1`` (the video after them): not HuMo, but chapter 03's
ablation, the layout of image-to-video models that *continue* their first frame.

Extension points for the later chapters:

- extra conditions: config ``conditions={"audio": width}`` adds step 3 with the class registered under that
  name (``attention.register_condition``; ``audio`` is HuMo's frame-local cross-attention, where each latent
  frame's tokens see only their own K audio tokens). Its output projection starts at zero, so adding it does
  not change the output. Forward takes ``audio_ctx=...`` (``<name>_ctx``).
- ``return_hidden_states=N`` returns the video tokens of the last N blocks after step 3, ``[B, D, F, h, w]``
  each: the input of HuMo's face-mask head (focus-by-predicting, §3.3; the paper uses the last 4 blocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.utils import BaseOutput
from einops import rearrange
from torch import nn

from humo_lite.models.attention import CrossAttention, SelfAttention, condition_class
from humo_lite.models.audio import AudioProjector
from humo_lite.models.loading import ModelMixin, StrictModelMixin  # noqa: F401  (ModelMixin: see loading.py)
from humo_lite.models.rope import RotaryEmbedding3D, grid_positions
from humo_lite.models.wan_weights import export_wan, load_wan


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

    def __init__(
        self, dim: int, num_heads: int, ffn_dim: int, eps: float = 1e-6, conditions: dict | None = None
    ):
        super().__init__()
        self.eps = eps
        self.self_attn = SelfAttention(dim, num_heads, eps)
        self.norm_text = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.text_attn = CrossAttention(dim, num_heads, ctx_dim=dim, eps=eps)
        # The slot of HuMo's audio cross-attention: one pre-norm (affine, as HuMo's ``norm1_audio``) and one
        # registered cross-attention per condition, in the order of the ``conditions`` config.
        conditions = conditions or {}
        self.cond_norm = nn.ModuleDict({n: nn.LayerNorm(dim, eps=eps) for n in conditions})
        self.cond_attn = nn.ModuleDict(
            {
                n: condition_class(n)(dim=dim, num_heads=num_heads, ctx_dim=c, eps=eps)
                for n, c in conditions.items()
            }
        )
        for name, layer in self.cond_attn.items():
            if not isinstance(getattr(layer, "out", None), nn.Linear):
                raise TypeError(
                    f"condition {name!r}: {type(layer).__name__} needs an output projection `out` "
                    f"(nn.Linear) "
                    f"that the DiT zero-initialises (see humo_lite.models.attention)"
                )
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(ffn_dim, dim)
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)  # learned per-block offset

    def forward(
        self,
        x: torch.Tensor,
        time_mod: torch.Tensor,
        text_ctx: torch.Tensor,
        text_mask: torch.Tensor | None,
        rotations: torch.Tensor,
        grid: tuple[int, int, int],
        cond_ctx: dict[str, torch.Tensor],
        return_hidden: bool = False,
    ):
        """``x`` ``(B, L, D)``, ``time_mod`` ``(B, 6, D)``; ``return_hidden``: also the tokens of step 3."""
        m = (self.modulation + time_mod).chunk(6, dim=1)  # 6 x (B, 1, D)
        shift_attn, scale_attn, gate_attn, shift_ffn, scale_ffn, gate_ffn = m
        ln = (x.shape[-1],)

        # 1. Self-attention, adaLN-modulated, gated residual.
        h = modulate(F.layer_norm(x, ln, eps=self.eps), shift_attn, scale_attn)  # (B, L, D)
        x = torch.addcmul(x, gate_attn, self.self_attn(h, rotations))  # (B, L, D)
        # 2. Text cross-attention, plain residual.
        x = x + self.text_attn(self.norm_text(x), text_ctx, grid, text_mask)  # (B, L, D)
        # 3. Extra conditions (HuMo's audio), plain residual; a condition that is not given is skipped.
        for name, layer in self.cond_attn.items():
            if cond_ctx.get(name) is not None:
                x = x + layer(self.cond_norm[name](x), cond_ctx[name], grid)  # (B, L, D)
        hidden = x  # where HuMo's face-mask head reads (§3.3 focus-by-predicting)
        # 4. FFN, adaLN-modulated, gated residual.
        h = modulate(F.layer_norm(x, ln, eps=self.eps), shift_ffn, scale_ffn)  # (B, L, D)
        x = torch.addcmul(x, gate_ffn, self.ffn(h))  # (B, L, D)
        return (x, hidden) if return_hidden else x


@dataclass
class DiTOutput(BaseOutput):
    """``sample``: the predicted velocity for the video frames ``[B, C, F, H, W]``.

    ``hidden_states``: with ``return_hidden_states=N``, the last N blocks' tokens after the condition
    cross-attentions (where HuMo's face-mask head reads), video tokens only, each ``[B, D, F, h, w]``.
    """

    sample: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None


REFERENCE_POSITIONS = ("after", "before")
"""Where reference frames go on the time axis: after the video (HuMo) or before it (the ablation)."""


def _check_reference_position(position: str) -> None:
    if position not in REFERENCE_POSITIONS:
        raise ValueError(f"reference_position must be 'after' (HuMo) or 'before', got {position!r}")


class HuMoLiteDiT(StrictModelMixin, ConfigMixin):
    """Wan2.1 DiT with HuMo's reference-frame injection and pluggable condition cross-attentions.

    Config (``register_to_config``; saved by ``save_pretrained`` as JSON + safetensors):
        in_channels: latent channels of the VAE.  out_channels: predicted channels (default in_channels).
        dim: token width D.  num_layers: blocks.  num_heads: attention heads (head_dim = dim / num_heads).
        ffn_dim: hidden width of the FFN.  text_dim: width of the text encoder's tokens.
        freq_dim: width of the sinusoidal timestep embedding (Wan: 256).  patch_size: (t, h, w) patch.
        eps: LayerNorm / RMSNorm epsilon.  rope_max_positions, rope_theta: 3D RoPE table size and base.
        conditions: extra cross-attention conditions, name -> context width, e.g. ``{"audio": 64}``;
            each name must be registered in ``humo_lite.models.attention.CONDITION_ATTENTION``.
        audio_projector: keyword arguments of :class:`~humo_lite.models.audio.AudioProjector` (HuMo's
            ``AudioProjModel``); with it, ``audio_ctx`` is the raw windows ``[B, F' + R, 8, 80]`` and the model
            turns them into tokens once per forward pass (:func:`humo_lite.models.audio.add_audio` sets both).
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
        reference_position: str = "after",
        audio_projector: dict | None = None,
    ):
        super().__init__()
        _check_reference_position(reference_position)
        out_channels = out_channels or in_channels
        self.patch_size = tuple(patch_size)
        self.patch_embed = nn.Conv3d(in_channels, dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.rope = RotaryEmbedding3D(dim // num_heads, rope_max_positions, rope_theta)
        self.text_embed = nn.Sequential(
            nn.Linear(text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim)
        )
        self.time_embed = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_proj = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))  # shared by all blocks
        self.blocks = nn.ModuleList(
            [DiTBlock(dim, num_heads, ffn_dim, eps, conditions) for _ in range(num_layers)]
        )
        self.audio_proj = AudioProjector(**audio_projector) if audio_projector else None  # windows -> tokens
        self.norm_out = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)
        self.head_modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)
        self.head = nn.Linear(dim, out_channels * math.prod(self.patch_size))
        self.gradient_checkpointing = False
        self._init_weights()

    def _init_weights(self):
        """Wan's ``init_weights``: Xavier linears, N(0, 0.02) embedding MLPs, zero head.

        Then every condition cross-attention's output projection is zeroed (HuMo's audio starts as identity:
        adding a condition leaves the model's output unchanged)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.xavier_uniform_(self.patch_embed.weight.flatten(1))
        for module in [*self.text_embed, *self.time_embed]:
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        for block in self.blocks:
            for layer in block.cond_attn.values():
                nn.init.zeros_(layer.out.weight)
                if layer.out.bias is not None:
                    nn.init.zeros_(layer.out.bias)

    def set_reference_position(self, position: str) -> HuMoLiteDiT:
        """Put reference frames ``"after"`` the video (HuMo) or ``"before"`` it (chapter 03's ablation): a config
        entry, so the saved model, the pipeline and the training task (which reads it) all place them alike.
        Set where the DiT is prepared for a stage, before its task is built. Returns the model."""
        _check_reference_position(position)
        self.register_to_config(reference_position=position)
        return self

    def _check_inputs(self, x_t, timestep, text_ctx, text_mask, ref_latents, cond_ctx) -> None:
        """Clear errors for inputs that do not fit this model, each saying what was expected."""
        c = self.config
        if x_t.ndim != 5:
            raise ValueError(f"x_t must be video latents [B, C, F, H, W], got shape {tuple(x_t.shape)}")
        batch, channels, frames, height, width = x_t.shape
        if channels != c.in_channels:
            raise ValueError(
                f"x_t has {channels} channels; this DiT expects in_channels={c.in_channels} latent channels "
                f"[B, {c.in_channels}, F, H, W]"
            )
        pt, ph, pw = self.patch_size
        if frames % pt or height % ph or width % pw:
            raise ValueError(
                f"latent size (frames x height x width) {frames}x{height}x{width} is not divisible by "
                f"the patch "
                f"{pt}x{ph}x{pw}; expected multiples of it"
            )
        if ref_latents is not None:
            expected = (batch, channels, "R", height, width)
            if (
                ref_latents.ndim != 5
                or ref_latents.shape[:2] != x_t.shape[:2]
                or ref_latents.shape[3:] != (height, width)
            ):
                raise ValueError(
                    f"ref_latents {tuple(ref_latents.shape)} do not match x_t: expected {expected}"
                )
        if text_ctx.ndim != 3 or text_ctx.shape[0] != batch or text_ctx.shape[2] != c.text_dim:
            raise ValueError(
                f"text_ctx must be [B, Lt, text_dim] = [{batch}, Lt, {c.text_dim}], "
                f"got {tuple(text_ctx.shape)}"
            )
        if text_mask is not None and (text_mask.dtype != torch.bool or text_mask.shape != text_ctx.shape[:2]):
            raise ValueError(
                f"text_mask must be a bool tensor [B, Lt] = {tuple(text_ctx.shape[:2])} (True = real token), "
                f"got {text_mask.dtype} {tuple(text_mask.shape)}"
            )
        if torch.is_tensor(timestep) and timestep.numel() not in (1, batch):
            raise ValueError(f"timestep must be a scalar or shape ({batch},), got {tuple(timestep.shape)}")
        conditions = c.conditions or {}
        for key in cond_ctx:
            if not key.endswith("_ctx") or key[: -len("_ctx")] not in conditions:
                raise TypeError(
                    f"unexpected argument {key!r}; this DiT's conditions take "
                    f"{[f'{n}_ctx' for n in conditions]}"
                )

    def forward(
        self,
        x_t: torch.Tensor,
        timestep: torch.Tensor | float,
        text_ctx: torch.Tensor,
        *,
        text_mask: torch.Tensor | None = None,
        ref_latents: torch.Tensor | None = None,
        return_hidden_states: int = 0,
        return_dict: bool = True,
        **cond_ctx: torch.Tensor | None,
    ) -> DiTOutput | tuple:
        """Predict the flow-matching velocity (``noise - x_0``) for the video frames.

        Args:
            x_t: noisy video latents ``[B, C, F, H, W]``.
            timestep: ``1000 * sigma``, shape ``(B,)`` or a scalar; reference frames use the same one.
            text_ctx: text-encoder tokens ``[B, Lt, text_dim]``.
            text_mask: ``[B, Lt]`` bool, True = real token; padded text keys are masked out (None: all real).
            ref_latents: clean reference latents ``[B, C, R, H, W]``; ``None`` or R = 0 means no image.
            return_hidden_states: N > 0 also returns the last N blocks' video tokens after the condition
                cross-attentions (for the face-mask head; see :class:`DiTOutput`).
            **cond_ctx: ``<name>_ctx=`` for each configured condition (e.g. ``audio_ctx``), in the layout its
                registered class expects; a condition left out (or ``None``) is skipped.
        Returns:
            :class:`DiTOutput` (or the tuple ``(sample, hidden_states)`` with ``return_dict=False``).
        """
        self._check_inputs(x_t, timestep, text_ctx, text_mask, ref_latents, cond_ctx)
        cond_ctx = {key[: -len("_ctx")]: value for key, value in cond_ctx.items()}

        # 1. Reference frames join the video on the time axis: [x_t ; ref] (HuMo §3.3).
        x_t, grid, video = self._join_references(x_t, ref_latents)  # (B, C, F+R, H, W), (F'+R', h, w), video tokens

        # 2. Patchify, positions, time and text embeddings.
        x = rearrange(self.patch_embed(x_t), "b d f h w -> b (f h w) d")  # (B, L, D)
        positions = grid_positions(*grid, device=x.device)  # (L, 3); reference frames: times F'..F'+R'-1
        rotations = self.rope(positions)  # (L, head_dim/2), complex
        timestep = torch.as_tensor(timestep, device=x.device).reshape(-1).expand(len(x))  # (B,)
        time_emb = self.time_embed(sinusoidal_embedding(timestep, self.config.freq_dim).to(x.dtype))  # (B, D)
        time_mod = rearrange(self.time_proj(time_emb), "b (six d) -> b six d", six=6)  # (B, 6, D)
        text_ctx = self.text_embed(text_ctx)  # (B, Lt, D)
        if self.audio_proj is not None and cond_ctx.get("audio") is not None:  # HuMo: once, shared by all blocks
            cond_ctx["audio"] = self.audio_proj(cond_ctx["audio"].to(x.dtype))  # (B, F'+R, K, W)

        # 3. Blocks.
        x, hidden_states = self._run_blocks(x, time_mod, text_ctx, text_mask, rotations, grid, cond_ctx, video,
                                            return_hidden_states)

        # 4. Head on the video tokens only (reference outputs are dropped), then unpatchify.
        sample = self._head(x[:, video], time_emb, grid)  # (B, C, F, H, W)
        hidden_states = tuple(hidden_states) if return_hidden_states else None
        if not return_dict:
            return (sample, hidden_states)
        return DiTOutput(sample=sample, hidden_states=hidden_states)

    def _join_references(self, x_t: torch.Tensor, ref_latents: torch.Tensor | None) -> tuple:
        """``[x_t ; ref]`` on the time axis (``[ref ; x_t]`` with ``reference_position="before"``, the ablation).

        Returns the joined latents ``[B, C, F+R, H, W]``, the token grid ``(F'+R', h, w)`` and the slice of the
        token sequence that is the video's."""
        num_frames, height, width = x_t.shape[2:]
        pt, ph, pw = self.patch_size
        first = self.config.reference_position == "before"  # the ablation: [ref ; x_t]
        if ref_latents is not None and ref_latents.shape[2] > 0:
            parts = [ref_latents.to(x_t.dtype), x_t] if first else [x_t, ref_latents.to(x_t.dtype)]
            x_t = torch.cat(parts, dim=2)  # (B, C, F+R, H, W)
        grid = (x_t.shape[2] // pt, height // ph, width // pw)  # token grid (F'+R', h, w)
        num_video_tokens = (num_frames // pt) * grid[1] * grid[2]
        total = grid[0] * grid[1] * grid[2]
        video = slice(total - num_video_tokens, total) if first else slice(0, num_video_tokens)  # the video's tokens
        return x_t, grid, video

    def _run_blocks(self, x, time_mod, text_ctx, text_mask, rotations, grid, cond_ctx, video: slice,
                    return_hidden_states: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Every block in turn on the tokens ``x`` ``[B, L, D]`` (gradient-checkpointed when enabled while
        training). The last ``return_hidden_states`` blocks also give their video tokens, ``[B, D, F', h, w]``."""
        hidden_states = []
        first_tapped = len(self.blocks) - return_hidden_states
        for i, block in enumerate(self.blocks):
            args = (x, time_mod, text_ctx, text_mask, rotations, grid, cond_ctx, i >= first_tapped)
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                out = self._gradient_checkpointing_func(block, *args)
            else:
                out = block(*args)
            if i >= first_tapped:
                x, hidden = out
                tokens = hidden[:, video]  # (B, L_video, D)
                hidden_states.append(rearrange(tokens, "b (f h w) d -> b d f h w", h=grid[1], w=grid[2]))
            else:
                x = out
        return x, hidden_states

    def _head(self, x: torch.Tensor, time_emb: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """The video tokens ``[B, L_video, D]`` → the velocity ``[B, C, F, H, W]``: modulated norm, linear head,
        unpatchify."""
        pt, ph, pw = self.patch_size
        shift, scale = (self.head_modulation + time_emb[:, None]).chunk(2, dim=1)  # 2 x (B, 1, D)
        x = self.head(modulate(self.norm_out(x), shift, scale))  # (B, L_video, pt*ph*pw*C)
        return rearrange(
            x, "b (f h w) (pt ph pw c) -> b c (f pt) (h ph) (w pw)", h=grid[1], w=grid[2], pt=pt, ph=ph, pw=pw
        )  # (B, C, F, H, W)

    @classmethod
    def from_wan(cls, wan, config: dict | None = None) -> HuMoLiteDiT:
        """Build from diffusers' ``WanTransformer3DModel``: a model, a local folder or a state dict.

        The result gives the same output as the Wan model (``tests/test_wan_parity.py`` checks it). A config
        option or a key that does not match raises an error that names it."""
        return load_wan(cls, wan, config)

    def to_wan(self):
        """The same network as a diffusers ``WanTransformer3DModel`` (only without extra conditions)."""
        return export_wan(self)

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

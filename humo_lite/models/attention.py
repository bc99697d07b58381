"""Attention layers of the DiT block, and the registry of pluggable condition cross-attentions.

Paper: HuMo §3.1 (Wan2.1 backbone) and §3.3 (audio cross-attention, Eq. 2); ``docs/paper_notes.md`` §1.2 and §3.4.
Upstream code mirrored: ``WanSelfAttention`` / ``WanT2VCrossAttention`` and the
``WAN_CROSSATTENTION_CLASSES`` dict of Wan2.1's ``wan/modules/model.py``; ``WanT2VCrossAttentionGather`` of
HuMo's ``model_humo.py`` (frame-local audio attention); diffusers' ``WanAttention`` + ``WanAttnProcessor`` in
``transformer_wan.py``. Both attentions normalise q and k with an RMSNorm across the full width (all heads
at once, Wan's ``rms_norm_across_heads``)
before splitting heads; only self-attention gets 3D RoPE.

One deliberate difference from Wan's code, for speed only: self-attention computes q, k and v with one fused
``qkv`` linear, cross-attention k and v with one fused ``kv`` linear (``from_wan`` concatenates Wan's
separate weights; the maths is identical).

Extra conditions (HuMo's audio) plug in through :data:`CONDITION_ATTENTION`: a condition name maps to a
cross-attention class. The contract for such a class (checked when a block builds it):

- built as ``cls(dim=D, num_heads=..., ctx_dim=<the condition's width>, eps=...)``;
- called as ``layer(x, ctx, grid)`` with the tokens ``x`` ``(B, L, D)``, the condition's tokens ``ctx`` and
  the token grid ``(F + R, h, w)`` (video and reference frames), returning ``(B, L, D)``;
- has an output projection ``out`` (``nn.Linear``) that the DiT zero-initialises, so adding a condition to a
  trained model leaves its output unchanged until the condition is trained.

``audio`` is registered by default as :class:`FrameLocalCrossAttention`: HuMo's layer, in which each latent
frame's tokens attend only to that frame's K audio tokens. A later module may replace it with
``register_condition("audio", cls, replace=True)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from humo_lite.models.rope import apply_rope


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, key_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Multi-head scaled dot-product attention; q ``(B, Lq, D)``, k and v ``(B, Lk, D)`` -> ``(B, Lq, D)``.

    ``key_mask`` ``(B, Lk)`` bool, True = a real key. A query whose keys are all masked gets zeros (it attends
    to nothing) instead of the NaN of a softmax over nothing.
    """
    q, k, v = (rearrange(t, "b l (n d) -> b n l d", n=num_heads) for t in (q, k, v))  # (B, heads, L, hd)
    attn_mask, empty = None, None
    if key_mask is not None and not bool(key_mask.all()):
        empty = ~key_mask.any(dim=1)  # (B,) samples with no real key
        attn_mask = (key_mask | empty[:, None])[
            :, None, None, :
        ]  # (B, 1, 1, Lk), broadcast over heads, queries
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, heads, Lq, hd)
    out = rearrange(out, "b n l d -> b l (n d)")  # (B, Lq, D)
    if empty is not None and bool(empty.any()):
        out = out.masked_fill(empty[:, None, None], 0.0)
    return out


def attention_weights(q: torch.Tensor, k: torch.Tensor, num_heads: int) -> torch.Tensor:
    """The softmax weights :func:`attention` mixes values with: ``q (B, Lq, D)``, ``k (B, Lk, D)`` →
    ``(B, heads, Lq, Lk)``, each row summing to 1. For looking at attention (chapter 03), not for the forward
    pass, which never forms this matrix."""
    q, k = (rearrange(t, "b l (n d) -> b n l d", n=num_heads) for t in (q, k))  # (B, heads, L, hd)
    return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)


class SelfAttention(nn.Module):
    """Full 3D self-attention over all tokens (video and reference frames), with q/k RMSNorm and 3D RoPE."""

    def __init__(self, dim: int, num_heads: int, eps: float = 1e-6):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.norm_q = nn.RMSNorm(dim, eps=eps)  # across all heads, as Wan
        self.norm_k = nn.RMSNorm(dim, eps=eps)
        self.out = nn.Linear(dim, dim)

    def project(self, x: torch.Tensor, rotations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys (normalised, rotated) and values, each ``(B, L, D)``: what the attention compares."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 x (B, L, D)
        q = apply_rope(self.norm_q(q), rotations, self.num_heads)  # (B, L, D)
        k = apply_rope(self.norm_k(k), rotations, self.num_heads)
        return q, k, v

    def forward(self, x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, L, D)``, ``rotations`` ``(L, head_dim/2)`` complex from :class:`RotaryEmbedding3D`."""
        q, k, v = self.project(x, rotations)
        return self.out(attention(q, k, v, self.num_heads))  # (B, L, D)


class CrossAttention(nn.Module):
    """Tokens attend to a context (text tokens, or a registered condition's tokens); no RoPE.

    ``ctx_dim`` is the context's width (``dim`` for text, already embedded by the model's text MLP).
    """

    def __init__(self, dim: int, num_heads: int, ctx_dim: int | None = None, eps: float = 1e-6):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(ctx_dim or dim, 2 * dim)
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        ctx: torch.Tensor,
        grid: tuple[int, int, int] | None = None,
        ctx_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x`` ``(B, L, D)``, ``ctx`` ``(B, Lc, ctx_dim)``, ``ctx_mask`` ``(B, Lc)`` bool (True: real).

        ``grid`` (the token grid) is unused by full cross-attention; it is part of the condition contract.
        """
        q = self.norm_q(self.q(x))  # (B, L, D)
        k, v = self.kv(ctx).chunk(2, dim=-1)  # 2 x (B, Lc, D)
        return self.out(attention(q, self.norm_k(k), v, self.num_heads, ctx_mask))  # (B, L, D)


class FrameLocalCrossAttention(CrossAttention):
    """HuMo's audio cross-attention (§3.3 Eq. 2, ``WanT2VCrossAttentionGather``): frame-by-frame.

    The tokens of latent frame ``f`` attend only to the ``K`` context tokens of frame ``f``; no RoPE, no mask.
    ``ctx`` is ``(B, F + R, K, ctx_dim)`` or flat ``(B, (F + R) * K, ctx_dim)``: one group of K tokens for
    every frame of the token grid, reference frames included (HuMo gives them zero audio windows).
    """

    def forward(
        self, x: torch.Tensor, ctx: torch.Tensor, grid: tuple[int, int, int], ctx_mask=None
    ) -> torch.Tensor:
        frames = grid[0]
        if ctx.ndim == 3:
            if ctx.shape[1] % frames:
                raise ValueError(
                    f"frame-local context has {ctx.shape[1]} tokens, not a multiple of the {frames} "
                    f"frames of the token grid {tuple(grid)} "
                    f"(expected (B, frames * K, ctx_dim) or (B, frames, K, ctx_dim))"
                )
            ctx = rearrange(ctx, "b (f k) c -> b f k c", f=frames)  # (B, F+R, K, ctx_dim)
        if ctx.ndim != 4 or ctx.shape[1] != frames:
            raise ValueError(
                f"frame-local context of shape {tuple(ctx.shape)} does not match the {frames} frames "
                f"of the token grid {tuple(grid)}; expected (B, {frames}, K, ctx_dim)"
            )
        q = rearrange(self.norm_q(self.q(x)), "b (f l) d -> (b f) l d", f=frames)  # (B*(F+R), h*w, D)
        k, v = self.kv(rearrange(ctx, "b f k c -> (b f) k c")).chunk(2, dim=-1)  # 2 x (B*(F+R), K, D)
        out = attention(q, self.norm_k(k), v, self.num_heads)  # (B*(F+R), h*w, D)
        return self.out(rearrange(out, "(b f) l d -> b (f l) d", f=frames))  # (B, L, D)


class AllFramesCrossAttention(CrossAttention):
    """The ablation of :class:`FrameLocalCrossAttention`: the same weights, but every token attends to the audio
    tokens of **all** frames (plain cross-attention over ``(B, F + R, K, ctx_dim)`` flattened). What one frame
    hears then leaks into every other frame's tokens (chapter 04 shows it)."""

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, grid: tuple[int, int, int], ctx_mask=None) -> torch.Tensor:
        flat = rearrange(ctx, "b f k c -> b (f k) c") if ctx.ndim == 4 else ctx  # (B, (F+R)*K, ctx_dim)
        return super().forward(x, flat, grid)


CONDITION_ATTENTION: dict[str, type[nn.Module]] = {}
"""Condition name -> cross-attention class (Wan2.1's ``WAN_CROSSATTENTION_CLASSES``)."""


def register_condition(name: str, cls: type[nn.Module], replace: bool = False) -> type[nn.Module]:
    """Make ``name`` usable in the DiT's ``conditions`` config (and as ``<name>_ctx=`` in forward).

    Registering a name twice with different classes is an error unless ``replace=True``. Returns ``cls``.
    """
    if not name.isidentifier():
        raise ValueError(
            f"condition name must be a Python identifier (it becomes '{name}_ctx'), got {name!r}"
        )
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"condition {name!r}: expected an nn.Module subclass, got {cls!r}")
    if CONDITION_ATTENTION.get(name, cls) is not cls and not replace:
        raise ValueError(
            f"condition {name!r} is already registered as {CONDITION_ATTENTION[name].__name__}; "
            f"pass replace=True to replace it with {cls.__name__}"
        )
    CONDITION_ATTENTION[name] = cls
    return cls


def condition_class(name: str) -> type[nn.Module]:
    """The registered class for ``name``, or a clear error saying what is registered."""
    if name not in CONDITION_ATTENTION:
        raise KeyError(
            f"no cross-attention class registered for condition {name!r}; registered: "
            f"{sorted(CONDITION_ATTENTION)}. Import the module that registers it (register_condition) first."
        )
    return CONDITION_ATTENTION[name]


register_condition("audio", FrameLocalCrossAttention)

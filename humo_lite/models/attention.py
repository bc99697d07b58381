"""Attention layers of the DiT block, and the registry of pluggable condition cross-attentions.

Mirrors ``WanSelfAttention`` / ``WanT2VCrossAttention`` and the ``WAN_CROSSATTENTION_CLASSES`` dict of
Wan2.1's ``wan/modules/model.py`` (diffusers: ``WanAttention`` + ``WanAttnProcessor``). Both attentions
normalise q and k with an RMSNorm across the full width (all heads at once, Wan's
``rms_norm_across_heads``) before splitting heads; only self-attention gets 3D RoPE.

One deliberate difference from Wan's code, for speed only: self-attention computes q, k and v with one fused
``qkv`` linear, cross-attention k and v with one fused ``kv`` linear (``from_wan`` concatenates Wan's
separate weights; the maths is identical).

HuMo adds one more cross-attention per block, for audio (HuMo §3.3, reference notes §3.4). Extra conditions
plug in through :data:`CONDITION_ATTENTION`: a condition name maps to a cross-attention class, built by the
block as ``cls(dim=..., num_heads=..., ctx_dim=..., eps=...)`` and called as ``layer(x, ctx, grid)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from humo_lite.models.rope import apply_rope


def multi_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Scaled dot-product attention over ``num_heads`` heads; q ``(B, Lq, D)``, k and v ``(B, Lk, D)``."""
    q, k, v = (rearrange(t, "b l (n d) -> b n l d", n=num_heads) for t in (q, k, v))  # (B, heads, L, hd)
    out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, Lq, hd)
    return rearrange(out, "b n l d -> b l (n d)")  # (B, Lq, D)


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

    def forward(self, x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, L, D)``, ``rotations`` ``(L, head_dim/2)`` complex from :class:`RotaryEmbedding3D`."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 x (B, L, D)
        q, k = self.norm_q(q), self.norm_k(k)
        q, k = (rearrange(t, "b l (n d) -> b l n d", n=self.num_heads) for t in (q, k))  # (B, L, heads, hd)
        q, k = apply_rope(q, rotations), apply_rope(k, rotations)
        q, k = (rearrange(t, "b l n d -> b l (n d)") for t in (q, k))  # (B, L, D)
        return self.out(multi_head_attention(q, k, v, self.num_heads))  # (B, L, D)


class CrossAttention(nn.Module):
    """Tokens attend to a context (text tokens, or a registered condition's tokens); no RoPE.

    ``ctx_dim`` is the context's width (``dim`` for text, already embedded by the model's text MLP).
    ``zero_init=True`` zeroes the output projection so that a newly added condition starts as identity.
    """

    def __init__(self, dim: int, num_heads: int, ctx_dim: int | None = None, eps: float = 1e-6, zero_init=False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(ctx_dim or dim, 2 * dim)
        self.norm_q = nn.RMSNorm(dim, eps=eps)
        self.norm_k = nn.RMSNorm(dim, eps=eps)
        self.out = nn.Linear(dim, dim)
        if zero_init:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        """``x`` ``(B, L, D)``, ``ctx`` ``(B, Lc, ctx_dim)``; ``grid`` (token grid) is unused by full attention."""
        q = self.norm_q(self.q(x))  # (B, L, D)
        k, v = self.kv(ctx).chunk(2, dim=-1)  # 2 x (B, Lc, D)
        k = self.norm_k(k)
        return self.out(multi_head_attention(q, k, v, self.num_heads))  # (B, L, D)


CONDITION_ATTENTION: dict[str, type[nn.Module]] = {}
"""Condition name -> cross-attention class (Wan2.1's ``WAN_CROSSATTENTION_CLASSES``). Audio registers here."""


def register_condition(name: str, cls: type[nn.Module]) -> type[nn.Module]:
    """Make ``name`` usable in the DiT's ``conditions`` config; returns ``cls`` (usable as a decorator body)."""
    if not name.isidentifier():
        raise ValueError(f"condition name must be a Python identifier (it becomes '{name}_ctx'), got {name!r}")
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

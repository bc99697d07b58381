"""3D rotary position embedding (RoPE) over (frame, height, width), as in Wan2.1.

Mirrors ``rope_params`` / ``rope_apply`` in Wan2.1's ``wan/modules/model.py`` and ``WanRotaryPosEmbed`` in
diffusers' ``transformer_wan.py``. Each attention head of width ``head_dim`` is split into three groups of
channel pairs: the height and width groups get ``2 * (head_dim // 6)`` channels each, time gets the rest
(HuMo-1.7B, head_dim 128: 44 time + 42 height + 42 width; ``docs/paper_notes.md`` §2.2). Channel pair
``(x[2j], x[2j+1])`` is rotated by the angle ``position * theta ** (-2j / group_width)``, with ``position``
the token's frame, row or column index on the token grid.

HuMo's reference frames (§3.3) need nothing special here: they are frames ``F .. F+R-1`` of the grid, so
they take the next time positions after the video.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """Channels of one head given to (time, height, width), as in Wan: h = w = 2 * (head_dim // 6)."""
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"3D RoPE needs an even head_dim >= 6, got {head_dim}")
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def grid_positions(num_frames: int, height: int, width: int, device=None) -> torch.Tensor:
    """Integer (frame, row, column) of every token, frame-major like the patch embedding: ``(L, 3)``."""
    f, h, w = torch.meshgrid(
        torch.arange(num_frames, device=device),
        torch.arange(height, device=device),
        torch.arange(width, device=device),
        indexing="ij",
    )
    return torch.stack([f, h, w], dim=-1).reshape(-1, 3)  # (L, 3) with L = F*H*W


class RotaryEmbedding3D(nn.Module):
    """Precomputed rotation angles; ``forward(grid)`` returns the per-token rotations as complex numbers."""

    def __init__(self, head_dim: int, max_positions: int = 1024, theta: float = 10000.0):
        super().__init__()
        self.head_dim = head_dim
        self.max_positions = max_positions
        self.split = rope_split(head_dim)
        # One table of angles per axis, computed in float64 (as diffusers does) and stored side by side:
        # columns [0, t/2) hold the time frequencies, then height, then width.  (max_positions, head_dim/2)
        positions = torch.arange(max_positions, dtype=torch.float64)
        tables = []
        for width in self.split:
            inv_freq = 1.0 / theta ** (torch.arange(0, width, 2, dtype=torch.float64) / width)  # (width/2,)
            tables.append(torch.outer(positions, inv_freq))  # (max_positions, width/2)
        angles = torch.cat(tables, dim=1)  # (max_positions, head_dim/2)
        self.register_buffer("cos_table", angles.cos().float(), persistent=False)
        self.register_buffer("sin_table", angles.sin().float(), persistent=False)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """Rotations ``e^{i * angle}`` for tokens at integer ``positions`` ``(L, 3)`` (frame, row, column).

        Returns ``(L, head_dim/2)`` complex. :func:`grid_positions` gives the positions of a token grid."""
        if positions.numel() and int(positions.max()) >= self.max_positions:
            raise ValueError(
                f"token position {int(positions.max())} exceeds RoPE's {self.max_positions} positions "
                f"per axis "
                f"(config rope_max_positions)"
            )
        t, h, _ = (n // 2 for n in self.split)
        columns = (slice(0, t), slice(t, t + h), slice(t + h, None))
        # Each axis reads its own frequency columns at its own position index.
        cos = torch.cat([self.cos_table[positions[:, a], cols] for a, cols in enumerate(columns)], dim=1)
        sin = torch.cat([self.sin_table[positions[:, a], cols] for a, cols in enumerate(columns)], dim=1)
        return torch.complex(cos, sin)  # (L, head_dim/2)


def apply_rope(x: torch.Tensor, rotations: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Rotate channel pairs of every head of ``x`` ``(B, L, D)`` by ``rotations`` ``(L, head_dim/2)``.

    Treating each pair ``(x[2j], x[2j+1])`` of a head as the complex number ``x[2j] + i x[2j+1]``, a rotation
    is one complex multiplication (Wan's ``rope_apply`` does exactly this; diffusers writes it with cos/sin).
    """
    pairs = rearrange(
        x.float().contiguous(), "b l (n d two) -> b l n d two", n=num_heads, two=2
    )  # (B,L,n,hd/2,2)
    rotated = torch.view_as_complex(pairs) * rotations[:, None, :]  # (B, L, heads, hd/2), complex
    return rearrange(torch.view_as_real(rotated), "b l n d two -> b l (n d two)").type_as(x)  # (B, L, D)

"""Focus-by-predicting: a face-mask head that steers where the audio acts, without gating it (HuMo §3.3).

Paper: HuMo §3.3 ("focus-by-predicting", Eq. 3); ``docs/paper_notes.md`` §4. The released code has no mask head
(it is training-only), so its layers are ours: the paper says only where it reads and how it is trained.

**Where it reads.** The DiT's hidden states after the audio cross-attention of the **last N blocks**
(``HuMoLiteDiT(..., return_hidden_states=N)``), because "early DiT blocks lack stable spatial representations".
HuMo uses N = 4 (:func:`focus_blocks`: ``humo-micro`` and ``humo-small`` have 6 and 8 blocks and use 4;
``humo-nano`` has 2 and uses both). Each block gets a LayerNorm and a linear map to one logit per video token;
the N sigmoid maps are **averaged** into the prediction ``M_pred``, on the token grid ``(F', h, w)``.

**What it learns.** The face mask on the same grid (:func:`face_mask_target`): a token cell is face when at
least half of it is face, from the world's exact labels mapped to latent cells as chapter 03 maps the face
(:func:`humo_lite.training.latent_cache.latent_face_share`), then pooled over the DiT's 2 × 2 patch.

**The loss** (:func:`size_weighted_bce`, Eq. 3): per latent frame, the binary cross-entropy over the cells times
``h·w / Σ M_gt``, the inverse of the face's share of the frame. A small face (a full-body shot) covers few
cells, so without the weight its loss would be swamped by the easy background; with it every frame's face
counts as much as a frame-filling one. It is added to the flow-matching loss on audio samples only, with the
weight ``focus_weight`` (:class:`~humo_lite.training.audio_task.AudioToVideoTask`).

**Training only.** The head is not part of the DiT (a separate module the task holds), so the saved pipeline
has no mask-head weights and never runs it; its gradient reaches the DiT through the hidden states, which is
the whole point: to predict the face, the last blocks must keep track of where it is, and the audio
cross-attention that sits right before them learns to act there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from .loading import StrictModelMixin

FOCUS_BLOCKS = 4
"""How many of the last blocks the mask head reads (HuMo: 4)."""
FACE_THRESHOLD = 0.5
"""A token cell is face in the target when at least this share of it is face."""


def focus_blocks(num_layers: int) -> int:
    """The number of last blocks the head reads in a DiT of ``num_layers`` blocks: HuMo's 4, or all if fewer."""
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a whole number >= 1, got {num_layers!r}")
    return min(FOCUS_BLOCKS, num_layers)


class FaceMaskHead(StrictModelMixin, ConfigMixin):
    """Hidden states of the last ``num_blocks`` blocks, each ``[B, dim, F', h, w]`` → face probability
    ``[B, F', h, w]``: per block LayerNorm → Linear(dim, 1) → sigmoid, averaged over the blocks."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, dim: int, num_blocks: int = FOCUS_BLOCKS):
        super().__init__()
        for name, value in (("dim", dim), ("num_blocks", num_blocks)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"FaceMaskHead: {name} must be a whole number >= 1, got {value!r}")
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_blocks))
        self.logits = nn.ModuleList(nn.Linear(dim, 1) for _ in range(num_blocks))

    def forward(self, hidden_states) -> torch.Tensor:
        if len(hidden_states) != self.config.num_blocks:
            raise ValueError(f"FaceMaskHead reads {self.config.num_blocks} blocks' hidden states, got "
                             f"{len(hidden_states)}; call the DiT with return_hidden_states={self.config.num_blocks}")
        maps = []
        for h, norm, logit in zip(hidden_states, self.norms, self.logits, strict=True):
            tokens = h.movedim(1, -1)  # (B, F', h, w, D)
            maps.append(torch.sigmoid(logit(norm(tokens)).squeeze(-1)))  # (B, F', h, w)
        return torch.stack(maps).mean(0)  # (B, F', h, w): HuMo averages the blocks' predictions


def face_mask_target(face_share: torch.Tensor, patch: tuple[int, int] = (2, 2)) -> torch.Tensor:
    """The binary face mask on the token grid: ``face_share [B, F', H, W]`` (share of each latent cell that is
    face) pooled over the DiT's ``patch`` → ``[B, F', H/ph, W/pw]``, 1 where at least half the cell is face."""
    if face_share.ndim != 4:
        raise ValueError(f"face_share must be [B, F', H, W], got shape {tuple(face_share.shape)}")
    b, f = face_share.shape[:2]
    pooled = F.avg_pool2d(face_share.float().flatten(0, 1)[:, None], kernel_size=patch)  # (B*F', 1, h, w)
    return (pooled[:, 0] >= FACE_THRESHOLD).float().reshape(b, f, *pooled.shape[-2:])


def size_weighted_bce(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """HuMo's Eq. 3, one value per sample: per frame ``h·w / Σ M_gt · BCE(M_pred, M_gt)``, averaged over frames.

    ``pred`` and ``target`` are ``[B, F', h, w]`` (probabilities, and 0/1). A frame without face (Σ M_gt = 0)
    keeps the plain BCE (weight 1) instead of dividing by zero."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} must have one shape")
    bce = F.binary_cross_entropy(pred.float().clamp(eps, 1 - eps), target.float(), reduction="none")
    cells = target.shape[-2] * target.shape[-1]
    weight = cells / target.sum(dim=(-2, -1)).clamp(min=1.0)  # (B, F'): 1 / the face's share of the frame
    weight = torch.where(target.sum(dim=(-2, -1)) > 0, weight, torch.ones_like(weight))
    return (weight * bce.mean(dim=(-2, -1))).mean(-1)  # (B,)


def mask_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of ``pred >= threshold`` and the target, per sample ``[B]`` (over every frame)."""
    p, t = pred >= threshold, target >= 0.5
    inter = (p & t).flatten(1).sum(1).float()
    union = (p | t).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))


__all__ = ["FACE_THRESHOLD", "FOCUS_BLOCKS", "FaceMaskHead", "face_mask_target", "focus_blocks", "mask_iou",
           "size_weighted_bce"]

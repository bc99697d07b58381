"""What trains in each stage, stated once: parameter selection by name.

HuMo trains its stages "minimal-invasively" (§3.3, ``docs/paper_notes.md`` §2.4): stage 1 updates **only
the self-attention layers** of the DiT, so the text cross-attention, the feed-forward layers and the
time modulation keep what the foundation model learned (its text control), and identity can only flow
in through the attention that sees the appended reference frames. Stage 2 adds the audio modules.

Which parameters that is, in our DiT (:class:`humo_lite.models.dit.HuMoLiteDiT`):

==========  =====================================================================================
stage       trainable transformer parameters
==========  =====================================================================================
``stage0``  everything (the foundation model, trained from scratch with its text encoder)
``stage1``  ``blocks.*.self_attn.*``: the fused q/k/v projection, the output projection ``o`` and
            the q/k RMSNorm weights (Wan's ``WanSelfAttention`` holds its q/k norms, so they are
            part of "self-attention")
``stage2``  stage 1 + the audio cross-attention and its LayerNorm (``blocks.*.cond_attn.audio.*``,
            ``blocks.*.cond_norm.audio.*``) + the audio projector (``audio_proj.*``) + the
            face-mask head (``mask_head.*``), when the model has them
``full``    everything in the transformer: the baseline HuMo argues against (full fine-tuning)
==========  =====================================================================================

**Our choice on modulation and norms.** The paper names only self-attention; it does not say whether
the adaLN modulation (Wan's per-block ``modulation`` table, shared ``time_proj``) or the blocks'
LayerNorms train. The layer norms before self-attention have no weights in Wan (``elementwise_affine=
False``), and we keep the modulation frozen: it is the time conditioning the whole network shares,
and training it would change how every layer, the text path included, responds to noise level.
The text encoder is frozen in stages 1 and 2 (HuMo freezes umT5), so its outputs can be cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import nn

_SELF_ATTENTION = re.compile(r"^blocks\.\d+\.self_attn\.")
_AUDIO = re.compile(r"^(blocks\.\d+\.cond_(attn|norm)\.audio\.|audio_proj\.|mask_head\.)")

STAGES: dict[str, tuple[str, Callable[[str], bool]]] = {
    "stage0": ("everything", lambda name: True),
    "stage1": ("self-attention only (q/k/v/o and the q/k norms)", lambda name: bool(_SELF_ATTENTION.match(name))),
    "stage2": ("self-attention + audio modules (audio cross-attention and its norm, projector; a mask head "
               "when there is one)", lambda name: bool(_SELF_ATTENTION.match(name) or _AUDIO.match(name))),
    "full": ("everything (full fine-tuning)", lambda name: True),
}
"""Stage name → (what trains, in words; predicate on a transformer parameter name)."""


def trainable_predicate(stage: str) -> Callable[[str], bool]:
    """The predicate ``name -> bool`` that selects a stage's trainable transformer parameters."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {sorted(STAGES)}")
    return STAGES[stage][1]


def trainable_summary(module: nn.Module, stage: str) -> dict:
    """How many of ``module``'s parameters ``stage`` trains: counts, share and the parameter names."""
    keep = trainable_predicate(stage)
    names = [name for name, _ in module.named_parameters() if keep(name)]
    sizes = dict((name, p.numel()) for name, p in module.named_parameters())
    trained, total = sum(sizes[n] for n in names), sum(sizes.values())
    if not names:
        raise ValueError(f"stage {stage!r} selects no parameter of this {type(module).__name__}")
    return {"stage": stage, "what": STAGES[stage][0], "trainable": trained, "total": total,
            "share": trained / total, "names": names}


def describe_trainable(module: nn.Module, stage: str) -> str:
    """One line: e.g. ``stage1 trains 668,160 of 3,951,232 transformer parameters (16.9 %): self-attention…``."""
    s = trainable_summary(module, stage)
    return (f"{stage} trains {s['trainable']:,} of {s['total']:,} {type(module).__name__} parameters "
            f"({100 * s['share']:.1f} %): {s['what']}")


__all__ = ["STAGES", "describe_trainable", "trainable_predicate", "trainable_summary"]

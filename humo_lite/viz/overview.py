"""Chapter 00's figure: HuMo's figure 3 (what trains in which stage) redrawn for the toy, counts read from the models.

:func:`stage_parts` sorts every parameter of the shipped models into the parts HuMo's figure names (self-attention,
text cross-attention, feed-forward, the audio modules, the mask head, the text encoder, the VAE) and says, per
training run, how many of each part's parameters that run trains (:func:`humo_lite.training.stages.trainable_predicate`
for the DiT stages) and how many it holds frozen. :func:`plot_stage_parts` draws it as a grid.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
from torch import nn

from ..training.stages import trainable_predicate

DIT_PARTS = {
    "self-attention": r"^blocks\.\d+\.self_attn\.",
    "text cross-attention": r"^blocks\.\d+\.(text_attn|norm_text)\.",
    "feed-forward": r"^blocks\.\d+\.ffn\.",
    "audio cross-attention": r"^blocks\.\d+\.cond_(attn|norm)\.audio\.",
    "audio projector": r"^audio_proj\.",
    "modulation, embeddings, head": r"",  # every other DiT parameter
}
"""Part of the DiT → the pattern its parameter names match (the first that matches wins)."""
RUNS = ("VAE", "stage 0", "stage 1", "stage 2")
"""The training runs, in order: the VAE alone first, then the DiT stages (chapters 02, 02, 03, 04–05)."""
RUN_DATA = {"VAE": "clips", "stage 0": "text → video", "stage 1": "+ reference", "stage 2": "+ audio"}
"""What each run trains on, under its name in the figure."""


def _dit_part(name: str) -> str:
    return next(part for part, pattern in DIT_PARTS.items() if re.match(pattern, name))


def _count(module: nn.Module | None, keep) -> tuple[int, int] | None:
    """(trained, held) parameters of ``module`` under the predicate ``keep`` on names; None without the module."""
    if module is None:
        return None
    sizes = {name: p.numel() for name, p in module.named_parameters()}
    trained = sum(n for name, n in sizes.items() if keep(name))
    return trained, sum(sizes.values())


def stage_parts(transformers: dict[str, nn.Module], text_encoder: nn.Module, vae: nn.Module,
                mask_head: nn.Module | None = None) -> dict[str, dict[str, tuple[int, int] | None]]:
    """Part → run (:data:`RUNS`) → (trained, total parameters) in that run's model, or None where the run's model
    has no such part. ``transformers`` maps ``"stage0"``, ``"stage1"``, ``"stage2"`` to each stage's DiT."""
    missing = {"stage0", "stage1", "stage2"} - set(transformers)
    if missing:
        raise ValueError(f"transformers needs the DiT of every stage, missing {sorted(missing)}")
    table = {part: {run: None for run in RUNS} for part in DIT_PARTS}
    for i, run in enumerate(RUNS[1:]):
        keep = trainable_predicate(f"stage{i}")
        sizes = {name: p.numel() for name, p in transformers[f"stage{i}"].named_parameters()}
        for part in DIT_PARTS:
            names = [n for n in sizes if _dit_part(n) == part]
            if names:
                table[part][run] = (sum(sizes[n] for n in names if keep(n)), sum(sizes[n] for n in names))
    table["face-mask head (training only)"] = {run: _count(mask_head, lambda n: True) if run == "stage 2" and
                                               mask_head is not None else None for run in RUNS}
    table["text encoder"] = {run: None if run == "VAE" else _count(text_encoder, lambda n, r=run: r == "stage 0")
                             for run in RUNS}
    table["VAE"] = {run: _count(vae, lambda n, r=run: r == "VAE") for run in RUNS}
    return table


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e5 else f"{n / 1e3:.1f} k"


def _label(cell: tuple[int, int]) -> str:
    trained, total = cell
    if trained == total:
        return f"trains {_size(trained)}"
    return f"frozen {_size(total)}" if not trained else f"trains {_size(trained)} of {_size(total)}"


def plot_stage_parts(table: dict, title: str = "what trains in each run"):
    """The grid of :func:`stage_parts`: a row per part, a column per run; orange trains, blue is frozen, blank is
    absent (the part does not exist yet, or the run never loads it)."""
    parts, runs = list(table), list(RUNS)
    fig, ax = plt.subplots(figsize=(10.5, 0.42 * len(parts) + 1.1))
    for r, part in enumerate(parts):
        for c, run in enumerate(runs):
            cell = table[part][run]
            colour = "white" if cell is None else "#f4a259" if cell[0] else "#bcd4e6"
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=colour, edgecolor="0.6"))
            ax.text(c + 0.5, r + 0.5, "—" if cell is None else _label(cell), ha="center", va="center", fontsize=8)
    ax.set_xlim(0, len(runs)), ax.set_ylim(len(parts), 0)
    ax.set_xticks([c + 0.5 for c in range(len(runs))], [f"{run}: {RUN_DATA[run]}" for run in runs], fontsize=9)
    ax.set_yticks([r + 0.5 for r in range(len(parts))], parts, fontsize=9)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.set_title(title, fontsize=10, pad=22)
    fig.tight_layout()
    return fig


__all__ = ["DIT_PARTS", "RUNS", "RUN_DATA", "plot_stage_parts", "stage_parts"]

"""Chapter 03's pictures: the token sequence ``[z_t ; z_ref]`` and where the video looks in the reference."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle


def plot_sequence_layout(num_frames: int = 5, num_refs: int = 1, reference_position: str = "after", ax=None):
    """The DiT's token sequence along time: noisy video latent frames and clean reference frames, each
    with the RoPE time position it gets. ``reference_position``: ``"after"`` (HuMo) or ``"before"``."""
    if reference_position not in ("after", "before"):
        raise ValueError(f"reference_position must be 'after' or 'before', got {reference_position!r}")
    kinds = ["video"] * num_frames
    kinds = kinds + ["reference"] * num_refs if reference_position == "after" else ["reference"] * num_refs + kinds
    ax = ax or plt.subplots(figsize=(1.1 * len(kinds) + 1, 1.9))[1]
    colours = {"video": "#9ecae1", "reference": "#fdae6b"}
    for t, kind in enumerate(kinds):
        ax.add_patch(Rectangle((t + 0.05, 0), 0.9, 1, facecolor=colours[kind], edgecolor="k"))
        label = "$z_t$" if kind == "video" else "$z_{ref}$"
        ax.text(t + 0.5, 0.55, label, ha="center", va="center", fontsize=12)
        ax.text(t + 0.5, 0.18, "noisy" if kind == "video" else "clean", ha="center", va="center", fontsize=8)
        ax.text(t + 0.5, -0.25, f"t = {t}", ha="center", va="center", fontsize=9)
    ax.set_xlim(0, len(kinds))
    ax.set_ylim(-0.5, 1.1)
    ax.axis("off")
    order = "[z_t ; z_ref] (HuMo)" if reference_position == "after" else "[z_ref ; z_t] (reference first)"
    ax.set_title(f"token sequence along time: {order}; RoPE time position below", fontsize=10)
    return ax.figure


def plot_reference_attention(maps: np.ndarray, reference: np.ndarray, frame: np.ndarray, call: int = -1,
                             block: int = -1, row: int = -1, cell: tuple[int, int] | None = None):
    """One block's attention at one DiT call, drawn over the images it connects.

    ``maps`` ``(calls, rows, blocks, F', h, w, R', h, w)`` from
    :meth:`humo_lite.models.attention_maps.ReferenceAttention.maps`; ``reference`` and ``frame``
    ``(H, W, 3)`` images. Left: the frame with, per token cell, the share of its attention that goes to
    the reference (all reference cells together). Right: the reference with the attention it receives
    from the video cell ``cell`` (default: the cell that attends to it most), per reference cell. ``row``:
    the guidance branch (default -1, the last: the pipeline's branches end with the one that keeps every
    condition given, :mod:`humo_lite.guidance`).
    """
    m = maps[call, row, block].sum(axis=2)  # (F', h, w, h, w): reference frames summed
    to_ref = m.sum(axis=(-2, -1)).mean(0)  # (h, w): share of each video cell's attention on the reference
    if cell is None:
        cell = tuple(int(i) for i in np.unravel_index(to_ref.argmax(), to_ref.shape))
    received = m[:, cell[0], cell[1]].mean(0)  # (h, w) over reference cells
    h, w = to_ref.shape
    size = frame.shape[0]
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
    for ax, image, heat, title in ((axes[0], frame, to_ref, "video frame: attention to the reference"),
                                   (axes[1], reference, received, f"reference: attention from video cell {cell}")):
        ax.imshow(image, extent=(0, size, size, 0))
        shown = ax.imshow(heat, extent=(0, size, size, 0), cmap="magma", alpha=0.55, interpolation="nearest")
        fig.colorbar(shown, ax=ax, fraction=0.046)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    cy, cx = (cell[0] + 0.5) * size / h, (cell[1] + 0.5) * size / w
    axes[0].plot(cx, cy, "c+", markersize=14, markeredgewidth=2)
    return fig


def plot_subject_lift(lifts: dict[str, np.ndarray], xlabel: str = "block"):
    """Lines of attention lift (subject vs background of the reference, per cell) for each named group of
    video cells; 1 = no preference."""
    fig, ax = plt.subplots(figsize=(5, 3))
    for name, values in lifts.items():
        ax.plot(np.arange(len(values)), values, "o-", label=name)
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("lift: per-cell attention,\nsubject ÷ white background")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def attention_slider(maps: np.ndarray, reference: np.ndarray, frame: np.ndarray, sigmas=None):
    """An ipywidgets panel: :func:`plot_reference_attention` with sliders over denoising step and block."""
    import ipywidgets as widgets
    from IPython.display import display

    calls, _, blocks = maps.shape[:3]
    out = widgets.Output()

    def draw(step: int, block: int) -> None:
        with out:
            out.clear_output(wait=True)
            fig = plot_reference_attention(maps, reference, frame, call=step, block=block)
            if sigmas is not None:
                fig.suptitle(f"step {step} (σ = {float(sigmas[step]):.2f}), block {block}", fontsize=10)
            plt.show()

    step = widgets.IntSlider(value=calls - 1, min=0, max=calls - 1, description="step")
    block = widgets.IntSlider(value=blocks - 1, min=0, max=blocks - 1, description="block")
    widgets.interactive_output(draw, {"step": step, "block": block})
    panel = widgets.VBox([widgets.HBox([step, block]), out])
    display(panel)
    return panel


__all__ = ["attention_slider", "plot_reference_attention", "plot_sequence_layout", "plot_subject_lift"]

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


def _attention_panels(maps: np.ndarray, call: int, block: int, row: int, cell):
    """The two maps of :func:`plot_reference_attention` for one call and block, and the video cell chosen."""
    m = maps[call, row, block].sum(axis=3)  # (F', h, w, R', h, w) -> (F', h, w, h, w): reference frames summed
    to_ref = m.sum(axis=(-2, -1)).mean(0)  # (h, w): share of each video cell's attention on the reference
    if cell is None:
        cell = tuple(int(i) for i in np.unravel_index(to_ref.argmax(), to_ref.shape))
    received = m[:, cell[0], cell[1]].mean(0)  # (h, w) over reference cells
    return to_ref, received, cell


def attention_scales(maps: np.ndarray, row: int = -1) -> tuple[float, float]:
    """One colour scale per panel of :func:`plot_reference_attention`, shared by every denoising step and
    block of ``maps``: the largest value each panel takes over all of them."""
    calls, _, blocks = maps.shape[:3]
    panels = [_attention_panels(maps, c, b, row, None) for c in range(calls) for b in range(blocks)]
    return float(max(p[0].max() for p in panels)), float(max(p[1].max() for p in panels))


def plot_reference_attention(maps: np.ndarray, reference: np.ndarray, frame: np.ndarray, call: int = -1,
                             block: int = -1, row: int = -1, cell: tuple[int, int] | None = None,
                             scales: tuple[float, float] | None = None, frame_index: int | None = None):
    """One block's attention at one DiT call, beside the images it connects.

    ``maps`` ``(calls, rows, blocks, F', h, w, R', h, w)`` from
    :meth:`humo_lite.models.attention_maps.ReferenceAttention.maps`; ``reference`` and ``frame``
    ``(H, W, 3)`` images (``frame_index``: which video frame ``frame`` is, for the title). Four panels, left
    to right: the generated frame; per video token cell, the share of its attention that goes to the
    reference (all reference cells together), **averaged over the latent frames**; the reference; the
    attention the reference's cells receive from the video cell ``cell`` (default: the cell that attends to
    it most, marked with a cyan "+"), also averaged over latent frames, with the reference's person outlined.
    Maps are drawn opaque on a colour scale from 0: ``scales`` (one maximum per map, e.g. from
    :func:`attention_scales`, so that every step and block is drawn on the same scale; default: this map's
    own maximum), stated on each colour bar. ``row``: the guidance branch (default -1, the last: the
    pipeline's branches end with the one that keeps every condition given, :mod:`humo_lite.guidance`).
    """
    to_ref, received, cell = _attention_panels(maps, call, block, row, cell)
    shared = scales is not None
    scales = scales or (float(to_ref.max()), float(received.max()))
    h, w = to_ref.shape
    size = frame.shape[0]
    num_latent = maps.shape[3]
    fig, axes = plt.subplots(1, 4, figsize=(10.5, 3.3), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1.25, 1, 1.25]})
    shown = f"frame {frame_index}" if frame_index is not None else "a frame"
    scale_note = "same scale for every step and block" if shared else "scale of this map alone"
    cy, cx = (cell[0] + 0.5) * size / h, (cell[1] + 0.5) * size / w
    axes[0].imshow(frame, interpolation="nearest")
    axes[0].set_title(f"generated clip, {shown}", fontsize=8)
    axes[2].imshow(reference, interpolation="nearest")
    axes[2].set_title("reference", fontsize=8)
    panels = ((axes[1], to_ref, scales[0], f"share of each video cell's attention\non the reference "
                                            f"(mean of {num_latent} latent frames)",
               "share of the cell's attention"),
              (axes[3], received, scales[1], f"attention from video cell {cell} (+)\nto each reference cell "
                                             f"(mean of {num_latent} latent frames)",
               "share of the + cell's attention"))
    for ax, heat, vmax, title, bar in panels:
        image = ax.imshow(heat, extent=(0, size, size, 0), cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
        colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
        colorbar.set_label(f"{bar}\n0 to {vmax:.3g}, {scale_note}", fontsize=7)
        colorbar.ax.tick_params(labelsize=7)
        ax.set_title(title, fontsize=8)
    subject = reference.min(-1) < 0.9  # the reference's person: its non-white pixels
    axes[3].contour(subject.astype(float), levels=[0.5], colors="w", linewidths=0.8,
                    extent=(0, size, 0, size), origin="upper")
    for ax in axes[:2]:
        ax.plot(cx, cy, "c+", markersize=14, markeredgewidth=2)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
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


def attention_slider(maps: np.ndarray, reference: np.ndarray, frame: np.ndarray, sigmas=None,
                     frame_index: int | None = None):
    """An ipywidgets panel: :func:`plot_reference_attention` with sliders over denoising step and block, every
    position drawn on the same colour scales (:func:`attention_scales`)."""
    import ipywidgets as widgets
    from IPython.display import display

    calls, _, blocks = maps.shape[:3]
    out = widgets.Output()
    scales = attention_scales(maps)  # one colour scale per map for every step and block

    def draw(step: int, block: int) -> None:
        with out:
            out.clear_output(wait=True)
            fig = plot_reference_attention(maps, reference, frame, call=step, block=block, scales=scales,
                                           frame_index=frame_index)
            noise = f" (σ = {float(sigmas[step]):.2f})" if sigmas is not None else ""
            fig.suptitle(f"denoising step {step} of {calls - 1}{noise}, block {block} of {blocks - 1}", fontsize=9)
            plt.show()

    step = widgets.IntSlider(value=calls - 1, min=0, max=calls - 1, description="step")
    block = widgets.IntSlider(value=blocks - 1, min=0, max=blocks - 1, description="block")
    widgets.interactive_output(draw, {"step": step, "block": block})
    panel = widgets.VBox([widgets.HBox([step, block]), out])
    display(panel)
    return panel


def plot_guidance_choice(selection: dict, sweep: dict, text_scale: float, num_clips: int):
    """Chapter 03's guidance figure. Left: the settings tried on the pool that chose them (``selection``, from
    ``data_samples/ablations/stage1_guidance_scales.json``), TVA-lite against ID-lite, one marker each, named
    in a legend beside the axes (labels on the points pile up), the chosen one a star, the TVA-lite floor
    dashed. Right: ``sweep`` (image guidance scale -> the identity check's metrics) on held-out people at
    text scale ``text_scale``."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained", gridspec_kw={"width_ratios": [1.5, 1]})
    markers = "osD^v<>phX"
    for k, (name, r) in enumerate(selection["settings"].items()):
        chosen = name == selection["choice"]
        axes[0].scatter(r["tva_lite"], r["id_lite"], marker="*" if chosen else markers[k % len(markers)],
                        s=160 if chosen else 36, color=f"C{k % 10}", label=name + (" (chosen)" if chosen else ""),
                        zorder=3, edgecolor="k" if chosen else "none")
    axes[0].axvline(selection["tva_floor"], color="0.5", ls="--", lw=0.8, label="TVA-lite floor")
    axes[0].set_xlabel("TVA-lite (text alignment)")
    axes[0].set_ylabel("ID-lite (identity)")
    axes[0].set_title(f"choosing the scales: {selection['clips']} clips, {selection.get('pool', 'stage1')} pool",
                      fontsize=9)
    axes[0].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    scales = sorted(sweep)
    for key, marker, label in ((("id_lite",), "o-", "ID-lite"), (("retrieval_top1",), "s-", "retrieval top-1"),
                               (("judge", "tva_lite"), "^-", "TVA-lite")):
        values = [sweep[s][key[0]] if len(key) == 1 else sweep[s][key[0]][key[1]] for s in scales]
        axes[1].plot(scales, values, marker, label=label)
    axes[1].set_xlabel(f"image guidance scale (text scale {text_scale:g})")
    axes[1].set_title(f"held-out people, {num_clips} clips", fontsize=9)
    axes[1].set_xticks(scales)
    axes[1].legend(fontsize=7)
    return fig


__all__ = ["attention_scales", "attention_slider", "plot_guidance_choice", "plot_reference_attention",
           "plot_sequence_layout", "plot_subject_lift"]

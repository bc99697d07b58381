"""Matplotlib figures for the toy world: frame strips, the lip law, audio windows, pool sizes; and a check that
a figure's text can be read (:func:`text_problems`: no label on top of another, none cut off)."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from ..data.audio import WINDOW, audio_windows
from ..presets import FPS, num_latent_frames


def plot_clip(clip, every: int = 4, masks: bool = True):
    """Frames of a clip (every ``every``-th), its reference on white, and optionally its face masks."""
    idx = list(range(0, clip.num_frames, every))
    rows = 2 if masks else 1
    fig, axes = plt.subplots(rows, len(idx) + 1, figsize=(1.6 * (len(idx) + 1), 1.9 * rows + 0.3), squeeze=False,
                             layout="constrained")
    for col, i in enumerate(idx):
        axes[0, col].imshow(clip.video[i], interpolation="nearest")
        axes[0, col].set_title(f"frame {i}", fontsize=8)
        if masks:
            axes[1, col].imshow(clip.video[i], interpolation="nearest")
            axes[1, col].imshow(np.ma.masked_where(~clip.face_mask[i], clip.face_mask[i]), cmap="autumn",
                                alpha=0.6, interpolation="nearest")
    axes[0, -1].imshow(clip.reference, interpolation="nearest")
    axes[0, -1].set_title("reference", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    if masks:
        for ax in axes[1, :-1]:
            ax.set_title("face mask", fontsize=7)
    fig.suptitle(clip.caption, fontsize=9)
    return fig


def plot_lip_law(clip, measured: np.ndarray | None = None, shuffled: np.ndarray | None = None):
    """Waveform, the lip law's opening, and (optionally) the mouth measured from pixels."""
    t_audio = np.arange(len(clip.audio)) / 16_000
    t_frames = (np.arange(clip.num_frames) + 0.5) / FPS
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
    ax0.plot(t_audio, clip.audio, lw=0.5, color="0.3")
    ax0.set_ylabel("audio")
    ax1.step(t_frames, clip.mouth, where="mid", label="lip law (from audio)", lw=2)
    if measured is not None:
        ax1.plot(t_frames, measured, "o--", label="measured from pixels (rescaled)", ms=4)
    if shuffled is not None:
        ax1.plot(t_frames, shuffled, ":", label="another clip's lip law", color="0.5")
    ax1.set_ylabel("mouth opening")
    ax1.set_xlabel("time (s)")
    ax1.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def mouth_crops(video: np.ndarray, face_mask: np.ndarray, size: int | None = None) -> np.ndarray:
    """Each frame's mouth, cut out: a square following the face, centred below it. ``(F, size, size, 3)``.

    The square is centred half-way between the face's centre and its lowest row (where the renderer
    puts the mouth) and is ``size`` pixels wide (default: two thirds of the face's width), so a nodding
    or swaying head stays in the middle of every crop.
    """
    if not face_mask.any():
        raise ValueError("the face mask is empty in every frame: no mouth to crop")
    ys, xs = np.nonzero(face_mask.any(0))
    size = size or max(4, int(round((xs.max() - xs.min() + 1) * 2 / 3)))
    pad = size
    padded = np.pad(video, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    crops, last = [], None
    for frame, mask in zip(padded, face_mask, strict=True):
        if mask.any():
            fy, fx = np.nonzero(mask)
            last = (int(round((fy.mean() + fy.max()) / 2)), int(round(fx.mean())))
        cy, cx = last if last is not None else (int(ys.mean()), int(xs.mean()))
        top, left = cy + pad - size // 2, cx + pad - size // 2
        crops.append(frame[top:top + size, left:left + size])
    return np.stack(crops)


def plot_mouth_strip(clip, rows: dict[str, np.ndarray] | None = None, traces: dict[str, np.ndarray] | None = None):
    """Every frame's mouth (:func:`mouth_crops`), zoomed, above the lip law and any other per-frame ``traces``.

    ``rows``: other videos ``(F, H, W, 3)`` of the same clip (e.g. a VAE's reconstruction), cropped the
    same way (from the clip's own face mask), one strip each.
    """
    strips = {"frames": clip.video, **(rows or {})}
    f = clip.num_frames
    fig = plt.figure(figsize=(min(1.0 + 0.55 * f, 11), 0.62 * len(strips) + 2.2))
    grid = fig.add_gridspec(len(strips) + 1, f, height_ratios=[0.62] * len(strips) + [2.2], hspace=0.12,
                            wspace=0.05)
    for r, (name, video) in enumerate(strips.items()):
        crops = mouth_crops(video, clip.face_mask)
        for i in range(f):
            ax = fig.add_subplot(grid[r, i])
            ax.imshow(crops[i], interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    ax = fig.add_subplot(grid[-1, :])
    ax.step(np.arange(f), clip.mouth, where="mid", lw=2, label="lip law (from audio)")
    for name, trace in (traces or {}).items():
        ax.plot(np.arange(f), trace, "o--", ms=3, label=name)
    ax.set_xlim(-0.5, f - 0.5), ax.set_xlabel("frame"), ax.set_ylabel("mouth opening")
    ax.legend(fontsize=7, loc="upper right")
    height = fig.get_figheight()  # room below for the x label, above for a suptitle
    fig.subplots_adjust(bottom=0.45 / height, top=1 - 0.35 / height)
    return fig


def plot_audio_windows(features: np.ndarray, latent_frame: int = 2):
    """Per-frame log-mel against latent frames, with one latent frame's 8-frame window highlighted."""
    num_frames = len(features)
    f_lat = num_latent_frames(num_frames)
    windows = audio_windows(features)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [3, 1]})
    ax0.imshow(features.T, aspect="auto", origin="lower", extent=(-0.5, num_frames - 0.5, 0, 80), cmap="magma")
    for i in range(f_lat):  # latent frame i covers video frame 0 (i = 0) or 4i-3 ... 4i
        lo, hi = (0, 0) if i == 0 else (4 * i - 3, 4 * i)
        ax0.axvspan(lo - 0.5, hi + 0.5, ymin=0.93, ymax=1.0, color=f"C{i}", alpha=0.9)
        ax0.text((lo + hi) / 2, 76, f"z{i}", ha="center", va="center", fontsize=8, color="white")
    start = 4 * latent_frame - 5
    ax0.axvspan(start - 0.5, start + WINDOW - 0.5, ymax=0.9, fill=False, ec=f"C{latent_frame}", lw=2)
    ax0.set_xlabel("video frame")
    ax0.set_ylabel("mel band")
    ax0.set_title(f"log-mel per video frame; box = latent frame {latent_frame}'s window")
    ax1.imshow(windows[latent_frame].T, aspect="auto", origin="lower", cmap="magma")
    ax1.set_title(f"window of z{latent_frame}: 8 x 80")
    ax1.set_xlabel("slot")
    fig.tight_layout()
    return fig


def plot_pools(summary: list[dict]):
    """Clips per pool on a log scale, one bar per pool (training pools first), coloured by which conditions each
    pool gives."""
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(summary) + 1.0))
    names = [row["pool"] for row in summary]
    colours = {"text": "C0", "text + reference": "C1", "text + reference + audio": "C2"}
    bars = ax.barh(names, [row["clips"] for row in summary], color=[colours[row["conditions"]] for row in summary])
    ax.set_xscale("log")
    ax.set_xlim(right=max(row["clips"] for row in summary) * 12)  # room for the labels
    ax.invert_yaxis()
    ax.set_xlabel("clips (log scale)")
    for bar, row in zip(bars, summary, strict=False):
        ax.text(bar.get_width() * 1.1, bar.get_y() + bar.get_height() / 2,
                f"{row['clips']} clips, {row['identities']} ids", va="center", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, colours.keys(), fontsize=7, loc="lower right")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def plot_reference_pairs(clips, frame: int | None = None, wrap: int = 24):
    """Cross-paired references (top row) above a frame of each one's clip (bottom row), each clip's caption
    wrapped beneath its frame."""
    fig, axes = plt.subplots(2, len(clips), figsize=(2.1 * len(clips), 5.0), squeeze=False,
                             gridspec_kw={"hspace": 0.1})
    for i, clip in enumerate(clips):
        f = clip.num_frames // 2 if frame is None else frame
        axes[0, i].imshow(clip.reference, interpolation="nearest")
        axes[0, i].set_title(f"reference {i}", fontsize=8)
        axes[1, i].imshow(clip.video[f], interpolation="nearest")
        axes[1, i].set_title(f"its clip, frame {f}", fontsize=8)
        axes[1, i].set_xlabel(textwrap.fill(clip.caption, wrap), fontsize=7, linespacing=1.1)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.95, bottom=0.2, wspace=0.12)
    return fig


def _texts(fig):
    """Every visible, non-empty text of ``fig`` with the axes it belongs to (None: the figure's own)."""
    found = [(t, None) for t in fig.texts]
    for ax in fig.axes:
        own = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.axison:  # tick labels drawn: those of ticks inside the view, on visible axes
            for axis in (ax.xaxis, ax.yaxis):
                if axis.get_visible():
                    own += [t for tick in axis._update_ticks() for t in (tick.label1, tick.label2)]
        legend = ax.get_legend()
        if legend is not None:
            own += [*legend.get_texts(), legend.get_title()]
        found += [(t, ax) for t in own]
    if fig._suptitle is not None and fig._suptitle not in fig.texts:
        found.append((fig._suptitle, None))
    return [(t, ax) for t, ax in found if t.get_visible() and t.get_text().strip()]


def text_problems(fig, max_width_in: float = 11.0, tight: bool = False) -> list[str]:
    """What makes ``fig``'s text hard to read; empty when nothing does.

    Two texts on top of each other (titles, labels, tick labels, annotations, legends: their drawn boxes
    overlap by more than a pixel each way), a text over *another* axes' picture (a title running into the
    panel above), a text cut off by the figure's edge, and a figure wider than ``max_width_in`` inches
    (JupyterLab would shrink it, and its text with it, to fit the notebook's default width). ``tight``: the
    figure is saved with ``bbox_inches="tight"`` (as the notebook's inline backend saves it), which grows the
    picture to hold every text, so the figure's edge cuts nothing off.
    """
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    box = fig.bbox
    problems = []
    if fig.get_figwidth() > max_width_in:
        problems.append(f"figure {fig.get_figwidth():.1f} in wide (> {max_width_in} in): shrunk to fit, text too")
    texts = [(t, ax, t.get_window_extent(renderer)) for t, ax in _texts(fig)]
    for i, (t, ax, bb) in enumerate(texts):
        label = repr(t.get_text()[:40])
        if not tight and (bb.x0 < box.x0 - 1 or bb.y0 < box.y0 - 1 or bb.x1 > box.x1 + 1 or bb.y1 > box.y1 + 1):
            problems.append(f"text {label} is cut off by the figure's edge")
        for other_ax in fig.axes:
            if other_ax is ax or not other_ax.get_visible() or not other_ax.images:
                continue
            if any(_overlap(bb, image.get_window_extent(renderer)) for image in other_ax.images):
                problems.append(f"text {label} runs over another panel's picture")
        for t2, _, bb2 in texts[i + 1:]:
            if _overlap(bb, bb2):
                problems.append(f"texts {label} and {t2.get_text()[:40]!r} overlap")
    return problems


def _overlap(a, b, tol: float = 1.0) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol

"""Long clips (chapter 09): the window plan over the audio, identity per window, and the frames around a seam."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..presets import FPS, SAMPLE_RATE, VAE_TIME_STRIDE


def plot_window_plan(windows: list, audio: np.ndarray, num_frames: int):
    """The waveform, and under it one bar per window over the video frames it covers: the carried latent frames
    (motion frames) hatched, the frames it adds solid."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 3.2), sharex=True, height_ratios=(1, 1.3))
    t = np.arange(len(audio)) / SAMPLE_RATE
    top.plot(t, audio, lw=0.4, color="0.3")
    top.set_ylabel("speech")
    top.set_title(f"{len(windows)} windows over {num_frames} frames ({num_frames / FPS:.2f} s)", fontsize=10)
    frame = lambda latent: 0 if latent == 0 else VAE_TIME_STRIDE * latent - (VAE_TIME_STRIDE - 1)  # noqa: E731
    for j, w in enumerate(windows):
        first, new, end = frame(w.start), w.first_new_frame, VAE_TIME_STRIDE * (w.end - 1) + 1
        bottom.barh(j, (new - first) / FPS, left=first / FPS, color="C1", hatch="///", alpha=0.5)
        bottom.barh(j, (end - new) / FPS, left=new / FPS, color="C0")
    bottom.invert_yaxis()
    bottom.set_yticks(range(len(windows)))
    bottom.set_ylabel("window")
    bottom.set_xlabel("time (s); hatched: motion frames carried from the window before")
    fig.tight_layout()
    return fig


def plot_identity_per_window(curves: dict[str, list[float]], real: list[float] | None = None):
    """ID-lite of each window in turn, one line per method (and the real clips')."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=name)
    if real is not None:
        ax.plot(np.arange(1, len(real) + 1), real, color="0.5", ls="--", label="real clips")
    ax.set_xlabel("window")
    ax.set_ylabel("ID-lite")
    ax.set_title("identity, window by window", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_seam_strip(videos: dict[str, np.ndarray], seam: int, before: int = 3, after: int = 3):
    """Frames ``seam − before … seam + after − 1`` of one clip per method (rows), the seam between the columns
    ``seam − 1`` and ``seam`` marked; each row's frame-to-frame change under its frames."""
    frames = list(range(seam - before, seam + after))
    fig, axes = plt.subplots(len(videos), len(frames), figsize=(1.2 * len(frames), 1.45 * len(videos)), squeeze=False)
    for row, (name, video) in enumerate(videos.items()):
        changes = np.abs(np.diff(video[frames[0]:frames[-1] + 1], axis=0)).mean(axis=(1, 2, 3))
        for col, f in enumerate(frames):
            ax = axes[row, col]
            ax.imshow(video[f])
            ax.set_xticks([])
            ax.set_yticks([])
            if f == seam:
                ax.spines["left"].set(color="red", linewidth=3)
            if col > 0:
                ax.set_xlabel(f"Δ {changes[col - 1]:.3f}", fontsize=7)
            if row == 0:
                ax.set_title(f"frame {f}", fontsize=8)
        axes[row, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(f"around the seam at frame {seam} (red edge); Δ: change from the frame before", fontsize=9)
    fig.tight_layout()
    return fig


__all__ = ["plot_identity_per_window", "plot_seam_strip", "plot_window_plan"]

"""Chapter 05's pictures: the face mask on the token grid, the size weight, the mask head learning the face."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_face_masks(rows: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """Per row (e.g. a position): a video frame ``(H, W, 3)``, the face's share of each latent cell ``(h, w)`` and
    the binary target on the token grid ``(h/2, w/2)`` — three panels, one row each."""
    fig, axes = plt.subplots(len(rows), 3, figsize=(7.2, 2.3 * len(rows)), squeeze=False)
    for (name, (frame, share, target)), ax in zip(rows.items(), axes, strict=True):
        ax[0].imshow(frame, interpolation="nearest")
        ax[1].imshow(share, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax[2].imshow(target, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax[0].set_ylabel(name, fontsize=9)
        titles = (f"frame {frame.shape[0]}×{frame.shape[1]}", f"face share per latent cell {share.shape[0]}×"
                  f"{share.shape[1]}", f"target on the token grid {target.shape[0]}×{target.shape[1]}")
        for a, title in zip(ax, titles, strict=True):
            a.set_xticks([]), a.set_yticks([])
            a.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_size_weight(areas: np.ndarray, plain: np.ndarray, weighted: np.ndarray):
    """Left: the size weight ``h·w / Σ M_gt`` against the face's share of the frame. Right: the loss of a head that
    says "no face" everywhere, plain BCE and size-weighted, for faces of each size."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(8.5, 2.8))
    ax0.plot(areas, 1 / areas, "o-")
    ax0.set_xlabel("face's share of the token grid"), ax0.set_ylabel("size weight h·w / Σ mask")
    ax0.set_title("the weight is the inverse face area", fontsize=9)
    ax1.plot(areas, plain, "o-", label="plain BCE")
    ax1.plot(areas, weighted, "s-", label="size-weighted BCE (HuMo Eq. 3)")
    ax1.set_xlabel("face's share of the token grid"), ax1.set_ylabel("loss")
    ax1.set_title('a head that says "no face" everywhere', fontsize=9)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mask_snapshots(frame: np.ndarray, target: np.ndarray, snapshots: dict[int, np.ndarray]):
    """A video frame, the true token-grid mask and the head's predicted face probability at several training
    steps (``snapshots``: step → ``(h, w)``), one colour scale 0–1."""
    n = len(snapshots) + 2
    fig, axes = plt.subplots(1, n, figsize=(1.7 * n, 2.1))
    axes[0].imshow(frame, interpolation="nearest")
    axes[0].set_title("frame", fontsize=8)
    axes[1].imshow(target, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_title("true mask", fontsize=8)
    for ax, (step, pred) in zip(axes[2:], snapshots.items(), strict=True):
        ax.imshow(pred, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"step {step}", fontsize=8)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_effect_pair(effects: dict[str, np.ndarray], frames: dict[str, np.ndarray], face: np.ndarray):
    """The audio effect of one latent frame ``(h, w)`` per model (one colour scale) beside its generated frame, the
    face's token cells outlined in white."""
    fig, axes = plt.subplots(2, len(effects), figsize=(3.0 * len(effects), 5.0), squeeze=False)
    vmax = max(float(e.max()) for e in effects.values()) or 1.0
    for i, (name, effect) in enumerate(effects.items()):
        axes[0, i].imshow(frames[name], interpolation="nearest")
        axes[0, i].set_title(name, fontsize=9)
        image = axes[1, i].imshow(effect, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        axes[1, i].contour(face, levels=[0.25], colors="white", linewidths=1.2)
        share = float((effect * face).sum() / max(effect.sum(), 1e-12))
        axes[1, i].set_title(f"audio's effect: {share:.0%} on the face", fontsize=8)
        for ax in axes[:, i]:
            ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(image, ax=axes[1, :].tolist(), fraction=0.046, label="‖audio output‖")
    return fig


__all__ = ["plot_effect_pair", "plot_face_masks", "plot_mask_snapshots", "plot_size_weight"]

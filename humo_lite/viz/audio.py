"""Chapter 04's pictures: audio windows on the waveform, audio tokens, what leaks without frame-locality, the
mouth against the lip law, stage 2's curves, and where the audio changes the video (with sliders)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..data.audio import WINDOW
from ..presets import FPS, SAMPLES_PER_FRAME, num_latent_frames


def latent_frame_span(i: int) -> tuple[int, int]:
    """The video frames latent frame ``i`` stands for: frame 0 alone, then frames 4i−3 … 4i (inclusive)."""
    return (0, 0) if i == 0 else (4 * i - 3, 4 * i)


def plot_windows_on_waveform(audio: np.ndarray, lips: np.ndarray, num_frames: int):
    """The waveform and the lip law over time, each latent frame's 8-frame audio window drawn as a bar below
    (its own frames solid, the ± 2 frames of context hatched)."""
    f_lat = num_latent_frames(num_frames)
    t = np.arange(num_frames * SAMPLES_PER_FRAME) / (SAMPLES_PER_FRAME * FPS)
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True, gridspec_kw={"height_ratios": [2, 1.4]})
    ax0.plot(t, audio[: len(t)], lw=0.4, color="0.4")
    twin = ax0.twinx()
    twin.step((np.arange(num_frames) + 0.5) / FPS, lips[:num_frames], where="mid", color="C3", lw=1.5)
    twin.set_ylim(-0.05, 1.05)
    twin.set_ylabel("lip law: mouth opening", color="C3", fontsize=8)
    ax0.set_ylabel("waveform", fontsize=8)
    ax0.set_title("the audio of one clip; below, the 8 video frames of audio each latent frame attends to", fontsize=9)
    for i in range(f_lat):
        lo, hi = latent_frame_span(i)
        start = 4 * i - 5  # the window's first video frame (latent 0: 3 zero slots, then frames -2 ... +2)
        y = f_lat - 1 - i
        ax1.barh(y, WINDOW / FPS, left=start / FPS, height=0.6, color=f"C{i}", alpha=0.25, hatch="//", ec=f"C{i}")
        ax1.barh(y, (hi - lo + 1) / FPS, left=lo / FPS, height=0.6, color=f"C{i}", ec="k")
        ax1.text(max(start, 0) / FPS - 0.01, y, f"z{i}", ha="right", va="center", fontsize=8)
    ax1.set_yticks([])
    ax1.set_xlim(-4 / FPS, (num_frames + 2) / FPS)
    ax1.set_xlabel("time (s); solid: the latent frame's own video frames, hatched: its window (± 2 frames)")
    fig.tight_layout()
    return fig


def plot_audio_tokens(tokens: np.ndarray, silent: np.ndarray):
    """``tokens (F', K, W)`` of one clip and the ``silent`` tokens ``(K, W)`` (all-zero window) as images, and
    each latent frame's distance from silence."""
    f_lat = len(tokens)
    fig, axes = plt.subplots(1, f_lat + 2, figsize=(1.5 * (f_lat + 2) + 1, 2.6),
                             gridspec_kw={"width_ratios": [1] * (f_lat + 1) + [1.6]})
    scale = np.abs(np.concatenate([tokens.ravel(), silent.ravel()])).max()
    for i, ax in enumerate(axes[: f_lat + 1]):
        image = tokens[i] if i < f_lat else silent
        ax.imshow(image, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
        ax.set_title(f"z{i}" if i < f_lat else "silence", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    axes[0].set_ylabel("token (K)", fontsize=8)
    distance = np.linalg.norm(tokens - silent[None], axis=(1, 2))
    axes[-1].bar(range(f_lat), distance, color=[f"C{i}" for i in range(f_lat)])
    axes[-1].set_xticks(range(f_lat), [f"z{i}" for i in range(f_lat)], fontsize=7)
    axes[-1].set_title("distance from silence", fontsize=8)
    fig.suptitle(f"audio tokens: {tokens.shape[1]} per latent frame, width {tokens.shape[2]} "
                 f"(colour: token value, one scale for all)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_band_norm(raw: dict[str, np.ndarray], normalised: dict[str, np.ndarray]):
    """Each recording's average spectrum over its frames (``{label: [frames, bands]}``), as the log-mel front end
    gives it (left) and after band normalisation (right, :func:`humo_lite.models.audio.normalise_bands`)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), sharey=True)
    for ax, spectra, title in ((axes[0], raw, "log-mel, averaged over the clip"),
                               (axes[1], normalised, "after band normalisation")):
        for i, (label, frames) in enumerate(spectra.items()):
            ax.plot(frames.mean(axis=0), color=f"C{i}", lw=1.5, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("mel band (low → high)", fontsize=8)
    axes[0].set_ylabel("mean value", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_frame_leak(changes: dict[str, np.ndarray], changed_frame: int):
    """Per latent frame, how much one block's output moved when only ``changed_frame``'s audio changed, for each
    attention in ``changes`` (name → ``(F',)``)."""
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    names = list(changes)
    width = 0.8 / len(names)
    frames = np.arange(len(next(iter(changes.values()))))
    for k, name in enumerate(names):
        ax.bar(frames + (k - (len(names) - 1) / 2) * width, changes[name], width, label=name)
    ax.axvline(changed_frame, color="k", ls=":", lw=1)
    ax.set_xticks(frames, [f"z{i}" for i in frames])
    ax.set_ylabel("max |Δ output|", fontsize=8)
    ax.set_title(f"one block, audio of z{changed_frame} changed: which latent frames' tokens move", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_mouth_vs_lips(rows: dict[str, tuple[np.ndarray, np.ndarray]], label: str = "judged mouth"):
    """One panel per row name: the judged mouth of a generated clip (or another estimate of the opening, named by
    ``label``) and the lip law of the audio it was given."""
    fig, axes = plt.subplots(1, len(rows), figsize=(4.3 * len(rows), 2.7), squeeze=False)
    for ax, (name, (mouth, lips)) in zip(axes[0], rows.items(), strict=True):
        t = np.arange(len(lips)) / FPS
        ax.plot(t, lips, color="C3", lw=2, label="lip law of its audio")
        ax.plot(t, mouth, color="C0", lw=1.5, marker="o", ms=3, label=label)
        r = np.corrcoef(mouth, lips)[0, 1] if mouth.std() > 1e-6 and lips.std() > 1e-6 else 0.0
        ax.set_title(f"{name}: r = {r:.2f}", fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.set_ylim(-0.05, 1.05)
    axes[0, 0].set_ylabel("mouth opening", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_stage2_curve(curve: list[dict], stage1_loss: float | None = None):
    """Stage 2's held-out curves over training (``manifest["curve"]``): the flow-matching loss on held-out clips
    (with stage 1's, dashed) and Sync-C-lite with own vs another clip's audio."""
    steps = [c["step"] for c in curve]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 2.8))
    ax0.plot(steps, [c["heldout_loss"] for c in curve], marker="o", label="stage 2, TIA")
    if stage1_loss is not None:
        ax0.axhline(stage1_loss, color="k", ls="--", lw=1, label="stage 1, TI")
    ax0.set_title("flow-matching loss on held-out clips (fixed noise, σ)", fontsize=9)
    ax1.plot(steps, [c["heldout_sync_c"] for c in curve], marker="o", label="own audio")
    ax1.plot(steps, [c["heldout_sync_c_shuffled"] for c in curve], marker="o", label="another clip's audio")
    ax1.set_title("held-out Sync-C-lite (quick: 16 clips, 10 steps)", fontsize=9)
    for ax in (ax0, ax1):
        ax.set_xlabel("training step", fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_audio_effect(effect: np.ndarray, frame: np.ndarray, face: np.ndarray | None = None,
                      vmax: float | None = None, title: str = "", weights: np.ndarray | None = None):
    """One latent frame's audio effect ``(h, w)`` (norm of the audio cross-attention's output per token) beside
    the video ``frame (H, W, 3)`` it belongs to, the face's token cells outlined when ``face (h, w)`` is given;
    with ``weights (h, w, K)`` a third panel: each video token's attention weights over the frame's K audio
    tokens (rows: video tokens, row by row; face tokens marked)."""
    panels = 3 if weights is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(3.4 * panels, 3.0))
    ax0, ax1 = axes[:2]
    ax0.imshow(frame, interpolation="nearest")
    ax0.set_title("generated frame", fontsize=8)
    image = ax1.imshow(effect, cmap="viridis", vmin=0, vmax=vmax or float(effect.max()) or 1.0,
                       interpolation="nearest")
    if face is not None:
        ax1.contour(face, levels=[0.25], colors="white", linewidths=1.2)
    ax1.set_title("audio's effect per token (white: face)", fontsize=8)
    for ax in (ax0, ax1):
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(image, ax=ax1, fraction=0.046, label="‖audio cross-attention output‖")
    if weights is not None:
        rows = weights.reshape(-1, weights.shape[-1])  # (h*w, K)
        shown = axes[2].imshow(rows, cmap="magma", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        if face is not None:
            on_face = np.flatnonzero(face.ravel() >= 0.25)
            axes[2].plot(np.full(len(on_face), -0.5), on_face, ">", color="white", ms=4, clip_on=False)
        axes[2].set_xlabel("audio token (K)", fontsize=8)
        axes[2].set_ylabel("video token (▸ face)", fontsize=8)
        axes[2].set_title("attention weights, 0–1", fontsize=8)
        fig.colorbar(shown, ax=axes[2], fraction=0.046)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def audio_effect_slider(effect: np.ndarray, video: np.ndarray, face: np.ndarray, sigmas=None, row: int = -1,
                        weights: np.ndarray | None = None):
    """An ipywidgets panel over :func:`plot_audio_effect`: sliders for denoising step, block and latent frame, one
    colour scale for every position. ``effect (calls, rows, blocks, F', h, w)``, ``video (F, H, W, 3)``, ``face
    (F', h, w)``, optional ``weights (calls, rows, blocks, F', h, w, K)``; ``row``: the guidance branch shown
    (default the last, the one with every condition)."""
    import ipywidgets as widgets
    from IPython.display import display

    calls, _, blocks, f_lat = effect.shape[:4]
    vmax = float(effect[:, row].max())
    out = widgets.Output()

    def draw(step: int, block: int, latent: int) -> None:
        with out:
            out.clear_output(wait=True)
            noise = f" (σ = {float(sigmas[step]):.2f})" if sigmas is not None else ""
            title = f"step {step} of {calls - 1}{noise}, block {block} of {blocks - 1}, latent frame z{latent}"
            plot_audio_effect(effect[step, row, block, latent], video[latent_frame_span(latent)[1]], face[latent],
                              vmax=vmax, title=title,
                              weights=None if weights is None else weights[step, row, block, latent])
            plt.show()

    step = widgets.IntSlider(value=calls - 1, min=0, max=calls - 1, description="step")
    block = widgets.IntSlider(value=blocks - 1, min=0, max=blocks - 1, description="block")
    latent = widgets.IntSlider(value=f_lat // 2, min=0, max=f_lat - 1, description="latent frame")
    widgets.interactive_output(draw, {"step": step, "block": block, "latent": latent})
    panel = widgets.VBox([widgets.HBox([step, block, latent]), out])
    display(panel)
    return panel


def plot_sync_by_speech(rows: dict[str, dict], target: float = 0.6):
    """Lip sync split by what was spoken (:func:`humo_lite.eval.sync_check.sync_by_speech`): ``rows`` maps a label
    (a model and pool) to its ``by_speech`` dict. Left: the Sync-C-lite margin over chance as a share of the
    reconstruction's (± std over seeds), the target dashed; right: r between the judged mouth and the lip law."""
    kinds = sorted({kind for row in rows.values() for kind in row})
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.9), layout="constrained")
    width = 0.8 / max(1, len(kinds))
    x = np.arange(len(rows))
    for k, kind in enumerate(kinds):
        parts = [row.get(kind, {}).get("generated", {}) for row in rows.values()]
        share = [np.nan if p.get("margin_share") is None else p["margin_share"] for p in parts]
        spread = [0.0 if p.get("margin_share_std") is None else p["margin_share_std"] for p in parts]
        axes[0].bar(x + k * width, share, width, yerr=spread, capsize=3, label=kind, color=f"C{k}")
        axes[1].bar(x + k * width, [p.get("r_within_clip", np.nan) for p in parts], width, color=f"C{k}")
    axes[0].axhline(target, color="k", ls="--", lw=1, label=f"target {target}")
    axes[0].set_ylabel("margin over chance,\nshare of reconstruction's", fontsize=8)
    axes[1].set_ylabel("r, mouth vs lip law", fontsize=8)
    axes[1].set_ylim(top=1)
    for ax in axes:
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(x + width * (len(kinds) - 1) / 2, list(rows), fontsize=8)
    axes[0].legend(fontsize=7)
    return fig


__all__ = ["audio_effect_slider", "latent_frame_span", "plot_audio_effect", "plot_audio_tokens", "plot_band_norm",
           "plot_frame_leak", "plot_mouth_vs_lips", "plot_stage2_curve", "plot_sync_by_speech",
           "plot_windows_on_waveform"]

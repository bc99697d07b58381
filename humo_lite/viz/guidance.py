"""Chapter 07's pictures: each guidance branch's clean estimate, clips side by side with sound, the switch-σ
sweep as curves, and a panel that regenerates a clip from three scales and a switch σ (HuMo §3.4)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .media import video_player

TERMS = {"text adds": ("T", "∅"), "image adds": ("TI", "T"), "audio adds": ("TIA", "TI")}
"""What each term of Eq. 4 adds: the difference between a branch and the one before it."""


def plot_branch_x0(record: dict, frame: int | None = None):
    """Rows: each Eq. 4 branch's decoded clean estimate (:func:`humo_lite.eval.branches.branch_x0`), the guided one, and
    ``|Δ|`` of each term (mean over colour, one colour scale for the whole figure); columns: the recorded σ."""
    sigmas = record["sigmas"]
    frame = record["guided"].shape[1] // 2 if frame is None else frame
    diffs = {name: np.abs(record["x0"][a][:, frame] - record["x0"][b][:, frame]).mean(-1)
             for name, (a, b) in TERMS.items()}
    vmax = max(float(d.max()) for d in diffs.values()) or 1.0
    rows = [*record["branches"], "guided", *diffs]
    fig, axes = plt.subplots(len(rows), len(sigmas), figsize=(1.3 * len(sigmas) + 1.2, 1.2 * len(rows)),
                             squeeze=False, layout="constrained")
    for j, sigma in enumerate(sigmas):
        axes[0, j].set_title(f"σ = {sigma:.2f}", fontsize=8)
        for i, row in enumerate(rows):
            ax = axes[i, j]
            if row in diffs:
                im = ax.imshow(diffs[row][j], cmap="magma", vmin=0, vmax=vmax)
            else:
                ax.imshow((record["guided"] if row == "guided" else record["x0"][row])[j, frame])
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(row if row in diffs else f"x̂₀ {row}", fontsize=8)
    fig.colorbar(im, ax=axes[len(rows) - len(diffs):, :].ravel().tolist(), shrink=0.8,
                 label="|Δ| (pixels, shared scale)")
    return fig


def clips_player(videos: dict[str, np.ndarray], audio: np.ndarray | None = None, scale: int = 6):
    """Labelled players in one row (each with ``audio`` as its sound track): compare clips side by side."""
    from IPython.display import HTML

    cells = "".join(f"<figure style='margin:0'>{video_player(v, audio, scale=scale).data}"
                    f"<figcaption style='font-size:80%'>{name}</figcaption></figure>" for name, v in videos.items())
    return HTML(f"<div style='display:flex;flex-wrap:wrap;gap:10px'>{cells}</div>")


def plot_switch_sweep(points: list[tuple[float, dict]], num_steps: int, metrics=("TVA-lite", "ID-lite",
                                                                                 "Sync-C-lite")):
    """Each metric's ratio to the reconstruction ceiling (mean ± std over seeds) against how many of the
    ``num_steps`` steps use A's weights before the switch. ``points``: ``(steps with A, ratios)``, sorted."""
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    x = [p[0] for p in points]
    for k, metric in enumerate(metrics):
        mean = [p[1][metric]["mean"] for p in points]
        std = [p[1][metric]["std"] for p in points]
        ax.errorbar(x, mean, yerr=std, marker="os^D"[k % 4], capsize=3, label=metric)
    ax.set_xlabel(f"steps guided with A before the switch (of {num_steps}; 0 = static B, {num_steps} = static A)")
    ax.set_ylabel("÷ reconstruction ceiling")
    ax.legend(fontsize=8)
    return fig


def frames_strip(frames: np.ndarray, count: int = 6):
    """``count`` frames of a clip ``(F, H, W, 3)`` in [0, 1], evenly spaced, in a row (a figure)."""
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    fig, axes = plt.subplots(1, count, figsize=(1.3 * count, 1.5), layout="constrained")
    for ax, i in zip(axes, picks, strict=True):
        ax.imshow(np.clip(frames[i], 0, 1), interpolation="nearest")
        ax.set_title(f"frame {i}", fontsize=8)
        ax.axis("off")
    return fig


def guidance_slider(generate, formula, scales=(5.0, 5.0, 5.5), switch_sigma: float = 0.98):
    """An ipywidgets panel: text, image and audio scales and the switch σ; *generate* calls
    ``generate(text, image, audio, switch_sigma)`` (a clip ``(F, H, W, 3)`` and its audio) and shows it — the
    formula ``formula(text, image, audio, switch_sigma)``, six of its frames, and the clip with its sound. It opens
    with the clip of the starting values; the button makes the clip of the values set."""
    import ipywidgets as widgets
    from IPython.display import display

    sliders = [widgets.FloatSlider(value=v, min=1.0, max=9.0, step=0.5, description=n)
               for n, v in zip(("text", "image", "audio"), scales, strict=True)]
    switch = widgets.FloatSlider(value=switch_sigma, min=0.5, max=0.999, step=0.01, description="switch σ",
                                 readout_format=".3f")
    button, out = widgets.Button(description="generate"), widgets.Output()

    def run(_=None) -> None:
        values = [s.value for s in sliders] + [switch.value]
        with out:
            out.clear_output(wait=True)
            print(formula(*values))
            frames, audio = generate(*values)
            strip = frames_strip(frames)
            display(strip)
            plt.close(strip)
            display(video_player(frames, audio))

    button.on_click(run)
    run()
    panel = widgets.VBox([widgets.HBox(sliders), widgets.HBox([switch, button]), out])
    display(panel)
    return panel


def ratio_table(summary: dict, rows=None, metrics=("TVA-lite", "ID-lite", "Sync-C-lite", "Sync-D-lite")):
    """Rows of a schedule comparison (:func:`humo_lite.eval.guidance_check.summarise`) as a Markdown table of ratios
    to the reconstruction ceiling, mean ± std over seeds; ``—`` where a mode has no such metric."""
    from IPython.display import Markdown

    header = "| row | mode | " + " | ".join(f"{m} ÷ recon" for m in metrics) + " |"
    lines = [header, "|---|---|" + "---|" * len(metrics)]
    for name in rows or summary:
        ratios = summary[name]["ratios"]
        cells = [f"{ratios[m]['mean']:.3f} ± {ratios[m]['std']:.3f}" if m in ratios else "—" for m in metrics]
        lines.append(f"| {name} | {summary[name]['mode']} | " + " | ".join(cells) + " |")
    return Markdown("\n".join(lines))

__all__ = ["TERMS", "clips_player", "frames_strip", "guidance_slider", "plot_branch_x0", "plot_switch_sweep",
           "ratio_table"]

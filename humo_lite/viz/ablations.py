"""Ablations drawn: every training seed as a dot, mean ± std beside it; curves over training with their spread."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def plot_ablation_dots(table: dict, runs: list[str], scores: list[str],
                       p_values: dict[str, float | None] | None = None):
    """One panel per score: for each run, its seeds' values as dots and their mean ± std as a bar. ``table`` is
    run → score → ``{"values", "mean", "std"}`` (:func:`humo_lite.stage2_ablations.summarise`); ``p_values``
    (score → paired test) go into the panel titles."""
    fig, axes = plt.subplots(1, len(scores), figsize=(2.5 * len(scores), 3.0), squeeze=False)
    for ax, score in zip(axes[0], scores, strict=True):
        for i, run in enumerate(runs):
            entry = table[run].get(score)
            if not entry:
                continue
            values = np.asarray(entry["values"])
            ax.plot(np.full(len(values), i) + np.linspace(-0.08, 0.08, len(values)), values, "o", alpha=0.7)
            ax.errorbar(i + 0.25, entry["mean"], yerr=entry["std"] or 0, fmt="_", color="black", capsize=4, ms=12)
        ax.set_xticks(range(len(runs)), [r.replace(", ", ",\n") for r in runs], fontsize=7)
        p = (p_values or {}).get(score)
        ax.set_title(score + (f"\npaired p = {p:.2f}" if p is not None else ""), fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlim(-0.5, len(runs) - 0.3)
    fig.tight_layout()
    return fig


def plot_curves(curves: dict[str, list[list[dict]]], keys: dict[str, str], offsets: dict[str, int] | None = None,
                marks: dict[str, float] | None = None):
    """Held-out curves over training, one panel per ``keys`` entry (curve key → title): for each name, the mean over
    its runs (one curve per seed, each a list of ``{"step", key: value}``) and the band of ± std; ``offsets`` shift a
    name's steps (a stage that starts later); ``marks`` draw vertical lines (label → step)."""
    cols = min(len(keys), 2)
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    for ax, (key, title) in zip(axes.ravel(), keys.items(), strict=False):
        for name, runs in curves.items():
            runs = [[p for p in run if key in p] for run in runs if run]
            runs = [r for r in runs if r]
            if not runs:
                continue
            steps = np.array([p["step"] for p in runs[0]]) + (offsets or {}).get(name, 0)
            n = min(len(r) for r in runs)
            values = np.array([[p[key] for p in r[:n]] for r in runs])
            mean, std = values.mean(0), values.std(0)
            ax.plot(steps[:n], mean, "o-", ms=3, label=name)
            ax.fill_between(steps[:n], mean - std, mean + std, alpha=0.2)
        for label, step in (marks or {}).items():
            ax.axvline(step, color="gray", ls=":", lw=1, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_table3(table: dict, metrics: list[str]):
    """One panel per metric: for each variant, the relative difference to HuMo's recipe in the toy (each seed a dot,
    the mean ± std a bar) and in the paper (a diamond). Left of zero: the variant is worse on that metric."""
    variants = list(table)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 0.9 + 0.8 * len(variants)), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, variant in enumerate(variants):
            entry = table[variant].get(metric)
            if entry is None:
                continue
            base = entry["humo_mean"]
            per_seed = (np.asarray(entry["variant"]) - np.asarray(entry["humo"])) / base * 100
            ax.plot(per_seed, np.full(len(per_seed), i) + np.linspace(-0.1, 0.1, len(per_seed)), "o", alpha=0.6,
                    color="C0", label="toy, per seed" if i == 0 else None)
            ax.errorbar(entry["relative"] * 100, i - 0.25, xerr=entry["difference_std"] / base * 100, fmt="s",
                        color="C0", ms=4, capsize=3, label="toy, mean ± std" if i == 0 else None)
            if "paper_relative" in entry:
                ax.plot(entry["paper_relative"] * 100, i + 0.25, "D", color="C3", label="paper" if i == 0 else None)
        ax.axvline(0, color="gray", lw=0.8)
        ax.set_yticks(range(len(variants)), [v.replace("without ", "w/o ") for v in variants], fontsize=7)
        ax.set_ylim(-0.6, len(variants) - 0.4)
        ax.set_xlabel("variant vs HuMo's recipe (%)", fontsize=8)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def plot_reproduction(numbers: dict[str, dict], names: dict[str, str]):
    """One panel per rebuilt stage: its key number as each training of the recipe gave it (the shipped checkpoint
    hollow, another seed of one stage a dot, a whole chain rebuilt with another seed a square), the shaded band the
    reproduction had to land in (the shipped number ± the range of those trainings) and the rebuilt number (a cross;
    a plus: read by the shipped judge). ``numbers``: the ``numbers`` of a reproduction's record; a stage no second
    training was measured for has no band. ``names``: the panels, in order (stage -> what its number is)."""
    stages = list(names)
    fig, axes = plt.subplots(1, len(stages), figsize=(2.1 * len(stages), 2.5), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        n = numbers[stage]
        seeds = n["seeds"]  # training -> value, the shipped one first
        if len(seeds) > 1:
            spread = max(seeds.values()) - min(seeds.values())
            ax.axhspan(n["shipped"] - spread, n["shipped"] + spread, color="C2", alpha=0.15, label="shipped ± range")
        for k, (training, value) in enumerate(seeds.items()):
            chain = "whole chain" in training
            ax.plot(0.15 if chain else 0, value, "s" if chain else "o", color="C0", alpha=0.8,
                    mfc="none" if k == 0 else "C0",
                    label="shipped" if k == 0 else "another seed, whole chain" if chain else "another seed, one stage")
        if n["reproduced"] is not None:
            ax.plot(1, n["reproduced"], "x", color="C3", ms=9, mew=2, label="rebuilt, its own judge")
        if n.get("reproduced_shipped_judge") is not None:
            ax.plot(1.25, n["reproduced_shipped_judge"], "+", color="C1", ms=10, mew=2, label="rebuilt, shipped judge")
        ax.set_xlim(-0.8, 1.8)
        ax.set_xticks([0, 1], ["seeds", "rebuilt"], fontsize=7)
        ax.set_title(f"{stage}\n{names[stage]}", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    legend = {label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(legend.values(), legend.keys(), fontsize=7, loc="lower center", ncol=4)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


__all__ = ["plot_ablation_dots", "plot_curves", "plot_reproduction", "plot_table3"]

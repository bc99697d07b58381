"""Chapter 03's ablations: self-attention only (HuMo) vs full fine-tuning, and the reference first.

Each variant is the shipped stage-1 recipe (:func:`humo_lite.recipes.train_stage1`, same data, steps and
evaluation) with one thing changed, trained for each seed from the same shipped stage 0
(:func:`train_variants`). Runs resume, each in its own folder, and a run that already finished is read from
its manifest, not trained or scored again. The results file (``data_samples/ablations/stage1.json``) holds
every run's record and, per variant, mean ± std over the seeds (:func:`write_results`). Files written by
several processes are joined with :func:`merge_results`; runs scored by an older stage-1 check are scored
again with today's by :func:`rescore_results`. ``scripts/stage1_ablations.py`` is the command line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .io import write_json
from .pipeline import HuMoLitePipeline
from .recipes import STAGE1_CHECK_GUIDANCE, Stage1Config, stage1_checks, stage1_config, train_stage1

VARIANTS = {
    "self-attention only (HuMo)": {"stage": "stage1"},
    "full fine-tuning": {"stage": "full"},
    "reference first": {"stage": "stage1", "reference_position": "before"},
}
"""Variant name → the :class:`~humo_lite.recipes.Stage1Config` fields that make it."""

SCORES = {"ID-lite": ("TI", "id_lite"), "retrieval top-1": ("TI", "retrieval_top1"),
          "TVA-lite (TI)": ("TI", "judge", "tva_lite"), "TVA-lite (T)": ("T", "judge", "tva_lite"),
          "background + clothing (TI, pixels)": ("TI", "pixels", "both")}
"""Summary name → where the number sits in a run's stage-1 check."""


def _score(metrics: dict, path: tuple) -> float:
    for key in path:
        metrics = metrics[key]
    return float(metrics)


def run_folder(out: str | os.PathLike, variant: str, seed: int) -> Path:
    """Where a variant's run for one seed trains: ``out/<stage>-<reference position>-seed<N>``."""
    options = VARIANTS[variant]
    return Path(out) / f"{options['stage']}-{options.get('reference_position', 'after')}-seed{seed}"


def train_variants(preset: str, variants: list[str], seeds: list[int], out: str | os.PathLike,
                   first_seed_only: tuple[str, ...] = ("reference first",), steps: int | None = None,
                   num_clips: int = 1500, eval_clips: int = 48, command: str = "") -> list[dict]:
    """Train (or read back) each variant for each seed (``first_seed_only`` variants: the first seed only);
    one record per run: variant, seed, folder, wall time, final loss, trainable share, the stage-1 check."""
    runs = []
    for variant in variants:
        for seed in seeds[:1] if variant in first_seed_only else seeds:
            folder = run_folder(out, variant, seed)
            config = stage1_config(seed=seed, **({"steps": steps} if steps else {}))
            print(f"== {variant}, seed {seed} -> {folder}", flush=True)
            manifest = finished_run(folder, config)
            if manifest is None:
                manifest = train_stage1(preset, out_dir=folder, config=Stage1Config(
                    config, num_clips=num_clips, eval_clips=eval_clips, **VARIANTS[variant]), command=command)
            runs.append({"variant": variant, "seed": seed, "folder": str(folder),
                         "wall_time_s": manifest["wall_time_s"], "final_loss": manifest["final_loss"],
                         "trainable_share": manifest["trainable"]["share"], "metrics": manifest["metrics"]})
    return runs


def scored_with_check(metrics: dict, num_clips: int) -> bool:
    """Whether a run's ``metrics`` came from today's stage-1 check: same modes, clips and guidance scales."""
    if set(metrics) != set(STAGE1_CHECK_GUIDANCE):
        return False
    return all(metrics[mode]["num_clips"] == num_clips and metrics[mode]["guidance"] == scales["guidance_scale"]
               and metrics[mode].get("image_guidance") == scales.get("image_guidance_scale")
               for mode, scales in STAGE1_CHECK_GUIDANCE.items())


def finished_run(folder: Path, config) -> dict | None:
    """The manifest of a run that already finished with ``config`` (its record kept as it was written:
    training again would only re-score it and overwrite its wall time with the resume's), else None."""
    path = folder / "pipeline" / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    keys = ("steps", "lr", "seed", "batch_size")
    return manifest if all(manifest["config"][k] == getattr(config, k) for k in keys) else None


def rescore_results(path: str | os.PathLike, preset: str, eval_clips: int, command: str) -> dict:
    """Score again, with today's stage-1 check, every run of the results file ``path`` that another check scored
    (its old numbers kept as ``metrics_at_training``); rewrite the file. Returns the summary."""
    results = json.loads(Path(path).read_text())
    for run in results["runs"]:
        if scored_with_check(run["metrics"], eval_clips):
            continue
        pipe = HuMoLitePipeline.from_pretrained(Path(run["folder"]) / "pipeline")
        pipe.set_progress_bar_config(disable=True)
        run.setdefault("metrics_at_training", run["metrics"])
        run["metrics"] = stage1_checks(pipe, eval_clips, run["seed"], preset, progress=False)
        print(f"rescored {run['folder']}: TI ID-lite {run['metrics']['TI']['id_lite']:.3f}", flush=True)
    variants = list(dict.fromkeys(r["variant"] for r in results["runs"]))
    return write_results(path, preset, results["runs"], variants,
                         {"command": results["command"], "rescored_with": command,
                          **({"merged": results["merged"]} if "merged" in results else {})})


def merge_results(inputs: list[str | os.PathLike], path: str | os.PathLike, preset: str, command: str) -> dict:
    """The runs of several results files (e.g. one per process) written as one, summarised again."""
    files = [json.loads(Path(p).read_text()) for p in inputs]
    runs = [run for r in files for run in r["runs"]]
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    rescored = [r["rescored_with"] for r in files if "rescored_with" in r]
    return write_results(path, preset, runs, variants, {"command": command, "merged": [r["command"] for r in files],
                                                        **({"rescored_with": rescored} if rescored else {})})


def write_results(path: str | os.PathLike, preset: str, runs: list[dict], variants: list[str], how: dict) -> dict:
    """Per variant, mean ± std over its seeds of each of :data:`SCORES`; written with every run's record.
    Returns the summary."""
    summary = {}
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant and r["metrics"]]
        summary[variant] = {"seeds": [r["seed"] for r in mine]}
        for name, keys in SCORES.items():
            if all(keys[0] in r["metrics"] for r in mine) and mine:
                values = np.array([_score(r["metrics"], keys) for r in mine])
                summary[variant][name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))
                                          if len(values) > 1 else None, "values": values.tolist()}
    write_json(path, {"preset": preset, **how, "summary": summary, "runs": runs})
    return summary


__all__ = ["SCORES", "VARIANTS", "finished_run", "merge_results", "rescore_results", "run_folder",
           "scored_with_check", "train_variants", "write_results"]

"""Chapters 05 and 06's ablations: focus-by-predicting on or off, and progressive vs joint training.

Every run is a recipe of :mod:`humo_lite.recipes` with one thing changed, for each training seed:

==============================  ======================================================================
run                             what trains
==============================  ======================================================================
``stage 1``                     stage 1 from the shipped stage 0, ``stage1_steps`` steps (shared below)
``progressive, focus (HuMo)``   that stage 1 → stage 2 with focus-by-predicting, ``stage2_steps`` steps
``progressive, no focus``       that stage 1 → stage 2 without the mask head, the same steps and data
``joint, focus``                one stage from the shipped stage 0: reference and audio learned together,
                                at stage 2's final task mix (50 % audio triplets, no ramp), the same
                                trainable set (self-attention + audio modules + mask head) and data, for
                                ``stage1_steps + stage2_steps`` steps
==============================  ======================================================================

So "with vs without focus" compares the two progressive runs (paired: one stage 1 per seed), and
"progressive vs joint" compares ``progressive, focus`` with ``joint, focus`` at the same total steps. Each
run is scored on the test pool (``heldout_voice``: held-out people speaking held-out recordings) by
:func:`ablation_check`. The focus loss weight is chosen first, on the validation pool, by
:func:`select_focus_weight`. Runs resume, each in its own folder with its ``check.json``, so several
processes can share the seeds and :func:`summarise` reads every folder at the end.
``scripts/stage2_ablations.py`` is the command line.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .eval.audio_focus import audio_face_share
from .eval.heldout_loss import heldout_data
from .eval.judge import load_judge
from .eval.mask_check import heldout_mask_check
from .eval.sync_check import heldout_sync_check, heldout_voice_clips
from .io import write_json
from .models.focus import FaceMaskHead
from .pipeline import HuMoLitePipeline
from .recipes import (
    MASK_HEAD_FOLDER,
    Stage1Config,
    Stage2Config,
    stage1_config,
    stage2_config,
    train_stage1,
    train_stage2,
)
from .shipped import default_checkpoint
from .table3 import compare

RUNS = ("stage 1", "progressive, focus (HuMo)", "progressive, no focus", "joint, focus")
"""The runs trained for every seed (see the module docstring)."""
COMPARISONS = {"focus-by-predicting": ("progressive, focus (HuMo)", "progressive, no focus", "paired"),
               "progressive training": ("progressive, focus (HuMo)", "joint, focus", "paired")}
"""Ablation → (HuMo's run, the ablated run, the test): paired by training seed."""
SCORES = {"Sync-C-lite / recon": ("ratios", "sync_c"), "Sync-D-lite / recon": ("ratios", "sync_d"),
          "Sync-C margin share": ("ratios", "sync_c_margin_share"), "r within clip": ("mean", "r_within_clip"),
          "ID-lite": ("mean", "id_lite"), "TVA-lite": ("mean", "tva_lite"),
          "audio effect on face": ("focus", "face_share"), "mask IoU": ("mask", "iou")}
"""Summary name → where the number sits in a run's :func:`ablation_check`."""


def run_folder(out: str | os.PathLike, run: str, seed: int) -> Path:
    """``out/<run as a slug>-seed<N>``."""
    slug = run.replace(" (HuMo)", "").replace(", ", "-").replace(" ", "")
    return Path(out) / f"{slug}-seed{seed}"


def load_mask_head(folder: str | os.PathLike) -> FaceMaskHead | None:
    """The mask head saved beside a stage-2 pipeline (``<folder>/mask_head``), or None if it has none."""
    path = Path(folder) / MASK_HEAD_FOLDER
    return FaceMaskHead.from_pretrained(path) if path.is_dir() else None


def ablation_check(folder: str | os.PathLike, preset: str, num_clips: int = 48, pool: str = "heldout_voice",
                   judge=None) -> dict:
    """A stage-2 pipeline folder scored on ``num_clips`` clips of ``pool`` (TIA, the default guidance, sampling
    seed 0): lip sync as ratios to the reconstruction ceiling, ID-lite, TVA-lite; the audio effect's share on
    the face (16 clips); and the mask head's IoU, when the folder has one."""
    pipe = HuMoLitePipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    judge = load_judge(judge)
    check = heldout_sync_check(pipe, num_clips=num_clips, seeds=(0,), mode="TIA", progress=False, judge=judge,
                               preset=preset, pool=pool)
    out = {"pool": pool, "ratios": check["ratios"], "mean": check["mean"], "ceilings": check["ceilings"]}
    out["focus"] = audio_face_share(pipe, heldout_voice_clips(16, preset, pool=pool), num_inference_steps=20)
    head = load_mask_head(folder)
    if head is not None:
        out["mask"] = heldout_mask_check(pipe.transformer, head, heldout_data(pipe, pool, num_clips, preset))
    return out


def _checked(folder: Path, make, check) -> dict:
    """The run in ``folder``: trained by ``make()`` unless its pipeline exists, scored by ``check(pipeline)``
    unless ``check.json`` exists; returns the check."""
    pipeline, result = folder / "pipeline", folder / "check.json"
    if not (pipeline / "manifest.json").is_file():
        make()
    if not result.is_file():
        manifest = json.loads((pipeline / "manifest.json").read_text())
        start = time.perf_counter()
        scores = check(pipeline)
        write_json(result, {"check": scores, "check_time_s": round(time.perf_counter() - start, 1),
                            "wall_time_s": manifest["wall_time_s"], "curve": manifest.get("curve"),
                            "task": manifest.get("task"), "machine": manifest.get("machine")})
    return json.loads(result.read_text())


def select_focus_weight(preset: str, weights: list[float], steps: int, out: str | os.PathLike,
                        num_clips: int = 48, seed: int = 0, command: str = "") -> dict:
    """Stage 2 with focus-by-predicting at each weight from the shipped stage 1 (``steps`` steps, seed
    ``seed``), each scored on the **validation** pool (identities and recordings apart from training and
    test). Choice: the highest validation Sync-C-lite margin share."""
    rows = {}
    for weight in weights:
        folder = Path(out) / f"select-w{weight:g}-seed{seed}"
        config = Stage2Config(stage2_config(steps=steps, seed=seed), eval_clips=0, curve=False, focus_weight=weight)
        rows[weight] = _checked(folder, lambda f=folder, c=config: train_stage2(preset, out_dir=f, config=c,
                                                                                command=command, progress=False),
                                lambda p: ablation_check(p, preset, num_clips, pool="validation"))
    best = max(rows, key=lambda w: rows[w]["check"]["ratios"]["sync_c_margin_share"])
    return {"rule": "highest validation Sync-C-lite margin share", "chosen": best, "steps": steps,
            "pool": "validation", "runs": {f"{w:g}": r for w, r in rows.items()}}


def train_runs(preset: str, seeds: list[int], out: str | os.PathLike, stage1_steps: int, stage2_steps: int,
               focus_weight: float, num_clips: int = 48, runs=RUNS, curve_every: int = 200,
               command: str = "") -> None:
    """Train (or read back) and score ``runs`` for each seed (module docstring)."""
    for seed in seeds:
        stage1 = run_folder(out, "stage 1", seed)
        s1 = Stage1Config(stage1_config(steps=stage1_steps, seed=seed), eval_clips=0, curve_every=curve_every)
        s2 = Stage2Config(stage2_config(steps=stage2_steps, seed=seed), eval_clips=0, curve_every=curve_every,
                          focus_weight=focus_weight)
        joint = replace(s2, train=stage2_config(steps=stage1_steps + stage2_steps, seed=seed), share_start=0.5,
                        share_end=0.5, ramp_steps=0)
        plans = {
            "stage 1": (lambda f=stage1, c=s1: train_stage1(preset, out_dir=f, config=c, command=command,
                                                            progress=False), None),
            "progressive, focus (HuMo)": (s2, stage1 / "pipeline"),
            "progressive, no focus": (replace(s2, focus_weight=0.0), stage1 / "pipeline"),
            "joint, focus": (joint, default_checkpoint(preset, 0)),
        }
        for run in runs:
            folder = run_folder(out, run, seed)
            print(f"== {run}, seed {seed} -> {folder}", flush=True)
            plan, start = plans[run]
            if run == "stage 1":
                if not (stage1 / "pipeline" / "manifest.json").is_file():
                    plan()
                continue
            _checked(folder, lambda c=plan, s=start, f=folder: train_stage2(preset, s, f, c, command=command,
                                                                            progress=False),
                     lambda p: ablation_check(p, preset, num_clips))


def _score(check: dict, path: tuple) -> float | None:
    for key in path:
        if not isinstance(check, dict) or key not in check:
            return None
        check = check[key]
    return float(check)


def summarise(out: str | os.PathLike, path: str | os.PathLike, preset: str, how: dict) -> dict:
    """Every scored run under ``out``: per run mean ± std over seeds of :data:`SCORES`; per comparison the
    difference (HuMo's run − the ablated one) per seed, its mean and the paired t-test's p-value."""
    records = {}
    for run in RUNS[1:]:
        for result in sorted(Path(out).glob(f"{run_folder(out, run, 0).name[:-1]}*/check.json")):
            seed = int(result.parent.name.rsplit("seed", 1)[1])
            records.setdefault(run, {})[seed] = json.loads(result.read_text())
    table = {run: {name: _stats([_score(r["check"], keys) for r in by_seed.values()]) for name, keys in
                   SCORES.items()} | {"seeds": sorted(by_seed)} for run, by_seed in records.items()}
    tests = {name: _compare(records, a, b) for name, (a, b, _) in COMPARISONS.items()}
    stage1 = {}  # the progressive runs' first stage: its held-out curve and time, per seed
    for manifest in sorted(Path(out).glob(f"{run_folder(out, 'stage 1', 0).name[:-1]}*/pipeline/manifest.json")):
        record = json.loads(manifest.read_text())
        stage1[record["seed"]] = {"curve": record.get("curve"), "wall_time_s": record["wall_time_s"],
                                  "steps": record["config"]["steps"]}
    seconds = {"training": sum(s["wall_time_s"] for s in stage1.values()) + sum(
        r["wall_time_s"] for by_seed in records.values() for r in by_seed.values()),
        "checks": sum(r.get("check_time_s") or 0 for by_seed in records.values() for r in by_seed.values())}
    how = {**how, "time_s": {**seconds, "total": seconds["training"] + seconds["checks"],
                             "note": "each run on one core (OMP_NUM_THREADS=1); training includes latent caching "
                                     "and the curve"}}
    write_json(path, {"preset": preset, **how, "table": table, "comparisons": tests, "stage1": stage1,
                      "runs": {run: {str(s): r for s, r in by_seed.items()} for run, by_seed in records.items()}})
    return {"table": table, "comparisons": tests}


def _stats(values: list) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    a = np.array(values)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else None, "values": a.tolist()}


def _compare(records: dict, ours: str, ablated: str) -> dict:
    """Per score: HuMo's run minus the ablated run, paired by seed; mean, std and the paired t-test."""
    seeds = sorted(set(records.get(ours, {})) & set(records.get(ablated, {})))
    out = {"runs": [ours, ablated], "seeds": seeds}
    for name, keys in SCORES.items():
        a = [_score(records[ours][s]["check"], keys) for s in seeds]
        b = [_score(records[ablated][s]["check"], keys) for s in seeds]
        if len(seeds) < 2 or None in a or None in b:
            continue
        paired = compare(a, b)  # the one paired test the toy's Table 3 uses too
        diff = np.array(a) - np.array(b)
        out[name] = {"difference": diff.tolist(), "mean": paired["difference"], "std": paired["difference_std"],
                     "p_value": paired["p_value"]}
    return out


__all__ = ["COMPARISONS", "RUNS", "SCORES", "ablation_check", "load_mask_head", "run_folder", "select_focus_weight",
           "summarise", "train_runs"]

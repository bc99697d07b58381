"""Chapter 07's numbers: guidance schedules on the shipped stage 2, as ratios to the reconstruction ceiling.

Static A (text-heavy) and static B (audio/image-heavy) are chosen on the ``validation`` pool — people and
recordings that neither train nor test the model — never on the test clips; then every row of
:func:`humo_lite.eval.guidance_check.schedule_rows` (static A, static B, adaptive as the paper writes it, the
released 17B and 1.7B forms, a sweep of the switch σ, and the default guidance in T, TI, TA and TIA) is scored on
the first ``--clips`` clips of ``heldout_voice`` for each sampling seed. The logic is
:mod:`humo_lite.eval.guidance_check`; this is its command line.

    python scripts/stage2_guidance_schedules.py                    # 48 clips x 3 seeds (about 35 min on one core)
    python scripts/stage2_guidance_schedules.py --preset humo-nano --clips 8 --seeds 0 --val-clips 8 \\
        --results outputs/guidance-nano.json                        # a quick check (about 1 min)

The results file is written after every (row, seed), so a stopped run resumes where it stopped; a row already
scored for a seed with the same formula is read back, not scored again. Entries of another checkpoint (its
SHA-256, from its manifest), clip count or step count are dropped. Several processes (give each some ``--rows``
and its own ``--results``) are joined with ``--merge``. Writes
``data_samples/ablations/stage2_guidance_schedules.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from humo_lite.eval import load_judge
from humo_lite.eval.guidance_check import ceiling as reconstruction_ceiling
from humo_lite.eval.guidance_check import choose_static, ratio_summary, schedule_rows, score_row
from humo_lite.eval.sync_check import heldout_voice_clips
from humo_lite.io import read_json, sha256_file, write_json
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import default_checkpoint, relative_path

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


def checkpoint_sha256(folder: Path) -> str:
    """The DiT weights' SHA-256 as the checkpoint's manifest records it (computed when it records none)."""
    manifest = folder / "manifest.json"
    recorded = read_json(manifest).get("sha256", {}) if manifest.is_file() else {}
    return recorded.get(WEIGHTS) or sha256_file(folder / WEIGHTS)


def setup_of(args, folder: Path) -> dict:
    return {"preset": args.preset, "checkpoint": relative_path(folder), "checkpoint_sha256": checkpoint_sha256(folder),
            "num_clips": args.clips, "validation_clips": args.val_clips, "num_inference_steps": args.steps,
            "pool": "heldout_voice"}


def load_results(path: Path, setup: dict) -> dict:
    """The results file if it was made with the same setup, else a fresh one (saying why the old one is dropped)."""
    if path.is_file():
        old = read_json(path)
        if old.get("setup") == setup:
            return old
        print(f"{path}: made with another setup ({old.get('setup')}); starting afresh", flush=True)
    return {"setup": setup, "rows": {}, "wall_time_s": 0.0}


def timed(results: dict, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, its wall time added to the results' ``wall_time_s``; returns what ``fn`` returned."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    results["wall_time_s"] = round(results["wall_time_s"] + time.perf_counter() - start, 1)
    return out


def summarise(results: dict, seeds: list[int]) -> dict:
    """Each row scored for every seed: its formula, mode and ratios to the reconstruction ceiling (mean ± std)."""
    recon = results["ceilings"]["reconstruction"]
    out = {}
    for name, row in results["rows"].items():
        per_seed = [row["per_seed"][str(s)] for s in seeds if str(s) in row["per_seed"]]
        if len(per_seed) == len(seeds):
            out[name] = {"mode": row["mode"], "ratios": ratio_summary(per_seed, row["mode"], recon)}
    return out


def print_table(summary: dict) -> None:
    for name, row in summary.items():
        cells = "  ".join(f"{m} {v['mean']:.3f} ± {v['std']:.3f}" for m, v in row["ratios"].items())
        print(f"{name:<26} {row['mode']:<4} {cells}", flush=True)


def run(args, path: Path, results: dict) -> dict:
    """Choose A and B on the validation pool, measure the test ceiling, score every missing (row, seed)."""
    pipe = HuMoLitePipeline.from_pretrained(args.checkpoint)
    pipe.set_progress_bar_config(disable=True)
    judge = load_judge()
    if "validation" not in results:
        results["validation"] = timed(results, choose_static, pipe, args.val_clips, 0, args.preset, judge, args.steps)
        write_json(path, results)
    chosen = results["validation"]["chosen"]
    print(f"chosen on the validation pool: {chosen['A']}; {chosen['B']}", flush=True)
    scales = {k: tuple(results["validation"]["candidates"][chosen[k]]["scales"]) for k in "AB"}
    if "ceilings" not in results:
        clips = heldout_voice_clips(args.clips, args.preset)
        results["ceilings"] = timed(results, reconstruction_ceiling, pipe.vae, clips, judge)
        write_json(path, results)
    rows = schedule_rows(scales["A"], scales["B"])
    for name in args.rows or rows:
        mode, schedule = rows[name]
        formula = str(schedule) if schedule is not None else "the pipeline's default guidance"
        row = results["rows"].setdefault(name, {"mode": mode, "formula": formula, "per_seed": {}})
        if row["formula"] != formula:
            row.update(formula=formula, per_seed={})  # another schedule under this name: score it again
        for seed in args.seeds:
            if str(seed) not in row["per_seed"]:
                start = time.perf_counter()
                row["per_seed"][str(seed)] = timed(results, score_row, pipe, mode, schedule, seed, args.clips,
                                                   results["ceilings"], judge, args.preset,
                                                   num_inference_steps=args.steps)
                print(f"{name}, seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
                write_json(path, results)
    return results


def merge(paths: list[str], results: dict) -> dict:
    """Join the rows of results files made with the same setup and the same validation choice."""
    for other in map(read_json, paths):
        if other.get("setup") != results["setup"]:
            raise ValueError(f"cannot merge results of another setup: {other.get('setup')} vs {results['setup']}")
        if "validation" in results and other.get("validation", {}).get("chosen") != results["validation"]["chosen"]:
            raise ValueError("cannot merge results whose validation choice of A and B differs")
        results.setdefault("validation", other.get("validation"))
        results.setdefault("ceilings", other.get("ceilings"))
        for name, row in other["rows"].items():
            mine = results["rows"].setdefault(name, {**row, "per_seed": {}})
            if mine["formula"] == row["formula"]:
                mine["per_seed"] |= row["per_seed"]
        results["wall_time_s"] = round(results["wall_time_s"] + other["wall_time_s"], 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--checkpoint", default=None, help="(default: the preset's shipped stage-2 pipeline)")
    parser.add_argument("--clips", type=int, default=48, help="test clips of heldout_voice")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="sampling seeds")
    parser.add_argument("--val-clips", type=int, default=32, help="validation clips that choose A and B")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", nargs="+", default=None, help="score only these rows (default: all)")
    parser.add_argument("--results", default="data_samples/ablations/stage2_guidance_schedules.json")
    parser.add_argument("--merge", nargs="+", default=None, metavar="RESULTS",
                        help="score nothing: merge these results files (same setup) into --results")
    args = parser.parse_args(argv)
    folder = Path(args.checkpoint or default_checkpoint(args.preset, 2))
    args.checkpoint, path = str(folder), Path(args.results)
    known = set(schedule_rows((1, 1, 1), (1, 1, 1)))
    if args.rows and set(args.rows) - known:
        parser.error(f"unknown rows {sorted(set(args.rows) - known)}; expected some of {sorted(known)}")
    torch.manual_seed(0)
    results = load_results(path, setup_of(args, folder))
    results = merge(args.merge, results) if args.merge else run(args, path, results)
    results["command"] = shlex.join(["python", "scripts/stage2_guidance_schedules.py", *(argv or sys.argv[1:])])
    results["seeds"] = args.seeds
    results["summary"] = summarise(results, args.seeds)
    write_json(path, results)
    print_table(results["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Chapter 07's numbers: guidance schedules on the shipped stage 2, as ratios to the reconstruction ceiling.

Static A (text-heavy) and static B (audio/image-heavy) are chosen on the ``validation_voice`` pool — people that
neither train nor test the model, speaking in voices no other pool has, as the test's speakers do — never on the
test clips (``--val-pool validation``: the same people speaking in training voices; ``--choose-only`` stops after
the choice); then every row of
:func:`humo_lite.eval.guidance_check.schedule_rows` (static A, static B, adaptive as the paper writes it, the
released 17B and 1.7B forms, a sweep of the switch σ, and the default guidance in T, TI, TA and TIA) is scored on
the first ``--clips`` clips of ``heldout_voice`` for each sampling seed. The logic is
:mod:`humo_lite.eval.guidance_check`; this is its command line.

    python scripts/stage2_guidance_schedules.py                    # 48 clips x 3 seeds: ~30 min of one free core
    python scripts/stage2_guidance_schedules.py --preset humo-nano --clips 8 --seeds 0 --val-clips 8 \\
        --results outputs/guidance-nano.json                        # a quick check (under a minute)

(Measured on ``humo-micro``: one row, one seed, 8 clips, four branches a step: 8.3 s of one core beyond start-up;
the full run is 43 branch-rows x 48 clips x 3 seeds plus the validation choice.)

The results file is written after every (row, seed), so a stopped run resumes where it stopped; a row already
scored for a seed with the same formula is read back, not scored again. Entries of another checkpoint (its
SHA-256, from its manifest), clip count or step count are dropped. Several processes (give each some ``--rows``
and its own ``--results``) are joined with ``--merge``; on two free cores, about 15 minutes::

    python scripts/stage2_guidance_schedules.py --rows "static A"      # the validation choice, the ceiling, one row
    cp data_samples/ablations/stage2_guidance_schedules.json outputs/half.json
    python scripts/stage2_guidance_schedules.py --rows "static B" "adaptive (paper)" "released 17B" \
        "released 1.7B" "T, default guidance" "TI, default guidance" &
    python scripts/stage2_guidance_schedules.py --results outputs/half.json --rows "TA, default guidance" \
        "TIA, default guidance" "switch at 0.99" "switch at 0.9" "switch at 0.75"; wait
    python scripts/stage2_guidance_schedules.py --merge outputs/half.json

Writes ``data_samples/ablations/stage2_guidance_schedules.json``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from humo_lite.data.pools import VALIDATION_POOLS
from humo_lite.eval.guidance_check import CHOICE_POOL, evaluate, row_names, summarise, wall_time
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
            "pool": "heldout_voice", "validation_pool": args.val_pool}


def load_results(path: Path, setup: dict) -> dict:
    """The results file if it was made with the same setup, else a fresh one (saying why the old one is dropped)."""
    if path.is_file():
        old = read_json(path)
        if old.get("setup") == setup:
            return old
        print(f"{path}: made with another setup ({old.get('setup')}); starting afresh", flush=True)
    return {"setup": setup, "rows": {}, "wall_time_s": 0.0}


def print_table(summary: dict) -> None:
    for name, row in summary.items():
        cells = "  ".join(f"{m} {v['mean']:.3f} ± {v['std']:.3f}" for m, v in row["ratios"].items())
        print(f"{name:<26} {row['mode']:<4} {cells}", flush=True)


def run(args, path: Path, results: dict) -> dict:
    """Choose A and B on the validation pool, measure the test ceiling, score every missing (row, seed)."""
    pipe = HuMoLitePipeline.from_pretrained(args.checkpoint)
    pipe.set_progress_bar_config(disable=True)
    return evaluate(pipe, results, args.seeds, args.rows, save=lambda r: write_json(path, r),
                    log=lambda line: print(line, flush=True), choose_only=args.choose_only)


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
    results["wall_time_s"] = wall_time(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--checkpoint", default=None, help="(default: the preset's shipped stage-2 pipeline)")
    parser.add_argument("--clips", type=int, default=48, help="test clips of heldout_voice")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="sampling seeds")
    parser.add_argument("--val-clips", type=int, default=32, help="validation clips that choose A and B")
    parser.add_argument("--val-pool", default=CHOICE_POOL, choices=VALIDATION_POOLS,
                        help="the pool that chooses A, B and the default (%(default)s: speakers no other pool has; "
                             "validation: training voices)")
    parser.add_argument("--choose-only", action="store_true",
                        help="stop after the validation choice: no test clip is generated")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rows", nargs="+", default=None, help="score only these rows (default: all)")
    parser.add_argument("--results", default="data_samples/ablations/stage2_guidance_schedules.json")
    parser.add_argument("--merge", nargs="+", default=None, metavar="RESULTS",
                        help="score nothing: merge these results files (same setup) into --results")
    args = parser.parse_args(argv)
    folder = Path(args.checkpoint or default_checkpoint(args.preset, 2))
    args.checkpoint, path = str(folder), Path(args.results)
    known = set(row_names())
    if args.rows and set(args.rows) - known:
        parser.error(f"unknown rows {sorted(set(args.rows) - known)}; expected some of {sorted(known)}")
    torch.manual_seed(0)
    results = load_results(path, setup_of(args, folder))
    results = merge(args.merge, results) if args.merge else run(args, path, results)
    results["command"] = shlex.join(["python", "scripts/stage2_guidance_schedules.py", *(argv or sys.argv[1:])])
    results["seeds"] = args.seeds
    results["summary"] = summarise(results, args.seeds)
    write_json(path, results)
    if results.get("validation"):
        validation = results["validation"]
        print(f"chosen on the {validation['pool']} pool: " + "; ".join(validation["chosen"].values())
              + (f"; TIA default: {validation['default']['chosen']}" if "default" in validation else ""))
    print_table(results["summary"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

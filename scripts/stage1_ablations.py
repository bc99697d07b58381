"""Chapter 03's ablations: self-attention only (HuMo) vs full fine-tuning, and the reference first.

Each variant is the shipped stage-1 recipe (:func:`humo_lite.recipes.train_stage1`, same data, steps and
evaluation) with one thing changed, trained for each seed from the same shipped stage 0. Runs resume
(each in its own folder under ``--out``), so the script can be stopped and started again. Writes
``data_samples/ablations/stage1.json``: per run the manifest's numbers, and per variant mean ± std over
the seeds.

    python scripts/stage1_ablations.py --seeds 0 1 2              # ~2 hours on 2 cores
    python scripts/stage1_ablations.py --preset humo-nano --steps 20 --clips 64 --eval-clips 4 \\
        --out outputs/ablations-nano --results outputs/ablations-nano/stage1.json      # a quick check

On two cores, two processes with one thread each (``OMP_NUM_THREADS=1``) get more done than one with two:
give each some of the runs and its own ``--results``, then ``--merge`` their files into one. A run
that already finished is read from its manifest, not trained or scored again. When the
stage-1 check changed since the runs were trained, ``--rescore`` scores again every run of ``--results``
whose numbers came from another check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from humo_lite.io import write_json
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.recipes import STAGE1_CHECK_GUIDANCE, stage1_checks, stage1_config, train_stage1

VARIANTS = {
    "self-attention only (HuMo)": {"stage": "stage1"},
    "full fine-tuning": {"stage": "full"},
    "reference first": {"stage": "stage1", "reference_position": "before"},
}
"""Variant name → the :func:`train_stage1` arguments that make it."""

SCORES = {"ID-lite": ("TI", "id_lite"), "retrieval top-1": ("TI", "retrieval_top1"),
          "TVA-lite (TI)": ("TI", "judge", "tva_lite"), "TVA-lite (T)": ("T", "judge", "tva_lite"),
          "background + clothing (TI, pixels)": ("TI", "pixels", "both")}


def _score(metrics: dict, path: tuple) -> float:
    for key in path:
        metrics = metrics[key]
    return float(metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--first-seed-only", nargs="*", default=["reference first"],
                        help="variants trained for the first seed only (default: the reference-first ablation)")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--clips", type=int, default=1500)
    parser.add_argument("--eval-clips", type=int, default=48)
    parser.add_argument("--out", default="outputs/ablations/stage1")
    parser.add_argument("--results", default="data_samples/ablations/stage1.json")
    parser.add_argument("--merge", nargs="+", default=None, metavar="RESULTS",
                        help="train nothing: merge the runs of these results files into --results")
    parser.add_argument("--rescore", action="store_true",
                        help="train nothing: score the runs of --results that another check scored again, with today's")
    args = parser.parse_args(argv)
    command = " ".join(["python", *sys.argv])
    if args.rescore:
        results = json.loads(Path(args.results).read_text())
        for run in results["runs"]:
            if scored_with_check(run["metrics"], args.eval_clips):
                continue
            pipe = HuMoLitePipeline.from_pretrained(Path(run["folder"]) / "pipeline")
            pipe.set_progress_bar_config(disable=True)
            run.setdefault("metrics_at_training", run["metrics"])
            run["metrics"] = stage1_checks(pipe, args.eval_clips, run["seed"], args.preset, progress=False)
            print(f"rescored {run['folder']}: TI ID-lite {run['metrics']['TI']['id_lite']:.3f}", flush=True)
        variants = list(dict.fromkeys(r["variant"] for r in results["runs"]))
        return write_results(args.results, args.preset, results["runs"], variants,
                             {"command": results["command"], "rescored_with": command,
                              **({"merged": results["merged"]} if "merged" in results else {})})
    if args.merge:
        inputs = [json.loads(Path(path).read_text()) for path in args.merge]
        runs = [run for r in inputs for run in r["runs"]]
        variants = list(dict.fromkeys(r["variant"] for r in runs))
        rescored = [r["rescored_with"] for r in inputs if "rescored_with" in r]
        return write_results(args.results, args.preset, runs, variants,
                             {"command": command, "merged": [r["command"] for r in inputs],
                              **({"rescored_with": rescored} if rescored else {})})
    runs = []
    for variant in args.variants:
        for seed in args.seeds[:1] if variant in args.first_seed_only else args.seeds:
            options = VARIANTS[variant]
            folder = Path(args.out) / f"{options['stage']}-{options.get('reference_position', 'after')}-seed{seed}"
            config = stage1_config(seed=seed, **({"steps": args.steps} if args.steps else {}))
            print(f"== {variant}, seed {seed} -> {folder}", flush=True)
            manifest = finished_run(folder, config)
            if manifest is None:
                manifest = train_stage1(args.preset, out_dir=folder, config=config, num_clips=args.clips,
                                        eval_clips=args.eval_clips, command=command, **VARIANTS[variant])
            runs.append({"variant": variant, "seed": seed, "folder": str(folder),
                         "wall_time_s": manifest["wall_time_s"], "final_loss": manifest["final_loss"],
                         "trainable_share": manifest["trainable"]["share"], "metrics": manifest["metrics"]})
    return write_results(args.results, args.preset, runs, args.variants, {"command": command})


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


def write_results(path: str, preset: str, runs: list[dict], variants: list[str], how: dict) -> int:
    """Per variant, mean ± std over its seeds of each of :data:`SCORES`; written with every run's record."""
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
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

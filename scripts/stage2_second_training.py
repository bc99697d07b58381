"""How far is one training of the stage-2 recipe from another? A second training scored with the shipped check.

``SRC`` is a stage-2 pipeline folder trained by the shipped recipe's command with another training seed (weights not
shipped). It is scored with the shipped stage 2's check (``humo_lite.ship.rescore``: ``recipes.stage2_checks`` on
the same 48 ``heldout_voice`` clips, sampling seeds and judge, at the library's default guidance), and the result
is written beside the numbers its own manifest recorded at training (default
``data_samples/ablations/stage2_second_training.json``; chapter 04 §6 and the README read it).

Usage (about 8 min on one core)::

    python scripts/stage2_second_training.py outputs/s2-micro-voices-seed1/pipeline
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from humo_lite.guidance import default_schedule
from humo_lite.io import machine_info, write_json
from humo_lite.models.focus import FaceMaskHead
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.recipes import MASK_HEAD_FOLDER
from humo_lite.ship import rescore
from humo_lite.shipped import data_samples_dir, default_checkpoint, relative_path


def recipe(manifest: dict) -> dict:
    """What a stage-2 manifest says was trained, but for the training seed: its recorded settings (``task`` where a
    manifest predates them)."""
    if "settings" not in manifest:
        return {"task": manifest.get("task")}
    settings = json.loads(json.dumps(manifest["settings"]))
    settings["train"].pop("seed", None)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src", type=Path, help="a stage-2 pipeline folder (OUT/pipeline of `humo-lite train stage2`)")
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--out", default=str(data_samples_dir() / "ablations" / "stage2_second_training.json"))
    args = parser.parse_args(argv)
    if not (args.src / "manifest.json").is_file():
        parser.error(f"{args.src} is not a pipeline folder (no manifest.json)")
    manifest = json.loads((args.src / "manifest.json").read_text())
    shipped = json.loads((default_checkpoint(args.preset, 2) / "manifest.json").read_text())
    if manifest.get("kind") != "stage2" or recipe(manifest) != recipe(shipped):
        parser.error(f"{args.src} is not a stage 2 trained with the shipped recipe's settings (but for the seed)")
    torch.manual_seed(0)
    pipe = HuMoLitePipeline.from_pretrained(args.src)
    pipe.set_progress_bar_config(disable=True)
    head = FaceMaskHead.from_pretrained(args.src / MASK_HEAD_FOLDER) if (args.src / MASK_HEAD_FOLDER).is_dir() else None
    start = time.perf_counter()
    scored = rescore(pipe, manifest, head)
    at_training = manifest["metrics"]["checks"]["TIA"].get("guidance_formula", "not recorded")
    write_json(args.out, {
        "what": f"a second training of the shipped stage-2 recipe (training seed {manifest['seed']}; the shipped one: "
                f"seed {shipped['seed']}), from the same stage 1, scored with the shipped one's check",
        "checkpoint": relative_path(args.src), "training_seed": manifest["seed"],
        "training_wall_time_s": manifest["wall_time_s"], "training_machine": manifest.get("machine"),
        "metrics_at_training": manifest["metrics"]["summary"], "metrics_at_training_guidance": at_training,
        "guidance": default_schedule().formula("TIA"), "checks": scored["checks"],
        "heldout_loss": scored["heldout_loss"], "summary": scored["summary"],
        "check_wall_time_s": round(time.perf_counter() - start, 1), "machine": machine_info(),
        "command": "python scripts/stage2_second_training.py " + shlex.join(sys.argv[1:] if argv is None else argv)})
    print(json.dumps(scored["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

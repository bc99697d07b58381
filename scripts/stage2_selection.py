"""Choose the shipped stage 2 among trained candidates, on the validation pool (never on the test clips).

For each candidate pipeline folder: the flow-matching loss on 48 validation clips at fixed noise and σ (against
the shipped stage 1's on the same clips: a candidate whose loss is higher memorises its audio pool), and the
lip-sync check on 32 validation clips (TIA, the pipeline's default guidance, sampling seed 0) as ratios to the
VAE's reconstruction of the same clips. The rule: among candidates that do not memorise, the best mouth-vs-lip-law
r. Writes ``data_samples/ablations/stage2_selection.json``.

Usage: ``python scripts/stage2_selection.py NAME=FOLDER [NAME=FOLDER ...]`` (about 30 s per candidate on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from humo_lite.eval import load_judge
from humo_lite.eval.heldout_loss import heldout_data, heldout_loss
from humo_lite.eval.sync_check import heldout_sync_check, heldout_voice_clips, sync_ceilings
from humo_lite.io import write_json
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import data_samples_dir, default_checkpoint, relative_path

SYNC_CLIPS, LOSS_CLIPS = 32, 48


def score(pipe, stage1_loss: float, data: dict, clips: list, ceilings: dict, judge) -> dict:
    sync = heldout_sync_check(pipe, SYNC_CLIPS, seeds=(0,), mode="TIA", progress=False, judge=judge, ceilings=ceilings,
                              pool="validation")
    loss = heldout_loss(pipe.transformer, data)["loss"]
    return {"validation_loss": round(loss, 5), "memorises": loss > stage1_loss,
            **{k: round(v, 4) for k, v in sync["ratios"].items()},
            **{k: round(sync["mean"][k], 4) for k in ("r_within_clip", "abs_offset", "id_lite", "tva_lite")}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("candidates", nargs="+", help="NAME=FOLDER (a pipeline folder written by train stage2)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    judge = load_judge()
    stage1 = HuMoLitePipeline.from_pretrained(default_checkpoint("humo-micro", 1))
    data = heldout_data(stage1, pool="validation", num_clips=LOSS_CLIPS)
    stage1_loss = heldout_loss(stage1.transformer, data)["loss"]
    clips = heldout_voice_clips(SYNC_CLIPS, "humo-micro", "validation")
    ceilings = sync_ceilings(stage1.vae, clips, judge)
    rows = {}
    for name, folder in (c.split("=", 1) for c in args.candidates):
        pipe = HuMoLitePipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        manifest = json.loads((Path(folder) / "manifest.json").read_text())
        rows[name] = {"command": manifest["command"], "task": manifest["task"],
                      **score(pipe, stage1_loss, data, clips, ceilings, judge)}
        print(name, rows[name], flush=True)
    fair = {n: r for n, r in rows.items() if not r["memorises"]}
    chosen = max(fair or rows, key=lambda n: (fair or rows)[n]["r_within_clip"])
    result = {"command": shlex.join(["python", "scripts/stage2_selection.py", *(argv or sys.argv[1:])]),
              "pool": "validation", "sync_clips": SYNC_CLIPS, "loss_clips": LOSS_CLIPS,
              "stage1_validation_loss": round(stage1_loss, 5),
              "stage1": relative_path(default_checkpoint("humo-micro", 1)),
              "rule": "among candidates whose validation loss is not above stage 1's, the highest r_within_clip",
              "candidates": rows, "chosen": chosen,
              "reconstruction_ceiling": {k: round(v, 4) for k, v in ceilings["reconstruction"].items()}}
    write_json(data_samples_dir() / "ablations" / "stage2_selection.json", result)
    print(f"chosen: {chosen}")


if __name__ == "__main__":
    main()

"""Where stage 2 loses lip sync: its held-out check split by what was spoken (chapter 04, section "by speech").

For each ``--checkpoint`` (default: the shipped humo-micro stage 2) and each ``--pools`` pool, the first ``--clips``
clips in TIA mode over ``--seeds`` sampling seeds (``humo_lite.eval.sync_check.sync_by_speech``): synthetic speech
and speech-bank recordings apart, each group's Sync-C-lite margin over chance as a share of its reconstruction's,
r within clip and |offset|. ``heldout_voice`` is the test (its recordings are the bank's held-out voice);
``validation`` has held-out sentences in the training voices, ``validation_voice`` the same sentences in 2 voices no
other pool has (``--pools heldout_voice validation validation_voice``). Writes one JSON
(default ``data_samples/ablations/stage2_sync_by_speech.json``).

Usage: ``python scripts/sync_by_speech.py`` (about 4 min per checkpoint and pool on one core);
``--preset humo-nano --clips 8 --seeds 0 --steps 2 --out /tmp/s.json`` checks that it runs (seconds).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from humo_lite.eval import load_judge
from humo_lite.eval.sync_check import sync_by_speech
from humo_lite.guidance import default_schedule
from humo_lite.io import machine_info, write_json
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import data_samples_dir, default_checkpoint, relative_path


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--checkpoint", nargs="+", default=None, help="pipeline folders (default: the shipped stage 2)")
    parser.add_argument("--pools", nargs="+", default=["heldout_voice", "validation"])
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=str(data_samples_dir() / "ablations" / "stage2_sync_by_speech.json"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started, judge = time.perf_counter(), load_judge()
    rows = {}
    for folder in map(Path, args.checkpoint or [default_checkpoint(args.preset, 2)]):
        torch.manual_seed(0)
        pipe = HuMoLitePipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").is_file() else {}
        rows[relative_path(folder)] = {"command": manifest.get("command"), "pools": {
            pool: sync_by_speech(pipe, args.clips, args.seeds, args.steps, judge=judge, preset=args.preset, pool=pool)
            for pool in args.pools}}
        for pool, result in rows[relative_path(folder)]["pools"].items():
            for kind, part in result["by_speech"].items():
                g = part["generated"]
                share = ("none (no margin in the reconstruction)" if g["margin_share"] is None
                         else f"{g['margin_share']:.3f} ± {g['margin_share_std']:.3f}")
                print(f"{relative_path(folder)} {pool} {kind} ({part['num_clips']} clips): margin share {share}, "
                      f"r {g['r_within_clip']:.3f}, |offset| {g['abs_offset']:.2f}", flush=True)
    write_json(args.out, {"command": shlex.join(["python", "scripts/sync_by_speech.py",
                                                 *(argv if argv is not None else sys.argv[1:])]),
                          "machine": machine_info(), "wall_time_s": round(time.perf_counter() - started, 1),
                          "guidance": default_schedule().formula("TIA"),  # the pipeline's default, TIA mode
                          "checkpoints": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

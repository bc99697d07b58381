"""Long clips on held-out people and recordings: motion frames against the two naive alternatives (chapter 09).

The first ``--clips`` specs of the ``heldout_voice`` pool (people and recordings no training pool has), rendered
``--frames`` long (default 101 frames, 4.04 s), each made by the three methods of ``humo_lite.long_video`` —
motion frames, independent windows, one window beyond the training length — over ``--seeds`` sampling seeds, and
scored by ``humo_lite.eval.long_clips`` (seam score over real clips', ID-lite per window and ID-drift, Sync-C/D-lite
over the reconstruction ceiling). Then the same clips ``--long-frames`` long (default 201 frames, 8.04 s) by
motion frames against one window at the training length: ID-lite of the last window over the first's, Sync-C-lite
over the whole clip over one window's. Writes ``data_samples/ablations/long_clips.json``.

Usage: ``python scripts/long_clips.py`` (the shipped humo-micro stage 2, 24 clips x 3 seeds; 35 min measured on
one core of a busy 2-core machine); ``--preset humo-nano --clips 4 --seeds 0 --frames 33 --long-frames 49
--out /tmp/long.json`` checks that it runs (seconds).
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
from humo_lite.eval.long_clips import long_clip_summary, long_heldout_clips
from humo_lite.guidance import default_schedule
from humo_lite.io import machine_info, write_json
from humo_lite.long_video import compare_long_methods, long_vs_single_window
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import data_samples_dir, default_checkpoint, relative_path


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--checkpoint", default=None, help="pipeline folder (default: the preset's shipped stage 2)")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--frames", type=int, default=101, help="the comparison's clip length (4k+1)")
    parser.add_argument("--long-frames", type=int, default=201, help="the long clip of the drift check (4k+1)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default=str(data_samples_dir() / "ablations" / "long_clips.json"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.perf_counter()
    torch.manual_seed(0)
    folder = Path(args.checkpoint or default_checkpoint(args.preset, 2))
    pipe = HuMoLitePipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    judge, settings = load_judge(), {"num_inference_steps": args.steps, "batch_size": args.batch_size}
    clips = long_heldout_clips(args.clips, args.frames, args.preset)
    comparison = compare_long_methods(pipe, clips, args.seeds, judge=judge, **settings)
    print(json.dumps(long_clip_summary(comparison), indent=1, ensure_ascii=False), flush=True)
    long_clips = long_heldout_clips(args.clips, args.long_frames, args.preset)
    long = long_vs_single_window(pipe, long_clips, args.seeds, judge=judge, **settings)
    manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").is_file() else {}
    result = {"command": shlex.join(["python", "scripts/long_clips.py", *(argv if argv is not None else sys.argv[1:])]),
              "checkpoint": relative_path(folder), "checkpoint_command": manifest.get("command"),
              "checkpoint_sha256": manifest.get("sha256"), "pool": "heldout_voice", "machine": machine_info(),
              "wall_time_s": round(time.perf_counter() - started, 1), "summary": long_clip_summary(comparison, long),
              "comparison": comparison, "long_vs_single_window": long,
              "guidance": default_schedule().formula("TIA")}  # the pipeline's default, TIA mode
    write_json(args.out, result)
    print(json.dumps(result["summary"], indent=1, ensure_ascii=False))
    print(f"wrote {args.out} in {result['wall_time_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()

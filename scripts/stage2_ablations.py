"""Chapters 05 and 06's ablations: focus-by-predicting on or off, progressive vs joint training.

The logic is :mod:`humo_lite.stage2_ablations`; this is its command line. Three steps:

    # 1. the focus loss weight, chosen on the validation pool (from the shipped stage 1)
    python scripts/stage2_ablations.py select --weights 0.02 0.1 0.5 --steps 600
    # 2. the runs, per training seed (two processes, one thread each, share the seeds on two cores)
    OMP_NUM_THREADS=1 python scripts/stage2_ablations.py train --seeds 0 1 --focus-weight 0.1 &
    OMP_NUM_THREADS=1 python scripts/stage2_ablations.py train --seeds 2 --focus-weight 0.1
    # 3. the tables, from every run folder: data_samples/ablations/stage2.json
    python scripts/stage2_ablations.py summarise

Runs resume (each in its own folder under ``--out`` with its ``check.json``); a finished run is read back, not
trained or scored again. A quick check at ``humo-nano``::

    python scripts/stage2_ablations.py train --preset humo-nano --seeds 0 1 --stage1-steps 20 --stage2-steps 20 \\
        --eval-clips 4 --out outputs/ablations-nano/stage2
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from humo_lite.io import write_json
from humo_lite.stage2_ablations import RUNS, select_focus_weight, summarise, train_runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["select", "train", "summarise"])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.02, 0.1, 0.5])
    parser.add_argument("--steps", type=int, default=600, help="select: stage-2 steps per weight")
    parser.add_argument("--stage1-steps", type=int, default=600)
    parser.add_argument("--stage2-steps", type=int, default=600)
    parser.add_argument("--focus-weight", type=float, default=None, help="train: default the selection's choice")
    parser.add_argument("--runs", nargs="+", default=None, help="train: some of the runs only (default: all)")
    parser.add_argument("--eval-clips", type=int, default=48)
    parser.add_argument("--curve-every", type=int, default=200)
    parser.add_argument("--out", default="outputs/ablations/stage2")
    parser.add_argument("--results", default="data_samples/ablations/stage2.json")
    parser.add_argument("--selection", default="data_samples/ablations/stage2_focus_weight.json")
    args = parser.parse_args(argv)
    command = " ".join(["python", *sys.argv])
    start = time.perf_counter()
    if args.step == "select":
        result = select_focus_weight(args.preset, args.weights, args.steps, args.out, args.eval_clips,
                                     command=command)
        write_json(args.selection, {"command": command, "wall_time_s": round(time.perf_counter() - start, 1),
                                    **result})
        print(f"chosen focus weight: {result['chosen']}")
    elif args.step == "train":
        weight = args.focus_weight
        if weight is None and args.runs != ["stage 1"]:
            weight = json.loads(open(args.selection).read())["chosen"]
        train_runs(args.preset, args.seeds, args.out, args.stage1_steps, args.stage2_steps, weight, args.eval_clips,
                   runs=tuple(args.runs or RUNS), curve_every=args.curve_every, command=command)
        print(f"done in {time.perf_counter() - start:.0f} s")
    else:
        summary = summarise(args.out, args.results, args.preset, {"command": command})
        print(json.dumps(summary["comparisons"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

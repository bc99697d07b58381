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
whose numbers came from another check. The logic is :mod:`humo_lite.ablations`; this is its command line.
"""

from __future__ import annotations

import argparse
import json
import sys

from humo_lite.ablations import VARIANTS, merge_results, rescore_results, train_variants, write_results


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
        summary = rescore_results(args.results, args.preset, args.eval_clips, command)
    elif args.merge:
        summary = merge_results(args.merge, args.results, args.preset, command)
    else:
        runs = train_variants(args.preset, args.variants, args.seeds, args.out, tuple(args.first_seed_only),
                              args.steps, args.clips, args.eval_clips, command)
        summary = write_results(args.results, args.preset, runs, args.variants, {"command": command})
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

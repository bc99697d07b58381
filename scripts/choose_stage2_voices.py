"""Which stage 2 talks best: trained stage-2 models compared on the validation pool (chapter 04).

Each ``--candidate NAME=PIPELINE`` is a stage 2 trained by the same command but for one setting: how many voices its
pool's bank half plays (the 6 of the bank's ``train`` recordings, or those and the 12 ``train_stage2`` voices: 18), or
whether its audio projector removes each clip's average spectrum (``--audio-band-norm``). Each is scored in
TIA mode at the library's default guidance on the first ``--clips`` clips of the ``validation`` pool (people and
recordings that neither train nor test; ``--pool validation_voice``: those people speaking in voices no other pool
has, as the test's speaker is) over ``--seeds`` sampling seeds, and chosen by chapter 07's rule for B:
the highest mean of ID-lite and Sync-C-lite over the reconstruction ceiling
(``humo_lite.eval.guidance_check.choose_checkpoint``). Candidates named ``"<recipe>, seed <n>"`` are also averaged
per recipe over their training seeds (``recipes``, ``chosen_recipe``). The test clips play no part. Writes one JSON
(default ``data_samples/ablations/stage2_voices_choice.json``).

Usage (about 100 s per candidate on one core)::

    python scripts/choose_stage2_voices.py --candidate "6 voices, seed 0=PIPELINE" "18 voices, seed 0=PIPELINE" ...

``--preset humo-nano --clips 4 --seeds 0 --steps 2 --out /tmp/v.json`` checks that it runs (seconds). ``--add-to FILE``
scores only the candidates given and chooses among those and the file's (the same pool, clips, seeds and ceilings),
so a candidate trained later joins a comparison without scoring the others again.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import torch

from humo_lite.data.pools import VALIDATION_POOLS
from humo_lite.eval import load_judge
from humo_lite.eval.guidance_check import choose_checkpoint, recipe_scores
from humo_lite.io import machine_info, read_json, write_json
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import data_samples_dir, relative_path


def candidate(text: str) -> tuple[str, str]:
    """``NAME=PIPELINE`` → ``(name, pipeline folder)``."""
    name, sep, folder = text.rpartition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=PIPELINE (a name, '=', a pipeline folder), got {text!r}")
    return name, folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidate", type=candidate, nargs="+", required=True, metavar="NAME=PIPELINE")
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--clips", type=int, default=32, help="validation clips")
    parser.add_argument("--pool", default="validation", choices=VALIDATION_POOLS,
                        help="the validation pool to choose on (validation_voice: speakers no other pool has)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--question", help="what the comparison asks, written into the file",
                        default="Which stage 2 talks best on the validation pool: 6 or 18 training voices?")
    parser.add_argument("--out", default=str(data_samples_dir() / "ablations" / "stage2_voices_choice.json"))
    parser.add_argument("--add-to", metavar="JSON", help="a file this script wrote with the same pool, clips, seeds, "
                        "steps and preset: score only the new candidates, choose among all (written to --out)")
    args = parser.parse_args(argv)
    earlier = read_json(args.add_to) if args.add_to else None
    if len(args.candidate) + len(earlier["candidates"] if earlier else []) < 2:
        parser.error("--candidate needs at least two models to choose between (with --add-to: one more)")
    start = time.perf_counter()
    torch.manual_seed(0)
    pipes = {}
    for name, folder in args.candidate:
        pipes[name] = HuMoLitePipeline.from_pretrained(folder)
        pipes[name].set_progress_bar_config(disable=True)
    result = choose_checkpoint(pipes, args.clips, args.seeds, args.preset, load_judge(), args.steps, args.pool)
    for name, folder in args.candidate:
        result["candidates"][name]["checkpoint"] = relative_path(folder)
    commands = ["python scripts/choose_stage2_voices.py " + shlex.join(sys.argv[1:] if argv is None else argv)]
    if earlier:
        result, commands = merged(earlier, result, args), [earlier["command"], *commands]
        row = result["candidates"][name]
        print(f"{name}: score {row['score']:.3f} ± {row['score_std']:.3f}, Sync-C margin share "
              f"{row['sync_c_margin_share']:.2f} ± {row['sync_c_margin_share_std']:.2f}", flush=True)
    for recipe, row in result["recipes"].items():
        print(f"recipe {recipe}: score {row['score']:.3f} ± {row['score_std']:.3f} over {len(row['candidates'])} "
              "training seed(s)", flush=True)
    print(f"chosen: {result['chosen']}; recipe: {result['chosen_recipe']}")
    wall = round(time.perf_counter() - start + (earlier["wall_time_s"] if earlier else 0.0), 1)
    write_json(args.out, {"question": earlier["question"] if earlier else args.question,
                          "command": " && ".join(commands), "preset": args.preset, "num_inference_steps": args.steps,
                          **result, "wall_time_s": wall, "machine": machine_info()})
    return 0


def merged(earlier: dict, new: dict, args) -> dict:
    """``new`` candidates added to an ``earlier`` file's: the same pool, clips, seeds, steps, preset and ceilings
    (so every score is comparable), the choice and the recipes' means made again over all of them."""
    same = {"pool": args.pool, "num_clips": args.clips, "seeds": args.seeds, "num_inference_steps": args.steps,
            "preset": args.preset}
    differs = {k: (earlier.get(k), v) for k, v in same.items() if earlier.get(k) != v}
    if differs or earlier["ceilings"] != new["ceilings"]:
        raise SystemExit(f"--add-to {args.add_to}: not the same validation setting ({differs or 'ceilings differ'})")
    clash = set(earlier["candidates"]) & set(new["candidates"])
    if clash:
        raise SystemExit(f"--add-to {args.add_to}: already holds {sorted(clash)}; name the new candidates otherwise")
    candidates = {**earlier["candidates"], **new["candidates"]}
    recipes = recipe_scores({name: row["score"] for name, row in candidates.items()})
    return {**new, "candidates": candidates, "chosen": max(candidates, key=lambda n: candidates[n]["score"]),
            "recipes": recipes, "chosen_recipe": max(recipes, key=lambda n: recipes[n]["score"])}


if __name__ == "__main__":
    raise SystemExit(main())

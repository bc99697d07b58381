"""Choose the TI guidance scales of a stage-1 pipeline on clips that neither train nor test it (chapter 03, §5b).

The held-out identity check (``humo_lite.eval.identity_check``) reports on the first 48 clips of
``heldout_identity``; choosing scales on those clips would tune to the test, and choosing them on the ``stage1``
pool (an earlier version of this script) tunes to the people the model trained on. This script scores each
setting on the first ``--clips`` clips of the ``validation`` pool — 60 people apart from both
(``humo_lite.data.pools``) — reading ID-lite and TVA-lite with the judge, and picks by stage 1's bar for text
control: **the highest ID-lite whose TVA-lite is at least the shipped stage 0's on the same captions minus 0.03**.
The same with the stricter bar (stage 1's own T mode minus 0.03) is kept as ``stricter_rule``; the earlier choice
on the ``stage1`` pool as ``previous``.

    python scripts/stage1_guidance_scales.py            # 566 s measured, one core shared with other jobs

Writes ``data_samples/ablations/stage1_guidance_scales.json``: every setting's numbers and the choice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from humo_lite.data import make_clip, make_pool
from humo_lite.data.attributes import SCENE_FIELDS
from humo_lite.eval.identity_check import generate_clips
from humo_lite.eval.judge import load_judge
from humo_lite.eval.metrics import id_lite, scene_predictions
from humo_lite.eval.scene_check import judged_accuracy
from humo_lite.io import read_json, write_json
from humo_lite.layouts import as_images, as_video
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import default_checkpoint, relative_path

SETTINGS = {  # name -> pipeline keyword arguments (T mode: no image)
    "T (caption only)": {"image": False},
    **{f"text {t:g}, image 5": {"guidance_scale": t, "image_guidance_scale": 5.0} for t in (2.0, 3.0, 4.0, 5.0)},
    **{f"text 3, image {i:g}": {"guidance_scale": 3.0, "image_guidance_scale": i} for i in (3.0, 7.0)},
}
TVA_MARGIN = 0.03


def score(pipe, clips, judge, seed: int, kwargs: dict) -> dict:
    """ID-lite and TVA-lite of ``clips`` generated with ``kwargs``, read by ``judge``."""
    kwargs = dict(kwargs)
    frames = generate_clips(pipe, clips, kwargs.pop("image", True), seed, **kwargs)
    out = judge.judge_video(as_video(frames))
    ident, _, _ = id_lite(out["embedding"], judge.embed_images(as_images([c.reference for c in clips])))
    wanted = {k: np.array([c.labels[k] for c in clips]) for k in SCENE_FIELDS}
    return {"id_lite": float(ident.mean()), "tva_lite": judged_accuracy(scene_predictions(out), wanted)["tva_lite"]}


def _previous(results: dict, pool: str) -> dict | None:
    """The choice an earlier run of this script made on another pool (kept for comparison), or None."""
    if not results or results.get("pool") == pool:
        return results.get("previous")
    return {"pool": results["pool"], "clips": results["clips"], "choice": results["choice"],
            "tva_floor": results["tva_floor"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--checkpoint", default=None, help="(default: the preset's shipped stage-1 pipeline)")
    parser.add_argument("--stage0", default=None, help="(default: the preset's shipped stage-0 pipeline)")
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--pool", default="validation", help="(default: validation; never a test pool)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default="data_samples/ablations/stage1_guidance_scales.json")
    args = parser.parse_args(argv)
    args.checkpoint = args.checkpoint or str(default_checkpoint(args.preset, 1))
    pipe = HuMoLitePipeline.from_pretrained(args.checkpoint)
    pipe.set_progress_bar_config(disable=True)
    if args.pool in ("heldout_identity", "heldout_voice"):
        parser.error(f"--pool {args.pool} is a test pool: scales chosen there would be tuned to the test")
    clips = [make_clip(spec, args.preset) for spec in make_pool(args.pool)[:args.clips]]
    previous = read_json(args.results) if Path(args.results).is_file() else {}
    start = time.perf_counter()
    judge = load_judge(None).model
    stage0 = HuMoLitePipeline.from_pretrained(args.stage0 or default_checkpoint(args.preset))
    stage0.set_progress_bar_config(disable=True)
    results = {"stage 0 (caption only)": {"kwargs": {"image": False}, **score(stage0, clips, judge, args.seed,
                                                                              {"image": False})}}
    for name, kwargs in SETTINGS.items():
        results[name] = {"kwargs": kwargs, **score(pipe, clips, judge, args.seed, kwargs)}
        print(f"{name:<22} ID-lite {results[name]['id_lite']:.3f}  TVA-lite {results[name]['tva_lite']:.3f}",
              flush=True)
    ti = {n: r for n, r in results.items() if "caption only" not in n}

    def pick(floor: float) -> str | None:
        allowed = {n: r for n, r in ti.items() if r["tva_lite"] >= floor}
        return max(allowed, key=lambda n: allowed[n]["id_lite"]) if allowed else None

    floor = results["stage 0 (caption only)"]["tva_lite"] - TVA_MARGIN
    strict = results["T (caption only)"]["tva_lite"] - TVA_MARGIN
    choice = pick(floor)
    print(f"rule: highest ID-lite with TVA-lite >= {floor:.3f} (stage 0's - {TVA_MARGIN}) -> {choice}; "
          f"against stage 1's T mode (>= {strict:.3f}) -> {pick(strict)}")
    write_json(args.results, {"command": " ".join(["python", *sys.argv]), "checkpoint": relative_path(args.checkpoint),
                              "pool": args.pool, "clips": args.clips, "seed": args.seed,
                              "wall_time_s": round(time.perf_counter() - start, 1),
                              "previous": _previous(previous, args.pool),
                              "rule": f"highest ID-lite, TVA-lite >= stage 0's on the same captions - {TVA_MARGIN}",
                              "tva_floor": floor, "choice": choice,
                              "stricter_rule": {"tva_floor": strict, "choice": pick(strict),
                                                "rule": f"TVA-lite >= stage 1's T mode - {TVA_MARGIN}"},
                              "settings": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())

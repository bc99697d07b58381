"""Benchmark: a long talking clip's memory grows with the window, not the clip; its time per second of video.

Each length runs in its own fresh process (this script again, ``--child``), which loads the shipped pipeline,
notes its resident memory, makes one held-out person speak ``SECONDS`` of held-out speech by motion frames
(``humo_lite.long_video.generate_long``: TIA, the pipeline's default guidance, ``--steps`` steps) and reports its
peak resident memory (``resource.getrusage``: the process's high-water mark) and the wall time. The parent prints
one row per length and their ratios: peak memory at 16 s over 4 s (flat: about 1; what grows is the frames
themselves, 12 KiB per frame at 32 x 32) and time per second of video.

Usage: ``python benchmarks/bench_long_video.py [--preset humo-micro] [--seconds 4 16] [--steps 20]``; run it with
``OMP_NUM_THREADS`` set to the threads you mean to time. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def child(preset: str, seconds: float, steps: int) -> dict:
    """One clip in this process: resident memory after loading, peak after generating, and the times."""
    import torch

    from humo_lite.data import make_pool
    from humo_lite.eval.long_clips import render_long_clip
    from humo_lite.long_video import frames_for_audio, generate_long
    from humo_lite.pipeline import HuMoLitePipeline
    from humo_lite.shipped import default_checkpoint

    pipe = HuMoLitePipeline.from_pretrained(default_checkpoint(preset, 2))
    num_frames = frames_for_audio(int(16_000 * seconds) + 4 * 640)  # 4k+1 frames, at least `seconds` long
    clip = render_long_clip(make_pool("heldout_voice")[0], num_frames, preset)
    loaded_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = generate_long(pipe, clip.caption, image=clip.reference, audio=clip.audio, sample_rate=16_000,
                        num_inference_steps=steps, generator=torch.Generator().manual_seed(0), progress=False)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
    return {"seconds": num_frames / 25, "frames": num_frames, "windows": len(out.windows), "wall_s": round(wall, 2),
            "s_per_video_s": round(wall / (num_frames / 25), 2), "peak_rss_mib": round(peak_kib / 1024, 1),
            "loaded_rss_mib": round(loaded_kib / 1024, 1), "generation_mib": round((peak_kib - loaded_kib) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--seconds", type=float, nargs="+", default=[4.0, 16.0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.preset, args.seconds[0], args.steps)))
        return
    rows = []
    for seconds in args.seconds:
        command = [sys.executable, __file__, "--child", "--preset", args.preset, "--seconds", str(seconds),
                   "--steps", str(args.steps)]
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=os.environ.copy())
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(" | ".join(f"{k} {v}" for k, v in rows[-1].items()), flush=True)
    first, last = rows[0], rows[-1]
    result = {"preset": args.preset, "steps": args.steps, "threads": os.environ.get("OMP_NUM_THREADS", "default"),
              "rows": rows, "peak_rss_ratio": round(last["peak_rss_mib"] / first["peak_rss_mib"], 3),
              "generation_mib_ratio": round(last["generation_mib"] / max(first["generation_mib"], 1e-9), 3),
              "length_ratio": round(last["seconds"] / first["seconds"], 2)}
    print(f"peak RSS at {last['seconds']:.2f} s over {first['seconds']:.2f} s: {result['peak_rss_ratio']:.3f}x "
          f"(clip {result['length_ratio']:.1f}x longer); time per second of video: "
          + ", ".join(f"{r['s_per_video_s']} s at {r['seconds']:.2f} s" for r in rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

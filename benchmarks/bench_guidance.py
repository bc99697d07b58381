"""Benchmark: guidance branches as rows of one batched DiT call vs one call per branch (chapter 07).

Targets (``docs/design.md`` §9): at ``humo-micro``, one denoising step with HuMo's 4 TIA branches
(Eq. 4: null, T, TI, TIA) batched is >= 1.8x faster than 4 separate passes; one whole TIA clip at the
pipeline's default steps takes <= 5 s on 2 cores.

The model is the shipped ``humo-micro-stage2`` pipeline (stage 2: HuMo's audio projector and frame-local
audio cross-attention in every block, trained). The step is
timed interleaved (batched, separate, batched, …) after warm-up, median of the timed repeats; the clip is
timed whole (conditions, 20 steps, decode), best of ``--clips`` runs.

Usage: ``python benchmarks/bench_guidance.py [--threads 2] [--repeats 20]``. The last line of output is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from humo_lite.data import make_clip, make_pool
from humo_lite.guidance import PRESETS
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import default_checkpoint

STEP_TARGET, CLIP_TARGET_S = 1.8, 5.0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (docs/design.md §9: 2 cores)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clips", type=int, default=3, help="whole TIA clips timed (the best counts)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    pipe = HuMoLitePipeline.from_pretrained(default_checkpoint("humo-micro", 2)).to(device)
    pipe.set_progress_bar_config(disable=True)
    clip = make_clip(make_pool("heldout_identity")[0], "humo-micro")
    conditions, _ = pipe.prepare_conditions([clip.caption], None, clip.reference, clip.audio, 16_000,
                                            pipe.config.num_frames, "error")
    branches, _ = PRESETS["adaptive"].plan(0.5, conditions.given)
    latents = torch.randn(pipe.latent_shape(1, pipe.config.num_frames), generator=torch.Generator().manual_seed(0))
    latents, t = latents.to(device), torch.tensor(500.0, device=device)

    with torch.no_grad():
        batched = lambda: pipe.branch_velocities(latents, t, conditions, branches)  # noqa: E731
        separate = lambda: [pipe.branch_velocities(latents, t, conditions, [b]) for b in branches]  # noqa: E731
        times = {"batched": [], "separate": []}
        for i in range(args.warmup + args.repeats):
            for name, fn in (("batched", batched), ("separate", separate)):
                elapsed = timed(fn, device)
                if i >= args.warmup:
                    times[name].append(elapsed)
    step = {name: statistics.median(v) for name, v in times.items()}

    def tia_clip():
        return pipe(clip.caption, image=clip.reference, audio=clip.audio, sample_rate=16_000, mode="TIA",
                    generator=torch.Generator(device="cpu").manual_seed(0))

    passes = tia_clip().dit_passes  # also the warm-up
    clip_s = min(timed(tia_clip, device) for _ in range(args.clips))

    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"machine: {machine}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"one step, {len(branches)} branches ({', '.join('+'.join(sorted(b)) or 'null' for b in branches)}):")
    print(f"  batched (one call, {len(branches)} rows): {step['batched'] * 1e3:7.1f} ms (median of {args.repeats})")
    print(f"  separate ({len(branches)} calls):         {step['separate'] * 1e3:7.1f} ms")
    ratio = step["separate"] / step["batched"]
    print(f"  batched is {ratio:.2f}x faster (target >= {STEP_TARGET}x)")
    print(f"one TIA clip, default schedule and steps: {clip_s:.2f} s, {passes} DiT passes "
          f"(target <= {CLIP_TARGET_S} s)")
    print(json.dumps({"preset": "humo-micro", "threads": torch.get_num_threads(), "device": str(device),
                      "machine": machine, "branches": len(branches), "step_batched_ms": round(step["batched"] * 1e3, 2),
                      "step_separate_ms": round(step["separate"] * 1e3, 2), "batched_speedup": round(ratio, 3),
                      "speedup_target": STEP_TARGET, "tia_clip_s": round(clip_s, 3), "tia_clip_dit_passes": passes,
                      "clip_target_s": CLIP_TARGET_S}))


if __name__ == "__main__":
    main()

"""Benchmark: guidance branches as rows of one batched DiT call vs one call per branch (chapter 07).

Targets (``docs/design.md`` §9): at ``humo-micro``, one denoising step with HuMo's 4 TIA branches
(Eq. 4: null, T, TI, TIA) batched is >= 1.8x faster than 4 separate passes; one whole TIA clip at the
pipeline's default steps takes <= 5 s on 2 cores.

The model is the shipped ``humo-micro-stage2`` pipeline (stage 2: HuMo's audio projector and frame-local
audio cross-attention in every block, trained). The step is timed interleaved (batched, separate, batched, …)
after warm-up, median of the timed repeats (:func:`humo_lite.eval.branches.time_branches`); the clip is timed whole
(conditions, 20 steps, decode), best of ``--clips`` runs. ``--profile`` adds where a batched step spends its
time (``torch.profiler``, self CPU time grouped by kind of operator).

Usage: ``python benchmarks/bench_guidance.py [--threads 2] [--repeats 20] [--profile]``. The last line of output
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from humo_lite.data import make_clip, make_pool
from humo_lite.eval.branches import EQ4_BRANCHES, time_branches
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import default_checkpoint

STEP_TARGET, CLIP_TARGET_S = 1.8, 5.0
KINDS = {"matmul": ("addmm", "mm", "bmm", "linear", "matmul"), "attention": ("scaled_dot_product", "flash_attention"),
         "GELU/SiLU": ("gelu", "silu"), "norms": ("layer_norm", "rms_norm"), "convolution": ("convolution",),
         "copies/cat": ("copy_", "cat", "contiguous", "clone", "_to_copy")}
"""Operator groups of the profile: an ``aten::`` name containing one of the words."""


def profile_step(step, rounds: int = 10) -> dict[str, float]:
    """Self CPU time of ``rounds`` calls of ``step``, per kind of operator (:data:`KINDS`), as shares."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(rounds):
            step()
    totals = {kind: 0.0 for kind in (*KINDS, "everything else")}
    for event in prof.key_averages():
        name = event.key.removeprefix("aten::")
        kind = next((k for k, words in KINDS.items() if any(w in name for w in words)), "everything else")
        totals[kind] += event.self_cpu_time_total
    whole = sum(totals.values())
    return {k: v / whole for k, v in totals.items()}


def call_split(step: dict, n: int) -> tuple[float, float]:
    """A DiT call's time as ``o + rows·c``: per-call overhead ``o`` and per-row arithmetic ``c``, from the batched
    (one call, ``n`` rows) and separate (``n`` calls, one row) timings: ``o = (separate − batched) / (n − 1)``."""
    overhead = (step["separate"] - step["batched"]) / (n - 1)
    return overhead, (step["batched"] - overhead) / n


def needed_share(n: int, target: float = STEP_TARGET) -> float:
    """The largest ``c / o`` at which ``n`` batched rows reach ``target``: ``n(c + o) / (nc + o) >= target``."""
    return (n - target) / (n * (target - 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (docs/design.md §9: 2 cores)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clips", type=int, default=3, help="whole TIA clips timed (the best counts)")
    parser.add_argument("--profile", action="store_true", help="also: where a batched step spends its time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    pipe = HuMoLitePipeline.from_pretrained(default_checkpoint("humo-micro", 2)).to(device)
    pipe.set_progress_bar_config(disable=True)
    clip = make_clip(make_pool("heldout_identity")[0], "humo-micro")
    conditions, _ = pipe.prepare_conditions([clip.caption], None, clip.reference, clip.audio, 16_000,
                                            pipe.config.num_frames, "error")
    branches = list(EQ4_BRANCHES)
    latents = torch.randn(pipe.latent_shape(1, pipe.config.num_frames), generator=torch.Generator().manual_seed(0))
    latents, t = latents.to(device), torch.tensor(500.0, device=device)
    step = time_branches(pipe, conditions, latents, t, branches, args.warmup, args.repeats)

    def tia_clip():
        return pipe(clip.caption, image=clip.reference, audio=clip.audio, sample_rate=16_000, mode="TIA",
                    generator=torch.Generator(device="cpu").manual_seed(0))

    passes = tia_clip().dit_passes  # also the warm-up
    clip_s = []
    for _ in range(args.clips):
        start = time.perf_counter()
        tia_clip()
        clip_s.append(time.perf_counter() - start)

    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"machine: {machine}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"one step, {len(branches)} branches ({', '.join('+'.join(sorted(b)) or 'null' for b in branches)}):")
    print(f"  batched (one call, {len(branches)} rows): {step['batched'] * 1e3:7.1f} ms (median of {args.repeats})")
    print(f"  separate ({len(branches)} calls):         {step['separate'] * 1e3:7.1f} ms")
    print(f"  batched is {step['speedup']:.2f}x faster (target >= {STEP_TARGET}x)")
    print(f"one TIA clip, default schedule and steps: {min(clip_s):.2f} s, {passes} DiT passes "
          f"(target <= {CLIP_TARGET_S} s)")
    overhead, arithmetic = call_split(step, len(branches))
    print(f"  per call: about {overhead * 1e3:.1f} ms of overhead, {arithmetic * 1e3:.1f} ms of arithmetic per row; "
          f"batching saves only the overhead, so {STEP_TARGET}x needs arithmetic <= "
          f"{needed_share(len(branches)):.2f}x the overhead")
    shares = {}
    if args.profile and device.type == "cpu":
        with torch.no_grad():
            shares = profile_step(lambda: pipe.branch_velocities(latents, t, conditions, branches))
        print("  a batched step's self CPU time: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    record = {"preset": "humo-micro", "threads": torch.get_num_threads(), "device": str(device), "machine": machine,
              "branches": len(branches), "step_batched_ms": round(step["batched"] * 1e3, 2),
              "step_separate_ms": round(step["separate"] * 1e3, 2), "batched_speedup": round(step["speedup"], 3),
              "speedup_target": STEP_TARGET, "tia_clip_s": round(min(clip_s), 3), "tia_clip_dit_passes": passes,
              "clip_target_s": CLIP_TARGET_S, "call_overhead_ms": round(overhead * 1e3, 2),
              "row_arithmetic_ms": round(arithmetic * 1e3, 2),
              "profile_shares": {k: round(v, 3) for k, v in shares.items()}}
    print(json.dumps(record))


if __name__ == "__main__":
    main()

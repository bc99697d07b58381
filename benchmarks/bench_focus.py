"""Benchmark: what focus-by-predicting costs a stage-2 training step (chapter 05).

One stage-2 training step (forward + backward + AdamW on the stage-2 trainable set) of a ``humo-micro`` DiT with
audio modules, on a batch of random tensors of the cached data's shapes (16 clips: 5 latent frames of 8 x 8, one
reference frame, 8 x 80 audio windows), with and without the face-mask head (the DiT returns the last 4 blocks'
hidden states, the head predicts the mask, the size-weighted BCE joins the loss). Both tasks share the weights
and inputs and run interleaved step by step, so both see the same machine state; warm-up steps first, then the
median of the timed ones. The last line is one JSON object with the ratio.

Usage: ``python benchmarks/bench_focus.py [--preset humo-micro] [--batch 16] [--steps 10]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from humo_lite.models import build_dit
from humo_lite.models.audio import add_audio
from humo_lite.models.focus import FaceMaskHead, focus_blocks
from humo_lite.training.audio_task import AudioToVideoTask


def fake_data(n: int, dit, text_len: int = 12, frames: int = 5, grid: int = 8, audio: bool = True, seed: int = 0):
    """Random tensors shaped like the cached stage-2 data (a face in the centre of every latent frame)."""
    g = torch.Generator().manual_seed(seed)
    c = dit.config.in_channels
    data = {"latents": torch.randn(n, c, frames, grid, grid, generator=g),
            "ref_latents": torch.randn(n, c, 1, grid, grid, generator=g),
            "text_ctx": torch.randn(n, text_len, dit.config.text_dim, generator=g),
            "text_mask": torch.ones(n, text_len, dtype=torch.bool), "face_share": torch.zeros(n, frames, grid, grid)}
    data["face_share"][:, :, 2:6, 3:6] = 1.0
    if audio:
        data["audio_windows"] = torch.randn(n, frames + 1, 8, 80, generator=g)
    return data


def step_time(task, optimizer, indices) -> float:
    start = time.perf_counter()
    loss, _ = task.loss(task.modules, indices, torch.Generator().manual_seed(0), "cpu")
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    dit = add_audio(build_dit(args.preset))
    audio, plain = fake_data(64, dit), fake_data(64, dit, audio=False, seed=1)
    head = FaceMaskHead(dit.config.dim, focus_blocks(dit.config.num_layers))
    tasks = {"without focus": AudioToVideoTask(dit, audio, plain, ramp_steps=0, face_weight=4.0),
             "with focus": AudioToVideoTask(dit, audio, plain, ramp_steps=0, face_weight=4.0, mask_head=head,
                                            focus_weight=0.02)}
    optimizers = {name: torch.optim.AdamW([p for m in t.modules.values() for p in m.parameters()], lr=1e-4)
                  for name, t in tasks.items()}
    times = {name: [] for name in tasks}
    indices = torch.arange(args.batch)
    for i in range(args.warmup + args.steps):
        for name, task in tasks.items():
            task.begin_step(i)
            t = step_time(task, optimizers[name], indices)
            if i >= args.warmup:
                times[name].append(t)
    median = {name: statistics.median(v) for name, v in times.items()}
    result = {"preset": args.preset, "batch": args.batch, "steps": args.steps, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(),
              **{f"{k.replace(' ', '_')}_s": round(v, 4) for k, v in median.items()},
              "focus_over_plain": round(median["with focus"] / median["without focus"], 3),
              "head_parameters": sum(p.numel() for p in head.parameters())}
    for name, value in median.items():
        print(f"{name}: {value * 1000:.1f} ms per step (median of {args.steps})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

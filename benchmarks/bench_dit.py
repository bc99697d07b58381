"""Benchmark: one DiT training step, ours vs diffusers' ``WanTransformer3DModel`` at the same config.

``docs/design.md`` §9 budgets: our train step <= 1.1x diffusers' time, and >= 50% of the machine's measured float32
matmul FLOP/s. One training step = forward + backward + AdamW step on a humo-micro batch (17-frame 32x32
clips -> latents 5x8x8, plus 1 reference frame; the loss covers the video frames only). Both models run
with the same weights, inputs and optimizer, interleaved step by step so that both see the same machine
state; warm-up steps first, then the median of the timed ones.

FLOPs are counted analytically (matmuls only: every linear, the patch embedding, q.k and attn.v), and a
training step is counted as 3x the forward (backward = 2x forward). The machine's matmul FLOP/s is the best
of a few large float32 ``torch.matmul`` calls, measured before and after the steps (the higher counts).

Batch 8 is the default: a realistic humo-micro training batch on a 2-core CPU; a larger batch raises the
matmul share only a little (the element-wise work of norms, RoPE and GELU grows with it). On a machine shared
with other work, both medians suffer; the ratio stays fair (interleaved), and ``..._best_step`` reports the
least-disturbed step next to the median.

Usage: ``python benchmarks/bench_dit.py [--preset humo-micro] [--batch 8] [--steps 10]``. The last line of
output is one JSON object with the ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from diffusers import WanTransformer3DModel

from humo_lite.models import HuMoLiteDiT, build_dit
from humo_lite.models.wan_weights import wan_config_from_dit
from humo_lite.presets import get_preset


def forward_flops(c, batch: int, video_tokens: int, total_tokens: int, text_len: int) -> float:
    """Matmul FLOPs of one forward pass (2 per multiply-add)."""
    d, L, B = c.dim, total_tokens, batch
    patch = c.in_channels * int(torch.tensor(c.patch_size).prod())
    per_block = (
        2 * B * L * d * 3 * d  # qkv
        + 2 * 2 * B * L * L * d  # q.k and attn.v over all heads
        + 2 * B * L * d * d  # self-attn out
        + 2 * B * L * d * d * 2  # text q, out
        + 2 * B * text_len * d * 2 * d  # text k, v
        + 2 * 2 * B * L * text_len * d  # text q.k, attn.v
        + 2 * B * L * d * c.ffn_dim * 2  # FFN
    )
    embed = 2 * B * L * patch * d + 2 * B * text_len * (c.text_dim * d + d * d)
    time = 2 * B * (c.freq_dim * d + d * d + d * 6 * d)
    head = 2 * B * video_tokens * d * patch
    return c.num_layers * per_block + embed + time + head


def matmul_flops_per_s(device, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats + 1):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--refs", type=int, default=1, help="reference frames appended after the video")
    parser.add_argument("--text-len", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (docs/design.md §9: 2 cores)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    preset = get_preset(args.preset)
    world = preset.world
    ours = build_dit(args.preset).to(device)
    c = ours.config
    wan = WanTransformer3DModel(**wan_config_from_dit(ours.config)).to(device)
    ours.load_state_dict(HuMoLiteDiT.from_wan(wan).state_dict())  # same weights (and a nonzero head)

    lat_f, lat_hw = world.num_latent_frames, world.height // 4
    x_t = torch.randn(args.batch, c.in_channels, lat_f, lat_hw, lat_hw, device=device)
    ref = torch.randn(args.batch, c.in_channels, args.refs, lat_hw, lat_hw, device=device)
    target = torch.randn_like(x_t)
    timestep = torch.rand(args.batch, device=device) * 1000
    text_ctx = torch.randn(args.batch, args.text_len, c.text_dim, device=device)

    def step_ours(opt):
        loss = F.mse_loss(ours(x_t, timestep, text_ctx, ref_latents=ref).sample, target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def step_wan(opt):
        out = wan(torch.cat([x_t, ref], dim=2), timestep, text_ctx).sample[:, :, :lat_f]
        F.mse_loss(out, target).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    runs = {
        "humo_lite": (step_ours, torch.optim.AdamW(ours.parameters(), lr=1e-4, fused=True)),
        "diffusers": (step_wan, torch.optim.AdamW(wan.parameters(), lr=1e-4, fused=True)),
    }
    peak_before = matmul_flops_per_s(device)
    times = {name: [] for name in runs}
    for i in range(args.warmup + args.steps):
        for name, (step, opt) in runs.items():
            sync(device)
            t0 = time.perf_counter()
            step(opt)
            sync(device)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)

    tokens_per_frame = (lat_hw // c.patch_size[1]) * (lat_hw // c.patch_size[2])
    video_tokens = lat_f * tokens_per_frame
    total_tokens = video_tokens + args.refs * tokens_per_frame
    flops = 3 * forward_flops(c, args.batch, video_tokens, total_tokens, args.text_len)
    peak = max(peak_before, matmul_flops_per_s(device))  # best of before and after: contention only lowers it
    median = {name: statistics.median(t) for name, t in times.items()}
    achieved = {name: flops / t for name, t in median.items()}

    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"machine: {machine}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"model: {ours.describe()}")
    print(
        f"batch {args.batch} x ({lat_f}+{args.refs}) latent frames x {tokens_per_frame} tokens/frame "
        f"= {video_tokens + args.refs * tokens_per_frame} tokens/sample, text {args.text_len} tokens"
    )
    print(f"matmul FLOPs per train step: {flops / 1e9:.2f} GFLOP; fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    print(f"{'model':<12}{'median step (ms)':>18}{'min (ms)':>10}{'GFLOP/s':>10}{'% of matmul':>13}")
    for name in runs:
        print(
            f"{name:<12}{median[name] * 1e3:>18.1f}{min(times[name]) * 1e3:>10.1f}"
            f"{achieved[name] / 1e9:>10.1f}{100 * achieved[name] / peak:>12.1f}%"
        )
    result = {
        "preset": args.preset,
        "device": device.type,
        "threads": torch.get_num_threads(),
        "step_ms_ours": round(median["humo_lite"] * 1e3, 2),
        "step_ms_diffusers": round(median["diffusers"] * 1e3, 2),
        "time_ratio_vs_diffusers": round(median["humo_lite"] / median["diffusers"], 3),
        "matmul_gflops": round(peak / 1e9, 1),
        "flop_utilisation_ours": round(achieved["humo_lite"] / peak, 3),
        "flop_utilisation_diffusers": round(achieved["diffusers"] / peak, 3),
        # the fastest step, the one least disturbed by other work on a shared machine
        "flop_utilisation_ours_best_step": round(flops / min(times["humo_lite"]) / peak, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

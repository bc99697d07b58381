"""Benchmark: clips per second for rendering + audio features at a preset (``docs/design.md`` §9: >= 100 clips/s).

One "clip" is everything a training step needs from the world: the speech (synthesised or cut from the
bank), the log-mel features and lip law, the head motion, every video frame with its face mask, the
cross-paired reference image and the caption — i.e. :func:`humo_lite.data.make_clip`. Measured twice:
in this process (one core's worth of work), and through a ``DataLoader`` with ``--workers`` processes
turning clips into training tensors (``TripletDataset`` + ``collate_triplets``), as training uses it.

Usage: ``python benchmarks/bench_data.py [--preset humo-micro] [--clips 400] [--workers 2]``.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
from torch.utils.data import DataLoader

from humo_lite.data import TripletDataset, collate_triplets, make_clip, make_pool
from humo_lite.presets import get_preset

TARGET_CLIPS_PER_S = 100.0


def clips_per_second_inline(pool, world, num_clips: int) -> float:
    make_clip(pool[0], world)  # warm caches (mel filters, speech bank)
    start = time.perf_counter()
    for i in range(num_clips):
        make_clip(pool[i % len(pool)], world)
    return num_clips / (time.perf_counter() - start)


def clips_per_second_loader(pool, world, num_clips: int, workers: int, batch_size: int = 16) -> float:
    dataset = TripletDataset(pool, world)
    subset = torch.utils.data.Subset(dataset, range(min(num_clips, len(dataset))))
    loader = DataLoader(subset, batch_size=batch_size, num_workers=workers, collate_fn=collate_triplets,
                        persistent_workers=False)
    start = time.perf_counter()
    seen = sum(len(batch["index"]) for batch in loader)  # includes the workers' start-up
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--pool", default="stage2")
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)

    world = get_preset(args.preset).world
    pool = make_pool(args.pool)
    inline = clips_per_second_inline(pool, world, args.clips)
    print(f"make_clip in-process:          {inline:7.1f} clips/s ({1000 / inline:.2f} ms/clip)")
    loader = clips_per_second_loader(pool, world, args.clips, args.workers)
    print(f"DataLoader, {args.workers} workers, tensors: {loader:7.1f} clips/s")
    result = {
        "benchmark": "bench_data",
        "preset": args.preset,
        "pool": args.pool,
        "clips": args.clips,
        "clips_per_s_inline": round(inline, 1),
        "clips_per_s_loader": round(loader, 1),
        "loader_workers": args.workers,
        "target_clips_per_s": TARGET_CLIPS_PER_S,
        "ratio_to_target": round(max(inline, loader) / TARGET_CLIPS_PER_S, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

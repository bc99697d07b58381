"""Guidance branches looked at and timed (chapter 07, ``benchmarks/bench_guidance.py``; HuMo §3.4).

- :func:`branch_x0`: one clip generated as usual, and at a few of its steps every Eq. 4 branch (∅, T, TI, TIA)
  turned into its clean estimate ``x̂₀ = x_σ − σ·v(branch)`` (``humo_lite.flow_matching``) and decoded — what
  each branch would draw from there, and what each term of the guidance adds.
- :func:`dit_passes`: how many DiT rows a schedule runs for a clip (per step: the branches of that step's phase).
- :func:`time_branches`: one step's branches as rows of one batched DiT call against one call per branch,
  timed interleaved after a warm-up.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from ..flow_matching import x0_from_velocity
from ..guidance import DEFAULT_GUIDANCE, MODES, GuidanceSchedule, branch_name, get_schedule

EQ4_BRANCHES = (frozenset(), frozenset({"text"}), frozenset({"text", "image"}), frozenset({"text", "image", "audio"}))
"""Eq. 4's branches in its order: each adds one condition to the one before."""


@torch.no_grad()
def branch_x0(pipe, prompt: str, image, audio, num_inference_steps: int = 20, at_steps=(0, 5, 10, 15),
              guidance: str | GuidanceSchedule = DEFAULT_GUIDANCE, seed: int = 0) -> dict:
    """Generate ``prompt`` (TIA) with ``guidance``; at steps ``at_steps`` decode the clean estimate of every Eq. 4
    branch and of the guided velocity. Returns ``sigmas`` (one per recorded step), ``branches`` (names),
    ``x0`` ``{name: (S, F, H, W, 3)}``, ``guided`` ``(S, F, H, W, 3)`` and the finished ``frames`` ``(F, H, W, 3)``."""
    num_frames = pipe.config.num_frames
    conditions, _ = pipe.prepare_conditions([prompt], None, image, audio, 16_000, num_frames, "error")
    latents = pipe.prepare_latents(1, num_frames, torch.Generator().manual_seed(seed))
    seen = {"sigmas": [], "x0": {branch_name(b): [] for b in EQ4_BRANCHES}, "guided": []}

    def record(i, t, x_t, velocity):
        if i not in at_steps:
            return
        sigma = pipe.sigma_of(t)
        seen["sigmas"].append(sigma)
        for branch, v in zip(EQ4_BRANCHES, pipe.branch_velocities(x_t, t, conditions, list(EQ4_BRANCHES)), strict=True):
            seen["x0"][branch_name(branch)].append(pipe.decode(x0_from_velocity(x_t, v, sigma))[0])
        seen["guided"].append(pipe.decode(x0_from_velocity(x_t, velocity, sigma))[0])

    latents, _ = pipe.denoise(latents, conditions, get_schedule(guidance), num_inference_steps, on_step=record)
    return {"sigmas": seen["sigmas"], "branches": list(seen["x0"]),
            "x0": {k: np.stack(v) for k, v in seen["x0"].items()}, "guided": np.stack(seen["guided"]),
            "frames": pipe.decode(latents)[0]}


def dit_passes(schedule: str | GuidanceSchedule, sigmas, mode: str = "TIA") -> int:
    """DiT rows ``schedule`` runs for one clip whose steps sit at ``sigmas``, in ``mode`` (batched or not)."""
    schedule = get_schedule(schedule)
    return sum(len(schedule.plan(float(s), MODES[mode])[0]) for s in sigmas)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


@torch.no_grad()
def time_branches(pipe, conditions, latents: torch.Tensor, t: torch.Tensor, branches: list, warmup: int = 3,
                  repeats: int = 20) -> dict[str, float]:
    """One step's ``branches`` as rows of one DiT call (``batched``) and as one call each (``separate``), timed
    interleaved after ``warmup`` rounds: the median seconds of ``repeats`` rounds each, and their ratio."""
    calls = {"batched": lambda: pipe.branch_velocities(latents, t, conditions, branches),
             "separate": lambda: [pipe.branch_velocities(latents, t, conditions, [b]) for b in branches]}
    times = {name: [] for name in calls}
    for i in range(warmup + repeats):
        for name, fn in calls.items():
            elapsed = _timed(fn)
            if i >= warmup:
                times[name].append(elapsed)
    out = {name: statistics.median(v) for name, v in times.items()}
    return {**out, "speedup": out["separate"] / out["batched"]}


__all__ = ["EQ4_BRANCHES", "branch_x0", "dit_passes", "time_branches"]

"""Talking clips as long as their audio: consecutive windows joined by motion frames, with no training.

The DiT was trained on clips of one length (``humo-micro``: 17 frames, 5 latent frames). A longer clip is made
window by window at that length, each window continuing the one before:

- **The plan** (:func:`plan_windows`). The clip's latent frames (frame 0 alone, then one per 4 video frames, as the
  causal VAE makes them) are covered by windows of the training length that overlap by ``motion_latents`` latent
  frames (the last window slides back so it is full length and overlaps more). Window ``j`` starts at latent
  frame ``start``; its first ``carried`` latent frames are the previous window's last ones.
- **Motion frames by replacement** (``method="motion"``, :class:`MotionFrames`). Within a window, the carried
  latent frames are not generated: at every denoising step they are held on the flow-matching path of the previous
  window's clean latents, ``x_σ = (1 − σ)·z_prev + σ·ε`` (ε: the window's own noise there), while the DiT denoises
  the rest with all of them in its self-attention. The hold is written as a velocity, ``v = ε − z_prev`` — the exact
  flow velocity of that path — so the pipeline's own loop and sampler run unchanged: a predict-x0 sampler (UniPC) or
  Euler lands exactly on the path at every step, and after the last step the carried frames *are* ``z_prev``.
  This is the replacement method of video diffusion's conditional sampling (Ho et al. 2022, §3.1; RePaint's
  inpainting in time) and it needs no training.
- **Audio** (:func:`window_audio`): the whole clip's audio becomes one sequence of per-latent-frame windows
  (:func:`humo_lite.data.audio.audio_windows` on the whole clip's features), and each window takes its slice, so the
  audio runs on across every seam; the reference image conditions every window.
- **Decoding** (:class:`CausalDecoder`): the windows' new latent frames form one latent stream, decoded chunk by
  chunk with the causal VAE's feature cache carried over, so the decoder sees one continuous clip (no seam in
  decoding) and memory holds one window, whatever the clip's length.

How MultiTalk and InfiniteTalk do it (both on Wan2.1's image-to-video model; as ComfyUI-WanVideoWrapper runs them,
``docs/paper_notes.md`` §8): they decode each window, take its last few video frames, *re-encode* them with the VAE
and put those latents first in the next window. MultiTalk feeds them through the image-to-video conditioning
channel and, at every step, overwrites the first noisy latents with them re-noised (fresh noise) to the step's
level: the replacement used here. InfiniteTalk puts them in *clean* — a model trained for it. HuMo-lite is a
text-to-video model with no conditioning channel and no training for clean context frames, so only the
replacement is available, and it is all we use: no training. Two differences: the re-noising uses the window's own
noise at those frames (so the frames follow one straight path, and the sampler's multistep history stays
consistent), and since our windows share one latent stream we carry the latent itself, not a decode-and-re-encode
of it (which adds the VAE's reconstruction error at every seam). What the DiT sees as a window's first latent frame
is then a 4-frame latent where training always put a 1-frame one (a clip's frame 0); the seam score
(:mod:`humo_lite.eval.long_clips`) measures what that costs.

The two naive alternatives, for comparison: ``method="independent"`` (each window generated on its own — same
plan, same noise, same audio slices, its first latent frame a fresh start — and decoded alone, the overlapping
frames dropped), and ``method="one-window"`` (the whole clip as one window, beyond the training length: the
pipeline as it is).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .data.audio import load_wav, resample
from .eval.judge import load_judge
from .eval.long_clips import long_clip_scores, real_reference_scores, short_versions
from .eval.sync_check import summarise
from .layouts import video_to_numpy
from .models.vae import check_latents
from .pipeline import HuMoLitePipeline, check_mode
from .presets import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, VAE_TIME_STRIDE, check_num_frames, num_latent_frames

METHODS = ("motion", "independent", "one-window")
"""``motion``: motion frames by replacement (the design); ``independent`` and ``one-window``: the naive ones."""


# --- the plan -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """One window of the plan: latent frames ``start … start + size − 1`` of the clip, the first ``carried`` of
    them the previous window's (0 for the first window)."""

    start: int
    size: int
    carried: int

    @property
    def first_new_frame(self) -> int:
        """The clip's first video frame this window adds (latent ``l ≥ 1`` holds frames ``4l − 3 … 4l``)."""
        first = self.start + self.carried
        return 0 if first == 0 else VAE_TIME_STRIDE * first - (VAE_TIME_STRIDE - 1)

    @property
    def end(self) -> int:
        return self.start + self.size


def plan_windows(num_latents: int, window_latents: int, motion_latents: int = 1) -> list[Window]:
    """Windows of ``window_latents`` latent frames covering ``num_latents``, each after the first carrying
    ``motion_latents`` of the previous one's; the last slides back to stay full length (it carries more)."""
    if not isinstance(window_latents, int) or window_latents < 2:
        raise ValueError(f"a window needs at least 2 latent frames (5 video frames), got {window_latents!r}")
    if not isinstance(motion_latents, int) or not 1 <= motion_latents < window_latents:
        raise ValueError(f"motion_latents must be a whole number in 1..{window_latents - 1} (the window has "
                         f"{window_latents} latent frames), got {motion_latents!r}")
    if num_latents <= window_latents:
        return [Window(0, num_latents, 0)]
    windows, stride = [Window(0, window_latents, 0)], window_latents - motion_latents
    while windows[-1].end < num_latents:
        start = min(windows[-1].start + stride, num_latents - window_latents)
        windows.append(Window(start, window_latents, windows[-1].end - start))
    return windows


def seam_frames(windows: list[Window]) -> list[int]:
    """The first video frame each window after the first adds: the change from the frame before it crosses a seam."""
    return [w.first_new_frame for w in windows[1:]]


def frames_for_audio(num_samples: int) -> int:
    """The longest 4k+1-frame clip that ``num_samples`` of 16 kHz audio cover (640 samples per frame)."""
    covered = num_samples // SAMPLES_PER_FRAME
    if covered < 1:
        raise ValueError(f"audio is too short: {num_samples} samples ({num_samples / SAMPLE_RATE:.3f} s) cover no "
                         f"video frame; a clip needs at least {SAMPLES_PER_FRAME} samples (1 frame at 25 fps)")
    return (covered - 1) // VAE_TIME_STRIDE * VAE_TIME_STRIDE + 1


def window_audio(long_windows: torch.Tensor, window: Window, num_ref: int, fresh_start: bool) -> torch.Tensor:
    """A window's audio windows ``[B, size + R, 8, D]``: its slice of the whole clip's ``[B, L, 8, D]``, then R
    all-zero windows for the reference frames. ``fresh_start``: the first latent frame is a clip's frame 0 (the
    independent windows), which gets frame 0's form — its first 3 slots zero, as :func:`audio_windows` makes it."""
    part = long_windows[:, window.start:window.end].clone()  # (B, size, 8, D)
    if fresh_start and window.start > 0:
        part[:, 0, :3] = 0
    zeros = part.new_zeros(part.shape[0], num_ref, *part.shape[2:])
    return torch.cat([part, zeros], 1)


# --- decoding chunk by chunk ----------------------------------------------------------------------------
class CausalDecoder:
    """The causal VAE's decoder over a latent stream that arrives in chunks, with its feature cache carried from
    one chunk to the next: chunk after chunk gives the same frames as one ``decode_latents`` of the whole stream,
    while memory holds one chunk. diffusers' ``AutoencoderKLWan._decode`` runs the same loop, one latent frame at
    a time, over a whole clip."""

    def __init__(self, vae):
        self.vae = vae
        convs = vae._cached_conv_counts["decoder"]  # the causal convolutions that keep a cache (diffusers' count)
        self.cache: list = [None] * convs
        self.decoded = 0  # latent frames decoded so far

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        """The next normalised latent frames ``[B, C, f, h, w]`` → their video frames ``[B, 3, F, H, W]`` in [−1, 1]
        (``F = 4f``, or ``4f − 3`` for the chunk that starts the stream)."""
        check_latents(self.vae, latents)
        config = self.vae.config
        mean = torch.tensor(config.latents_mean, dtype=latents.dtype, device=latents.device).view(1, -1, 1, 1, 1)
        std = torch.tensor(config.latents_std, dtype=latents.dtype, device=latents.device).view(1, -1, 1, 1, 1)
        x = self.vae.post_quant_conv(latents * std + mean)  # a 1x1x1 convolution: no cache needed
        frames = []
        for i in range(x.shape[2]):
            frames.append(self.vae.decoder(x[:, :, i:i + 1], feat_cache=self.cache, feat_idx=[0],
                                           first_chunk=self.decoded == 0))
            self.decoded += 1
        return torch.cat(frames, 2).clamp(-1, 1)


# --- motion frames by replacement -----------------------------------------------------------------------
@dataclass
class MotionFrames:
    """A guidance schedule that holds a window's first latent frames on the path of known clean latents.

    Wraps any schedule (``plan(sigma, given)``); after its combination, the velocity of the first
    ``known.shape[2]`` latent frames is replaced by ``noise − known``: the exact velocity of the path
    ``x_σ = (1 − σ)·known + σ·noise``, so the sampler keeps those frames on it (module docstring). ``known`` None:
    nothing is held. ``tick`` is called once per step (a progress bar)."""

    schedule: object
    known: torch.Tensor | None = None  # (B, C, c, h, w), clean
    noise: torch.Tensor | None = None  # (B, C, c, h, w), the window's noise at those frames
    tick: object = None

    def plan(self, sigma: float, given: frozenset):
        branches, combine = self.schedule.plan(sigma, given)

        def hold(velocities: list[torch.Tensor]) -> torch.Tensor:
            v = combine(velocities)  # (B, C, F', h, w)
            if self.known is not None:
                c = self.known.shape[2]
                v = torch.cat([self.noise - self.known, v[:, :, c:]], 2)
            if self.tick is not None:
                self.tick()
            return v

        return branches, hold

    def start(self, noise: torch.Tensor, sigma: float) -> torch.Tensor:
        """The window's initial latents: ``noise``, its first frames put on the known path at ``sigma``."""
        if self.known is None:
            return noise
        c = self.known.shape[2]
        return torch.cat([(1 - sigma) * self.known + sigma * noise[:, :, :c], noise[:, :, c:]], 2)


# --- generation -----------------------------------------------------------------------------------------
@dataclass
class LongVideoOutput:
    """``frames`` ``(B, N, H, W, 3)`` in [0, 1]; ``audio`` ``(B, N·640)`` at 16 kHz (None without audio); the
    ``windows`` of the plan and the ``method``; ``dit_passes`` (batch rows x steps, all windows); ``latents``: each
    window's denoised latents ``[B, C, size, h, w]`` when asked for (``return_latents=True``), else None."""

    frames: np.ndarray
    audio: np.ndarray | None
    windows: list[Window]
    method: str
    dit_passes: int = 0
    latents: list[torch.Tensor] | None = None

    @property
    def seams(self) -> list[int]:
        return seam_frames(self.windows)


def load_long_audio(audio, sample_rate: int | None, batch: int) -> list[np.ndarray] | None:
    """Speech for ``batch`` prompts (one for all, or one each; a WAV path or an array with its ``sample_rate``)
    → 16 kHz float32 arrays, whole."""
    if audio is None:
        return None
    clips = list(audio) if isinstance(audio, (list, tuple)) else [audio] * batch
    if len(clips) != batch:
        raise ValueError(f"got {len(clips)} audio clips for {batch} prompts")
    if any(not isinstance(c, (str, os.PathLike)) for c in clips) and sample_rate is None:
        raise ValueError("audio given as an array needs its sample_rate= (e.g. sample_rate=16000); a file path "
                         "needs none")
    return [load_wav(c) if isinstance(c, (str, os.PathLike)) else resample(c, sample_rate) for c in clips]


def check_long_frames(num_frames, waves: list[np.ndarray] | None, default: int) -> int:
    """``num_frames`` checked (a whole number 4k+1), or, when None, as long as the shortest audio (else
    ``default``); audio shorter than the clip is an error naming both lengths."""
    if num_frames is None:
        num_frames = min(frames_for_audio(len(w)) for w in waves) if waves else default
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise ValueError(f"num_frames must be a whole number 4k+1 (5, 9, 17, 101, 201, ...), got {num_frames!r}")
    num_frames = check_num_frames(int(num_frames))
    for w in waves or []:
        if len(w) < num_frames * SAMPLES_PER_FRAME:
            need = num_frames * SAMPLES_PER_FRAME / SAMPLE_RATE
            raise ValueError(f"audio is too short: {len(w) / SAMPLE_RATE:.2f} s covers {frames_for_audio(len(w))} "
                             f"frames, the clip has {num_frames} ({need:.2f} s)")
    return num_frames


def _window_conditions(base, long_windows, window: Window, fresh_start: bool):
    """The pipeline's conditions for one window: the same text and reference, the window's slice of the audio."""
    if base.audio_ctx is None or long_windows is None:
        return base
    num_ref = 0 if base.ref_latents is None else base.ref_latents.shape[2]
    ctx = window_audio(long_windows, window, num_ref, fresh_start).to(base.audio_ctx.device)
    return dataclasses.replace(base, audio_ctx=ctx, given=base.given | {"audio"})


def _denoise_window(pipe, noise, conditions, hold: MotionFrames, num_inference_steps: int) -> tuple:
    """One window through the pipeline's own denoising loop, its first frames held by ``hold``."""
    pipe.scheduler.set_timesteps(num_inference_steps, device=pipe._execution_device)
    latents, passes = pipe.denoise(hold.start(noise, float(pipe.scheduler.sigmas[0])), conditions, hold,
                                   num_inference_steps)
    if hold.known is not None:
        latents[:, :, :hold.known.shape[2]] = hold.known  # exactly the known latents (the path ends there)
    if not bool(torch.isfinite(latents).all()):
        raise ValueError("the denoised latents became NaN or infinite; expected guidance scales of about 1..30")
    return latents, passes


def _run_windows(pipe, windows, conditions, long_windows, schedule, shape, method, steps, generator, bar,
                 keep_latents: bool) -> tuple:
    """Every window in turn (module docstring), decoded as it is done: frames ``(B, N, H, W, 3)``, passes, latents."""
    frames, kept, passes, previous = np.empty(shape, np.float32), [], 0, None
    stream = CausalDecoder(pipe.vae)
    for j, window in enumerate(windows):
        bar.set_postfix_str(f"window {j + 1}/{len(windows)}")
        noise = pipe.prepare_latents(shape[0], VAE_TIME_STRIDE * (window.size - 1) + 1, generator)
        c = window.carried
        known = previous[:, :, -c:] if method == "motion" and c else None
        hold = MotionFrames(schedule, known, noise[:, :, :c] if known is not None else None, tick=bar.update)
        cond = _window_conditions(conditions, long_windows, window, fresh_start=method == "independent")
        latents, n = _denoise_window(pipe, noise, cond, hold, steps)
        if method == "motion":  # one latent stream: decode the new latent frames, the cache carries the past
            video = stream(latents[:, :, c:])
        else:  # a clip of its own: decode it alone, drop the frames the previous window already gave
            video = CausalDecoder(pipe.vae)(latents)[:, :, (VAE_TIME_STRIDE * c - (VAE_TIME_STRIDE - 1) if c else 0):]
        frames[:, window.first_new_frame:window.first_new_frame + video.shape[2]] = video_to_numpy(video.float().cpu())
        passes, previous = passes + n, latents
        kept += [latents.cpu()] if keep_latents else []
    return frames, passes, (kept if keep_latents else None)


def _one_window(pipe, prompts, image, waves, num_frames: int, progress: bool, **call) -> LongVideoOutput:
    """The naive alternative: the whole clip as one window, through the pipeline as it is."""
    saved = getattr(pipe, "_progress_bar_config", {})
    pipe.set_progress_bar_config(**{**saved, "disable": not progress})
    try:
        out = pipe(prompts, image=image, audio=waves, sample_rate=SAMPLE_RATE if waves else None,
                   num_frames=num_frames, **call)
    finally:
        pipe.set_progress_bar_config(**saved)
    return LongVideoOutput(out.frames, out.audio, [Window(0, num_latent_frames(num_frames), 0)], "one-window",
                           out.dit_passes)


@torch.no_grad()
def generate_long(pipe: HuMoLitePipeline, prompt: str | list[str], image=None, audio=None,
                  sample_rate: int | None = None, num_frames: int | None = None, method: str = "motion",
                  motion_latents: int = 1,
                  num_inference_steps: int = 20, generator: torch.Generator | None = None,
                  negative_prompt: str | None = None, mode: str | None = None, unknown_words: str = "error",
                  progress: bool = True, return_latents: bool = False, **guidance) -> LongVideoOutput:
    """A clip of any 4k+1 ``num_frames`` — by default as long as the audio — in windows of the checkpoint's length.

    ``prompt``, ``image``, ``audio``, ``sample_rate``, ``negative_prompt``, ``mode``, ``unknown_words``,
    ``num_inference_steps``, ``generator`` and the guidance keywords (``guidance``, ``guidance_scale``,
    ``image_guidance_scale``, ``audio_guidance_scale``) mean what they mean to the pipeline; the reference serves
    every window, the audio is the whole clip's, sliced per window. ``method``: ``"motion"`` (motion frames by
    replacement, ``motion_latents`` latent frames carried), ``"independent"`` or ``"one-window"`` (module
    docstring). ``progress``: one bar over windows x steps. Returns :class:`LongVideoOutput`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, (list, tuple)) else prompt
    waves = load_long_audio(audio, sample_rate, len(prompts) if isinstance(prompts, list) else 1)
    window_frames = pipe.config.num_frames
    num_frames = check_long_frames(num_frames, waves, window_frames)
    rate = SAMPLE_RATE if waves is not None else None
    if method == "one-window":
        return _one_window(pipe, prompts, image, waves, num_frames, progress, generator=generator, mode=mode,
                           num_inference_steps=num_inference_steps, negative_prompt=negative_prompt,
                           unknown_words=unknown_words, **guidance)
    prompts = pipe.check_inputs(prompts, negative_prompt, image, waves, rate, num_inference_steps, "np",
                                window_frames, None, generator)
    check_mode(mode, image, audio, "audio" in (pipe.transformer.config.conditions or {}))
    schedule = pipe.guidance_schedule(guidance.pop("guidance", None), **guidance)
    windows = plan_windows(num_latent_frames(num_frames), num_latent_frames(window_frames), motion_latents)
    conditions, _ = pipe.prepare_conditions(prompts, negative_prompt, image, None, None, window_frames, unknown_words)
    cut, long_windows = pipe.prepare_audio(waves, SAMPLE_RATE, len(prompts), num_frames) if waves else (None, None)
    shape = (len(prompts), num_frames, pipe.config.height, pipe.config.width, 3)
    saved = getattr(pipe, "_progress_bar_config", {})
    pipe.set_progress_bar_config(disable=True)  # one bar here, over windows x steps
    try:
        with tqdm(total=len(windows) * num_inference_steps, desc=f"{len(windows)} windows x {num_inference_steps} "
                  "steps", disable=not progress) as bar:
            frames, passes, kept = _run_windows(pipe, windows, conditions, long_windows, schedule, shape, method,
                                                num_inference_steps, generator, bar, return_latents)
    finally:
        pipe.set_progress_bar_config(**saved)
    return LongVideoOutput(frames, cut, windows, method, passes, kept)


# --- the comparison -------------------------------------------------------------------------------------
def generate_for_clips(pipe, clips: list, method: str = "motion", seed: int = 0, batch_size: int = 8,
                       progress: bool = False, **kwargs) -> tuple[np.ndarray, list[Window]]:
    """Each clip's caption, reference and whole audio through :func:`generate_long` at the clip's length, in
    batches, the noise of batch ``k`` seeded ``seed + k·batch_size``: frames ``(N, F, H, W, 3)`` and the plan."""
    frames = []
    for start in range(0, len(clips), batch_size):
        chunk = clips[start:start + batch_size]
        out = generate_long(pipe, [c.caption for c in chunk], image=[[c.reference] for c in chunk],
                            audio=[c.audio for c in chunk], sample_rate=SAMPLE_RATE, num_frames=chunk[0].num_frames,
                            method=method, generator=torch.Generator().manual_seed(seed + start), progress=progress,
                            **kwargs)
        frames.append(out.frames)
    return np.concatenate(frames), out.windows


def _scored_seeds(pipe, clips, method, seeds, seams, ceilings, judge, **kwargs) -> dict:
    """One method over several sampling seeds: per-seed rows, their mean and std, Sync-C and ID-lite over the
    reconstruction ceiling (per seed, so they have a std too)."""
    recon, per_seed = ceilings["reconstruction"], []
    for seed in seeds:
        frames, _ = generate_for_clips(pipe, clips, method, seed, **kwargs)
        row = long_clip_scores(judge, frames, clips, seams)
        row.update(sync_c_over_reconstruction=row["sync_c"] / recon["sync_c"],
                   sync_d_over_reconstruction=row["sync_d"] / recon["sync_d"],
                   id_lite_over_reconstruction=row["id_lite"] / recon["id_lite"])
        per_seed.append({"seed": int(seed), **row})
    mean, std = summarise(per_seed)
    return {"per_seed": per_seed, "mean": mean, "std": std,
            "id_per_window": np.mean([r["id_per_window"] for r in per_seed], 0).tolist()}


def compare_long_methods(pipe, clips: list, seeds=(0, 1, 2), methods=METHODS, judge=None, motion_latents: int = 1,
                         **kwargs) -> dict:
    """Every method of :data:`METHODS` on the long ``clips`` (all one length), each over ``seeds``, scored by
    :func:`~humo_lite.eval.long_clips.long_clip_scores` at the seams of the windowed plan (the one-window clips
    too, at the same frames), with the real clips' and the reconstructions' scores as ceilings. ``kwargs``:
    ``batch_size``, ``progress``, ``num_inference_steps`` and the guidance keywords."""
    judge = load_judge(judge)
    num_frames = clips[0].num_frames
    plan = plan_windows(num_latent_frames(num_frames), num_latent_frames(pipe.config.num_frames), motion_latents)
    seams = seam_frames(plan)
    ceilings = real_reference_scores(pipe.vae, clips, seams, judge)
    results = {m: _scored_seeds(pipe, clips, m, seeds, seams, ceilings, judge, motion_latents=motion_latents,
                                **kwargs) for m in methods}
    return {"num_clips": len(clips), "num_frames": num_frames, "seconds": num_frames / FPS,
            "window_frames": pipe.config.num_frames, "motion_latents": motion_latents,
            "windows": [dataclasses.asdict(w) for w in plan], "seams": seams, "seeds": [int(s) for s in seeds],
            "ceilings": ceilings, "methods": results}


def long_vs_single_window(pipe, clips: list, seeds=(0, 1, 2), judge=None, **kwargs) -> dict:
    """Motion frames over the whole of each long clip against one window at the training length (the same people,
    speech and start): ID-lite of the last window over the first's, and Sync-C-lite over the whole clip over one
    window's — each Sync-C as a ratio to the reconstruction ceiling at its own length."""
    judge = load_judge(judge)
    short = short_versions(clips, pipe.config.num_frames)
    long = compare_long_methods(pipe, clips, seeds, ("motion",), judge, **kwargs)
    single = compare_long_methods(pipe, short, seeds, ("motion",), judge, **kwargs)
    whole, one = long["methods"]["motion"]["mean"], single["methods"]["motion"]["mean"]
    return {"long": long, "single_window": single,
            "id_last_over_first": whole["id_last_over_first"],
            "sync_c_whole_over_single_window": whole["sync_c_over_reconstruction"] / one["sync_c_over_reconstruction"],
            "sync_c_whole_over_single_window_raw": whole["sync_c"] / one["sync_c"]}


__all__ = ["METHODS", "CausalDecoder", "LongVideoOutput", "MotionFrames", "Window", "check_long_frames",
           "compare_long_methods", "frames_for_audio", "generate_for_clips", "generate_long", "load_long_audio",
           "long_vs_single_window", "plan_windows", "seam_frames", "window_audio"]

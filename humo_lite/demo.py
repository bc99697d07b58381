"""HuMo's task in one call: a caption, a face and a recording no training pool has → a talking clip with sound.

What ``humo-lite demo`` and chapter 00 show first. The inputs are one person of the ``heldout_voice`` pool (an
identity and a recording that neither trained nor chose any model), rendered for ``seconds`` so that its
caption, its reference portrait and its speech are real data (:func:`demo_person`); the shipped stage-2 pipeline
makes the clip as long as the speech, in windows of its training length joined by motion frames
(:func:`humo_lite.long_video.generate_long`, chapter 09). :func:`save_talking_clip` writes it as an MP4 with its
sound track and a PNG strip (the reference, then frames across the clip).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .eval.long_clips import long_heldout_clips
from .io import atomic_path, check_count, check_real, write_mp4
from .long_video import generate_long
from .pipeline import HuMoLitePipeline
from .presets import FPS, SAMPLE_RATE
from .shipped import default_checkpoint

DEMO_SECONDS = 3.0  # long enough to hear a sentence, short enough for a first command


@dataclass
class TalkingClip:
    """A generated clip and what made it: ``frames`` ``(N, H, W, 3)`` in [0, 1], ``audio`` at 16 kHz (the
    recording it speaks), the ``caption`` and ``reference`` it was given, the pipeline's ``windows`` and
    ``dit_passes``, and ``seconds``: the wall time of generating it."""

    frames: np.ndarray
    audio: np.ndarray
    caption: str
    reference: np.ndarray
    windows: int
    dit_passes: int
    seconds: float

    @property
    def duration(self) -> float:
        return len(self.frames) / FPS


def demo_frames(seconds: float) -> int:
    """The 4k+1 frame count nearest ``seconds`` at 25 fps (the causal VAE's clip lengths)."""
    check_real(seconds, "seconds", 0.2, 60, what="the clip's length in seconds")
    return 4 * max(1, round(seconds * FPS / 4)) + 1


def demo_person(preset: str = "humo-micro", seconds: float = DEMO_SECONDS, index: int = 0):
    """Person ``index`` of the ``heldout_voice`` pool rendered for ``seconds``: a
    :class:`~humo_lite.data.world.Clip` whose ``caption``, ``reference`` and ``audio`` are the demo's inputs."""
    check_count(index, "index", 0, 199, what="a person of the heldout_voice pool, which holds 200")
    return long_heldout_clips(index + 1, demo_frames(seconds), preset)[index]


def load_stage2(preset: str = "humo-micro", checkpoint: str | os.PathLike | None = None) -> HuMoLitePipeline:
    """The shipped stage-2 pipeline of ``preset`` (or the pipeline folder ``checkpoint``), progress bars off."""
    pipe = HuMoLitePipeline.from_pretrained(Path(checkpoint or default_checkpoint(preset, 2)))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def talk(pipe: HuMoLitePipeline, person, mode: str = "TIA", seed: int = 0, num_inference_steps: int = 20,
         num_frames: int | None = None, progress: bool = False) -> TalkingClip:
    """The clip ``pipe`` makes for ``person``'s caption with its reference (modes with I) and its speech (modes
    with A), as long as ``num_frames`` (default: the person's clip), sampling seed ``seed``."""
    frames = num_frames or person.num_frames
    speech = person.audio[:frames * SAMPLE_RATE // FPS]  # the recording's first ``frames`` frames
    image, audio = (person.reference if "I" in mode else None), (speech if "A" in mode else None)
    start = time.perf_counter()
    out = generate_long(pipe, person.caption, image=image, audio=audio, sample_rate=SAMPLE_RATE if audio is not None
                        else None, num_frames=frames, mode=mode, num_inference_steps=num_inference_steps,
                        generator=torch.Generator().manual_seed(seed), progress=progress)
    sound = out.audio[0] if out.audio is not None else speech
    return TalkingClip(out.frames[0], sound, person.caption, person.reference, len(out.windows), out.dit_passes,
                       round(time.perf_counter() - start, 2))


def save_talking_clip(clip: TalkingClip, out_dir: str | os.PathLike, name: str = "talking", scale: int = 8,
                      panels: int = 8) -> list[Path]:
    """Write ``name.mp4`` (the frames with their sound track) and ``name.png`` (the reference, then ``panels``
    frames spread over the clip, under the caption) into ``out_dir``; returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .viz.plots import plot_clip

    out_dir = Path(out_dir)
    mp4 = write_mp4(out_dir / f"{name}.mp4", clip.frames, audio=clip.audio, scale=scale)
    every = max(1, -(-len(clip.frames) // panels))  # ceil: at most ``panels`` frames
    shown = dataclasses.make_dataclass("Shown", ["video", "reference", "caption", "num_frames"])(
        clip.frames, clip.reference, f"{clip.caption}  ({clip.duration:.2f} s, with sound in {mp4.name})",
        len(clip.frames))
    fig = plot_clip(shown, every=every, masks=False)
    with atomic_path(out_dir / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return [mp4, out_dir / f"{name}.png"]


__all__ = ["DEMO_SECONDS", "TalkingClip", "demo_frames", "demo_person", "load_stage2", "save_talking_clip", "talk"]

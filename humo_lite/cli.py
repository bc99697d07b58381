"""``humo-lite``: the command line.

    humo-lite tour                       # the quick start: a few triplets from each pool, as MP4 + PNG
    humo-lite data stats                 # the pools: clips, identities, scene pairs, conditions
    humo-lite data show --pool stage2 --index 3 --out outputs/show
    humo-lite data export --pool stage2 --count 8 --out outputs/my_clips   # BYO folder format
    humo-lite train vae --preset humo-micro --out outputs/humo-micro/vae
    humo-lite train stage0 --preset humo-micro --vae outputs/humo-micro/vae --out outputs/humo-micro
    humo-lite train stage1 --preset humo-micro --out outputs/humo-micro-stage1   # from the shipped stage 0
    humo-lite train stage2 --preset humo-micro --out outputs/humo-micro-stage2   # from the shipped stage 1
    humo-lite generate --prompt "a person in a red shirt stands in the centre of a blue room, nodding"
    humo-lite generate --audio speech.wav --image face.png   # a talking clip as long as the audio
    humo-lite train judge --preset humo-micro --out outputs/judge
    humo-lite site --smoke               # the chapters executed and rendered as HTML: docs/_build/index.html

Every command that writes prints where; every file is written atomically. A mistake (a bad value, a missing
or unwritable file, a folder another run is writing) stops with one line saying what was expected and exit
status 2, before any work where it can be known then; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from .data.captions import EXAMPLE_CAPTION
from .guidance import PRESETS as GUIDANCE_PRESETS
from .presets import DEFAULT_PRESET, PRESETS, get_preset
from .shipped import default_checkpoint  # noqa: F401  (notebooks and scripts import it from here too)


def _table(rows: list[dict]) -> str:
    keys = list(rows[0])
    widths = [max(len(str(k)), *(len(str(r[k])) for r in rows)) for k in keys]
    line = "  ".join(str(k).ljust(w) for k, w in zip(keys, widths, strict=False))
    body = ["  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths, strict=False)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def cmd_tour(args) -> None:
    from .data import make_clip, make_pool, pool_summary
    from .data.render import mouth_darkness
    from .viz.clip_files import save_clip

    world = get_preset(args.preset).world
    out = Path(args.out)
    print(f"humo_lite tour: preset {args.preset} ({world.height}x{world.width}, {world.num_frames} frames at "
          f"{world.fps} fps, {world.duration:.2f} s, audio {world.sample_rate} Hz)\n")
    print(_table(pool_summary(args.world_seed)) + "\n")
    start = time.perf_counter()
    for name in ("foundation", "stage1", "stage2", "heldout_identity"):
        clip = make_clip(make_pool(name, args.world_seed)[0], world)
        paths = save_clip(clip, out, f"{name}_0")
        r = np.corrcoef(clip.mouth, mouth_darkness(clip.video, clip.face_mask))[0, 1]
        print(f"{name:17s} {clip.caption!r}\n{'':17s} -> {paths[0]} (with sound), {paths[1].name}; "
              f"lip law vs mouth in pixels: r = {r:+.2f}")
    print(f"\nwrote {out}/ in {time.perf_counter() - start:.1f} s. Next: the notebooks in notebooks/, "
          f"chapter 01 first.")


def cmd_data_stats(args) -> None:
    from .data import pool_summary

    print(_table(pool_summary(args.world_seed)))


def cmd_data_show(args) -> None:
    from .data import make_clip, make_pool
    from .viz.clip_files import save_clip

    pool = make_pool(args.pool, args.world_seed)
    if not 0 <= args.index < len(pool):
        raise ValueError(f"--index must be a whole number in 0..{len(pool) - 1} for pool {args.pool!r}, "
                         f"got {args.index}")
    clip = make_clip(pool[args.index], args.preset)
    for path in save_clip(clip, args.out, f"{args.pool}_{args.index}"):
        print(f"wrote {path}")
    print(f"caption: {clip.caption}\nlabels: {clip.labels}")


def cmd_data_export(args) -> None:
    from tqdm.auto import tqdm

    from .data import make_clip, make_pool
    from .data.byo import export_byo_clip

    pool = make_pool(args.pool, args.world_seed)
    if not 1 <= args.count <= len(pool):
        raise ValueError(f"--count must be a whole number in 1..{len(pool)} (the clips of pool {args.pool!r}), "
                         f"got {args.count}")
    count = args.count
    for i in tqdm(range(count), desc=f"export {args.pool}"):
        export_byo_clip(make_clip(pool[i], args.preset), Path(args.out) / f"{args.pool}_{i:05d}")
    print(f"wrote {count} clip folders to {args.out}")


def cmd_train_judge(args) -> None:
    from .eval.judge_training import JudgeTrainConfig, train_judge

    config = JudgeTrainConfig(**given(args, "steps"))  # steps left out: the preset's
    checkpoint = train_judge(args.preset, args.out, config=config, command=args.command_line, **given(args, "seed"))
    numbers = checkpoint.manifest["validation"]
    print(_table([{"metric": k, "value": v} for k, v in numbers.items() if not isinstance(v, dict)]))
    print(f"wrote {args.out} in {checkpoint.manifest['wall_time_s']} s")


def cmd_train_vae(args) -> None:
    from .recipes import train_vae
    from .training.vae_training import VAETrainConfig

    config = VAETrainConfig(**given(args, "steps", "image_steps", "seed"))  # the rest: VAETrainConfig's defaults
    manifest = train_vae(args.preset, args.out, config, overwrite=args.overwrite, command=args.command_line)
    print(_table([{"metric": k, "value": v} for k, v in manifest["metrics"].items()]))
    if "reconstruction_ceiling" in manifest:
        ceiling = manifest["reconstruction_ceiling"]
        print(_table([{"metric": k, "real": ceiling["real"][k], "reconstruction": v}
                      for k, v in ceiling["metrics"].items()]))
    print(f"wrote {args.out} in {manifest['wall_time_s']} s")


TRAINER_FLAGS = ("steps", "batch_size", "lr", "seed", "checkpoint_every")
"""The flags of every DiT stage that are :class:`~humo_lite.training.trainer.TrainConfig` fields."""


def given(args, *flags: str, **renamed: str) -> dict:
    """The flags the user gave, as keyword arguments: ``flags`` keep their name, ``renamed`` maps flag → keyword.

    Flags left out are not passed on, so the Python function's defaults stay the one source.
    """
    pairs = [(flag, flag) for flag in flags] + list(renamed.items())
    return {keyword: getattr(args, flag) for flag, keyword in pairs if getattr(args, flag) is not None}


def cmd_train_stage0(args) -> None:
    from .recipes import Stage0Config, train_stage0
    from .training.trainer import TrainConfig

    config = Stage0Config(TrainConfig(**given(args, *TRAINER_FLAGS)),  # the rest: Stage0Config's defaults
                          **given(args, "eval_clips", "role_weight", "sigma_shift", clips="num_clips"))
    manifest = train_stage0(args.preset, args.vae, args.out, config, command=args.command_line,
                            override_config=args.override_config)
    if "wall_time_s" in manifest:
        print(f"final loss {manifest['final_loss']:.4f}; wrote {Path(args.out) / 'pipeline'} "
              f"in {manifest['wall_time_s']} s")
        if manifest["metrics"]:
            print(f"held-out scene combinations: {manifest['metrics']}")


def cmd_train_stage1(args) -> None:
    from .recipes import Stage1Config, stage1_config, train_stage1

    config = Stage1Config(stage1_config(**given(args, *TRAINER_FLAGS)),  # the rest: Stage1Config's defaults
                          **given(args, "eval_clips", "stage", "reference_position", "image_dropout", "text_dropout",
                                  "face_weight", clips="num_clips"))
    manifest = train_stage1(args.preset, args.stage0, args.out, config, command=args.command_line,
                            override_config=args.override_config)
    if "wall_time_s" in manifest:
        _print_trained(manifest, args.out)
        for mode, m in manifest["metrics"].items():
            print(f"held-out identities, {mode}: ID-lite {m['id_lite']:.3f}, retrieval top-1 "
                  f"{m['retrieval_top1']:.3f} (chance {m['chance']:.3f}), TVA-lite {m['judge']['tva_lite']:.3f}")


def _print_trained(manifest: dict, out: str) -> None:
    """One line after a DiT stage: what trained, the final loss, where it was written and how long it took."""
    trainable = manifest["trainable"]
    print(f"{trainable['stage']}: {trainable['trainable']:,} of {trainable['total']:,} parameters trained; final "
          f"loss {manifest['final_loss']:.4f}; wrote {Path(out) / 'pipeline'} in {manifest['wall_time_s']} s")


def cmd_train_stage2(args) -> None:
    from .recipes import Stage2Config, stage2_config, train_stage2

    config = Stage2Config(stage2_config(**given(args, *TRAINER_FLAGS)),  # the rest: Stage2Config's defaults
                          **given(args, "eval_clips", "share_start", "share_end", "ramp_steps", "text_dropout",
                                  "image_dropout", "audio_dropout", "audio_tokens", "audio_band_norm", "face_weight",
                                  "focus_weight", "focus_blocks", "curve", "curve_every", "voice_rates",
                                  clips="num_clips", plain_clips="num_plain_clips"))
    manifest = train_stage2(args.preset, args.stage1, args.out, config, command=args.command_line,
                            override_config=args.override_config)
    if "wall_time_s" in manifest:
        _print_trained(manifest, args.out)
        if manifest["metrics"]:
            print("held-out people speaking held-out recordings (TIA):")
            for key, value in manifest["metrics"]["summary"].items():
                print(f"  {key}: {value}")


def cmd_generate(args) -> None:
    import torch

    from .io import read_image, write_mp4
    from .long_video import generate_long
    from .pipeline import HuMoLitePipeline
    from .presets import FPS

    # audio needs stage 2, a reference stage 1 (or 2)
    stage = args.stage if args.stage is not None else 2 if args.audio else 1 if args.image else 0
    if args.image and stage == 0 and not args.checkpoint:
        raise ValueError("--image needs a checkpoint trained with references: --stage 1 or 2 (stage 0 is text only)")
    if args.audio and stage < 2 and not args.checkpoint:
        raise ValueError(f"--audio needs a checkpoint with audio layers: --stage 2 (stage {stage} has none)")
    checkpoint = Path(args.checkpoint or default_checkpoint(args.preset, stage))
    if args.checkpoint and args.preset_given:
        from .pipeline import check_checkpoint_preset

        check_checkpoint_preset(checkpoint, args.preset)
    pipe = HuMoLitePipeline.from_pretrained(checkpoint)
    image = fit_reference(read_image(args.image), pipe.config.height, pipe.config.width) if args.image else None
    options = given(args, "guidance_scale", "image_guidance_scale", "audio_guidance_scale", "num_frames",
                    steps="num_inference_steps", guidance_preset="guidance")  # the rest: the pipeline's defaults
    # as long as the audio (or --num-frames), in windows of the checkpoint's length joined by motion frames
    out = generate_long(pipe, args.prompt, image=image, audio=args.audio, unknown_words=args.unknown_words,
                        generator=torch.Generator().manual_seed(args.seed), **options)
    path = write_mp4(args.out, out.frames[0], audio=None if out.audio is None else out.audio[0], scale=args.scale)
    frames = out.frames.shape[1]
    print(f"wrote {path} ({frames} frames, {frames / FPS:.2f} s{', with sound' if out.audio is not None else ''}) "
          f"with {checkpoint}; {len(out.windows)} window(s) of {pipe.config.num_frames} frames, {out.dit_passes} DiT "
          "passes")


def fit_reference(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """A reference image at the model's size: a square image of another size is resized (Lanczos) with a note;
    any other aspect ratio is an error (cropping is the user's call: which part is the face?)."""
    from PIL import Image

    from .layouts import as_images

    if image.shape[:2] == (height, width):
        return image
    if image.shape[0] * width != image.shape[1] * height:
        raise ValueError(f"--image is {image.shape[1]}x{image.shape[0]} pixels; the model makes {width}x{height} "
                         f"clips: crop it to that aspect ratio around the face first")
    rgb = (as_images(image)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # (H, W, 3), white behind alpha
    print(f"note: --image resized from {image.shape[1]}x{image.shape[0]} to the model's {width}x{height}")
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.LANCZOS), np.float32) / 255


def whole(low: int, high: int | None = None, what: str = ""):
    """argparse type: a whole number in ``low..high``, with an error giving the range."""
    span = f"in {low}..{high}" if high is not None else f">= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number {span}{what}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected a whole number {span}{what}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def finite(text: str) -> float:
    """argparse type: a finite number (no nan, inf)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def nonempty(text: str) -> str:
    """argparse type: a non-empty string."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value, got ''")
    return text


positive_int = whole(1)  # argparse type: a whole number >= 1, with an error that says so
SEED = whole(0, 2**63 - 1)  # what torch.Generator.manual_seed takes
REPRODUCE_STAGES = ("judge", "vae", "stage0", "stage1", "stage2")  # humo_lite.reproduce.STAGES, without importing torch


def _add(subparsers, name, func, help_text, out=None) -> argparse.ArgumentParser:
    """A sub-command with the options every command shares (preset, world seed, output)."""
    p = subparsers.add_parser(name, help=help_text)
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    p.add_argument("--world-seed", type=SEED, default=0, help="seed of the world's pools")
    if out:
        p.add_argument("--out", default=out, help=f"output folder (default {out})")
    p.set_defaults(func=func)
    return p


SHIPPED = "(default: the shipped setting)"
# Training and generation flags default to None: a flag left out is not passed on, so the Python function's
# defaults (the config dataclasses TrainConfig, VAETrainConfig, Stage0Config, Stage1Config and JudgeTrainConfig,
# train_stage2's signature, the pipeline's __call__) are the one source.


def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="the toy world's data").add_subparsers(dest="data_command", required=True)
    _add(data, "stats", cmd_data_stats, "pool sizes")
    show = _add(data, "show", cmd_data_show, "write one clip as MP4 (with sound) + PNG", out="outputs/show")
    show.add_argument("--pool", default="stage2")
    show.add_argument("--index", type=whole(0), default=0)
    export = _add(data, "export", cmd_data_export, "write clips in the BYO folder format", out="outputs/export")
    export.add_argument("--pool", default="stage2")
    export.add_argument("--count", type=positive_int, default=8, help="clips to write (at most the pool's size)")


def _add_train_commands(sub) -> None:
    train = sub.add_parser("train", help="train a model").add_subparsers(dest="train_command", required=True)
    judge = _add(train, "judge", cmd_train_judge, "train the evaluation judge (chapter 08)", out="outputs/judge")
    judge.add_argument("--seed", type=SEED, default=None, help="(default: 0)")
    judge.add_argument("--steps", type=positive_int, default=None, help="training steps (default: the preset's)")
    vae = _add(train, "vae", cmd_train_vae, "train the tiny Wan VAE (chapter 02)", out="outputs/humo-micro/vae")
    vae.add_argument("--seed", type=SEED, default=None, help="(default: 0)")
    vae.add_argument("--image-steps", type=whole(0), default=None, help=f"steps on single frames first {SHIPPED}")
    vae.add_argument("--steps", type=positive_int, default=None, help=f"then steps on whole clips {SHIPPED}")
    vae.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    stage0 = _add(train, "stage0", cmd_train_stage0, "train the text-to-video foundation model (chapter 02)",
                  out="outputs/humo-micro")
    stage0.add_argument("--vae", default=None, help="trained VAE folder (default: OUT/vae)")
    _add_dit_training_flags(stage0, "foundation clips to use, of 6000", "held-out scene clips to score")
    stage0.add_argument("--role-weight", type=finite, default=None,
                        help=f"weight of the text encoder's binding objective, 0: video loss only {SHIPPED}")
    stage0.add_argument("--sigma-shift", type=finite, default=None,
                        help=f"shift of the training noise levels towards pure noise, 1: none {SHIPPED}")
    stage1 = _add(train, "stage1", cmd_train_stage1, "train reference injection on top of stage 0 (chapter 03)",
                  out="outputs/humo-micro-stage1")
    stage1.add_argument("--stage0", default=None, help="stage-0 pipeline folder (default: the shipped one)")
    _add_dit_training_flags(stage1, "stage-1 clips to use, of 1500",
                            "held-out identity clips to score in TI and T mode")
    stage1.add_argument("--stage", default=None, choices=["stage1", "full"],
                        help="what trains: self-attention only (HuMo) or everything (the baseline) "
                             "(default: stage1)")
    stage1.add_argument("--reference-position", default=None, choices=["after", "before"],
                        help="reference latent after the video (HuMo) or before it (the ablation) (default: after)")
    stage1.add_argument("--text-dropout", type=finite, default=None, help=f"caption drop rate {SHIPPED}")
    stage1.add_argument("--image-dropout", type=finite, default=None, help=f"reference drop rate {SHIPPED}")
    stage1.add_argument("--face-weight", type=finite, default=None,
                        help=f"extra loss weight on the face's latent cells, 0: HuMo's plain loss {SHIPPED}")
    _add_stage2_command(train)


def _add_stage2_command(train) -> None:
    stage2 = _add(train, "stage2", cmd_train_stage2, "train audio-driven lips on top of stage 1 (chapter 04)",
                  out="outputs/humo-micro-stage2")
    stage2.add_argument("--stage1", default=None, help="stage-1 pipeline folder (default: the shipped one)")
    _add_dit_training_flags(stage2, "audio triplets (the stage-2 pool holds 400; up to 4000 are drawn from its "
                                    "people and rooms)",
                            "held-out people speaking held-out recordings to score, per seed")
    stage2.add_argument("--plain-clips", type=positive_int, default=None,
                        help=f"stage-1 clips (audio null) mixed in, of 1500 {SHIPPED}")
    stage2.add_argument("--share-start", type=finite, default=None, help=f"audio share at step 0 {SHIPPED}")
    stage2.add_argument("--share-end", type=finite, default=None, help=f"audio share after the ramp {SHIPPED}")
    stage2.add_argument("--ramp-steps", type=whole(0), default=None,
                        help="steps of the audio share's linear ramp (default: two thirds of --steps)")
    stage2.add_argument("--text-dropout", type=finite, default=None, help=f"caption drop rate {SHIPPED}")
    stage2.add_argument("--image-dropout", type=finite, default=None, help=f"reference drop rate {SHIPPED}")
    stage2.add_argument("--audio-dropout", type=finite, default=None, help=f"audio drop rate {SHIPPED}")
    stage2.add_argument("--audio-tokens", type=positive_int, default=None,
                        help=f"audio tokens per latent frame (HuMo: 16) {SHIPPED}")
    stage2.add_argument("--audio-band-norm", action=argparse.BooleanOptionalAction, default=None,
                        help="remove each clip's average spectral shape before the audio projector (chapter 04 "
                             f"measures it) {SHIPPED}")
    stage2.add_argument("--face-weight", type=float, default=None,
                        help=f"extra loss weight on the face of audio triplets, 0: HuMo's plain loss {SHIPPED}")
    stage2.add_argument("--focus-weight", type=finite, default=None,
                        help=f"weight of focus-by-predicting's face-mask loss, 0: no mask head {SHIPPED}")
    stage2.add_argument("--focus-blocks", type=positive_int, default=None,
                        help="last DiT blocks the mask head reads (default: HuMo's 4, or every block if fewer)")
    stage2.add_argument("--voice-rates", type=finite, default=None,
                        help="play the pool's bank recordings at rates drawn from [1 - v, 1 + v] (more voices; "
                             f"chapter 04 measures it) {SHIPPED}")
    stage2.add_argument("--no-curve", dest="curve", action="store_false", default=None,
                        help="skip the held-out curve (loss, Sync-C-lite, ID-lite, TVA-lite) measured during training")
    stage2.add_argument("--curve-every", type=positive_int, default=None, help=f"steps between its points {SHIPPED}")


def _add_dit_training_flags(parser: argparse.ArgumentParser, clips_help: str, eval_help: str) -> None:
    """The trainer's flags, shared by every DiT stage."""
    parser.add_argument("--seed", type=SEED, default=None, help="(default: 0)")
    parser.add_argument("--steps", type=positive_int, default=None, help=SHIPPED)
    parser.add_argument("--batch-size", type=positive_int, default=None, help=SHIPPED)
    parser.add_argument("--lr", type=finite, default=None, help=SHIPPED)
    parser.add_argument("--clips", type=positive_int, default=None, help=f"{clips_help} {SHIPPED}")
    parser.add_argument("--checkpoint-every", type=positive_int, default=None,
                        help=f"steps between checkpoints {SHIPPED}")
    parser.add_argument("--eval-clips", type=whole(0, 200), default=None,
                        help=f"{eval_help}, of 200, 0: skip {SHIPPED}")
    parser.add_argument("--override-config", action="store_true",
                        help="resume a checkpoint even though a setting differs (continue with the new one)")


def _add_generate_command(sub) -> None:
    gen = _add(sub, "generate", cmd_generate, "generate a clip (MP4, with sound if --audio)",
               out="outputs/generate.mp4")
    gen.add_argument("--prompt", default=EXAMPLE_CAPTION,
                     help=f"a caption in the toy vocabulary (default: {EXAMPLE_CAPTION!r})")
    gen.add_argument("--checkpoint", default=None, help="pipeline folder (default: the preset's shipped one)")
    gen.add_argument("--image", default=None, help="reference image (PNG) at the model's size")
    gen.add_argument("--stage", type=int, default=None, choices=[0, 1, 2],
                     help="which shipped checkpoint (without --checkpoint): 0 text only, 1 text + reference, "
                          "2 text + reference + audio (default: 2 with --audio, 1 with --image, else 0)")
    gen.add_argument("--audio", default=None, help="speech (WAV; resampled to 16 kHz): the clip is as long as it "
                     "(rounded down to 4k+1 frames), made in windows of the checkpoint's length")
    gen.add_argument("--num-frames", type=whole(1), default=None,
                     help="frames, 4k+1 (default: as long as --audio, else the checkpoint's); longer clips are made "
                          "in windows joined by motion frames")
    gen.add_argument("--steps", type=whole(1, 1000), default=None,
                     help="denoising steps, 1..1000 (default: the pipeline's, 20)")
    gen.add_argument("--guidance-scale", "--guidance", dest="guidance_scale", type=finite, default=None,
                     help="text guidance scale, 1 = off (default: the pipeline's default guidance, below); "
                          "--guidance is the old name")
    gen.add_argument("--image-guidance-scale", type=finite, default=None,
                     help="reference guidance scale (TI/TIA), 1 = off (any scale given: the adaptive Eq. 4 with "
                          "it, the others 5, 5, 5.5)")
    gen.add_argument("--audio-guidance-scale", type=finite, default=None,
                     help="audio guidance scale (TA/TIA), 1 = off (below sigma 0.98)")
    gen.add_argument("--guidance-preset", default=None, choices=sorted(GUIDANCE_PRESETS),
                     help="a named guidance schedule instead of the scales (chapter 07). With neither: 'default', the "
                          "talking schedule in TIA (text 5, image 3, then text 3, image 7.5, audio 5.5 below sigma "
                          "0.98), adaptive Eq. 4 at text 5, image 5, audio 5.5 otherwise")
    gen.add_argument("--seed", type=SEED, default=0)
    gen.add_argument("--scale", type=whole(1, 64), default=8, help="upscale the MP4 by this factor (nearest), 1..64")
    gen.add_argument("--unknown-words", default="error", choices=["error", "unk"],
                     help="a prompt word outside the vocabulary: stop (default) or map it to <unk>")


def cmd_demo(args) -> None:
    from .demo import demo_person, load_stage2, save_talking_clip, talk

    start = time.perf_counter()
    person = demo_person(args.preset, args.seconds, args.person)
    pipe = load_stage2(args.preset)
    print(f"HuMo-lite ({args.preset}, {default_checkpoint(args.preset, 2).name}): text + reference + audio -> video")
    print(f"  text:      {person.caption!r}\n  reference: the portrait of a person no model trained on\n"
          f"  audio:     {len(person.audio) / 16_000:.2f} s of a recording no model trained on")
    clip = talk(pipe, person, seed=args.seed, num_inference_steps=args.steps, progress=True)
    mp4, png = save_talking_clip(clip, args.out, scale=args.scale)
    print(f"wrote {mp4} ({len(clip.frames)} frames, {clip.duration:.2f} s, with sound) and {png.name}: "
          f"{clip.windows} windows of {pipe.config.num_frames} frames joined by motion frames, {clip.seconds:.1f} s "
          f"to generate; {time.perf_counter() - start:.1f} s in all\n")
    if args.tour:
        args.out = str(Path(args.out) / "tour")
        cmd_tour(args)


def _add_demo_command(sub) -> None:
    from .demo import DEMO_SECONDS

    demo = _add(sub, "demo", cmd_demo, "HuMo in one command: a talking clip from the shipped model, then the tour",
                out="outputs/demo")
    demo.add_argument("--seconds", type=finite, default=DEMO_SECONDS,
                      help=f"the clip's length, rounded to 4k+1 frames at 25 fps (default {DEMO_SECONDS})")
    demo.add_argument("--person", type=whole(0, 199), default=0,
                      help="which person of the held-out pool speaks (0..199; default 0)")
    demo.add_argument("--steps", type=whole(1, 1000), default=20, help="denoising steps (default 20)")
    demo.add_argument("--seed", type=SEED, default=0)
    demo.add_argument("--scale", type=whole(1, 64), default=8, help="upscale the MP4 by this factor (nearest)")
    demo.add_argument("--no-tour", dest="tour", action="store_false", help="the talking clip only")


def cmd_reproduce(args) -> None:
    from .reproduce import Limits, reproduce, ship_results
    from .reproduce_spread import JUDGED_STAGES, rescore_with_shipped_judge, spread_rows, write_record
    from .shipped import data_samples_dir

    if args.world_seed != 0:
        raise ValueError(f"--world-seed must be 0 for reproduce (the shipped checkpoints were trained on world 0), "
                         f"got {args.world_seed}")
    limits = Limits(args.max_steps, args.max_clips)
    if args.ablations:
        from .reproduce_ablations import run_ablations

        json_path, md_path = run_ablations(args.preset, args.out, range(args.seeds), limits, args.results,
                                           command=args.command_line)
        print(f"wrote {json_path} and {md_path}")
        return
    if args.ship and (args.seed is not None or args.until != REPRODUCE_STAGES[-1]):
        raise ValueError("--ship ships a whole reproduction with the recorded seeds: leave out --seed and --until")
    state = reproduce(args.preset, args.out, limits, command=args.command_line, seed=args.seed, until=args.until)
    if args.same_judge:  # the rebuilt stages and the other seeds' alike
        for folder in [args.out, *args.spread]:
            for stage in JUDGED_STAGES:
                number = rescore_with_shipped_judge(folder, stage)
                if number is not None:
                    print(f"{folder} {stage}: scored again with the shipped judge: {number}")
    print(_table(spread_rows(state, args.spread)))
    print(f"{args.out}: every stage up to {args.until} done, {state['wall_time_s_this_run']:.0f} s this run; plan "
          f"and times in {Path(args.out) / 'reproduce.json'}")
    record = args.record
    if args.ship and record is None:
        record = data_samples_dir() / "results" / f"reproduce-{state['preset']}.json"
    if record is not None:  # before --ship replaces the shipped manifests it compares with
        print(f"wrote {write_record(state, record, args.spread)}")
    if args.ship:
        for line in ship_results(args.out, args.preset, command=args.command_line):
            print(line)


def _add_reproduce_command(sub) -> None:
    rep = _add(sub, "reproduce", cmd_reproduce, "retrain every shipped checkpoint from scratch, in order (resumes)",
               out="outputs/reproduce")
    rep.add_argument("--ship", action="store_true",
                     help="then ship the results into data_samples/checkpoints (float16, checks run again)")
    rep.add_argument("--ablations", action="store_true",
                     help="instead: the ablations of chapters 03, 05-06 and chapter 07's schedules, one results file")
    rep.add_argument("--seeds", type=whole(2, 100), default=3, help="--ablations: seeds 0..N-1 (default 3)")
    rep.add_argument("--results", default=None,
                     help="--ablations: the results file (default data_samples/results/ablations-PRESET.json)")
    rep.add_argument("--seed", type=SEED, default=None,
                     help="train every stage with this seed instead of the recorded ones: another seed of the same "
                          "recipes, to measure how far a seed moves the numbers (cannot --ship)")
    rep.add_argument("--until", choices=REPRODUCE_STAGES, default=REPRODUCE_STAGES[-1],
                     help="stop after this stage (default: all)")
    rep.add_argument("--spread", action="append", default=[], metavar="FOLDER",
                     help="a reproduction run with --seed: its numbers join the seeds' spread each stage's number "
                          "is judged against (repeatable)")
    rep.add_argument("--same-judge", action="store_true",
                     help="score stages 0-2 again with the shipped judge, the ruler of the shipped numbers and the "
                          "seeds' records, in this run and the --spread runs, and judge 'back' on that (minutes: "
                          "each stage's check runs once more)")
    rep.add_argument("--record", default=None, metavar="PATH",
                     help="write the run's record (times; each number beside the shipped one and the seeds') to PATH "
                          "(--ship writes it to data_samples/results/reproduce-PRESET.json)")
    rep.add_argument("--max-steps", type=whole(20), default=None,
                     help="cap every stage's steps (a quick look, the tests; default: the recorded recipes)")
    rep.add_argument("--max-clips", type=whole(8), default=None,
                     help="cap every clip count, training and checks (default: the recorded recipes)")


def cmd_site(args) -> None:
    from .site import ChapterFailed, build_site, chapter_notebooks

    notebooks = chapter_notebooks(args.chapters)
    mode = "SMOKE" if args.smoke else "full"
    print(f"running {len(notebooks)} chapter(s) in {mode} mode: {', '.join(p.stem for p in notebooks)}")
    start = time.perf_counter()
    try:
        index = build_site(notebooks, args.out, smoke=args.smoke)
    except ChapterFailed as exc:
        sys.exit(f"humo-lite: {exc}")
    print(f"built in {time.perf_counter() - start:.0f} s; open {index.resolve()}")


def _add_site_command(sub) -> None:
    from .site import DEFAULT_OUT

    site = sub.add_parser("site", help="execute the chapters and render them as a static HTML site")
    site.add_argument("--smoke", action="store_true", help="the fast SMOKE runs instead of full mode")
    site.add_argument("--chapters", nargs="+", type=nonempty, default=None, metavar="NN",
                      help="chapters to build, by the start of their name (default: all)")
    site.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    site.set_defaults(func=cmd_site)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="humo-lite", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo_command(sub)
    _add(sub, "tour", cmd_tour, "render a few triplets from each pool (the quick start)", out="outputs/tour")
    _add_data_commands(sub)
    _add_train_commands(sub)
    _add_generate_command(sub)
    _add_site_command(sub)
    _add_reproduce_command(sub)
    return parser


OUTPUT_KIND = {"generate": ("file", (".mp4",))}  # every other command's --out is a folder


def _message(exc: BaseException) -> str:
    """One line for an exception: OS errors as 'what: file', KeyError without its quotes."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename and str(exc).startswith("["):
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"humo-lite: warning: {message}", file=sys.stderr)


def _is_main_rank() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0) == 0


def main(argv: list[str] | None = None) -> int:
    """Run a command; ``argv`` defaults to the process's arguments. Returns the exit status.

    0: done; 2: a mistake the user can fix (a value, a file, a permission, a folder in use; one line on
    stderr, before any work where it can be known then); 1: a run that stopped (training diverged) or an
    unexpected error; 130: interrupted. ``--debug`` shows the traceback instead.
    """
    from .io import FolderInUse, check_output_path, output_lock
    from .training.trainer import TrainingDiverged, end_distributed

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["humo-lite", *argv])  # what manifests record: the command as it was given
    args.preset_given = any(a == "--preset" or a.startswith("--preset=") for a in argv)
    if "--guidance" in argv:
        print("humo-lite: note: --guidance is now --guidance-scale; the old name goes in the next release",
              file=sys.stderr)
    with warnings.catch_warnings():
        if not args.debug:
            warnings.showwarning = _show_warning
        try:
            with contextlib.ExitStack() as stack:
                if getattr(args, "out", None) is not None:
                    kind, suffixes = OUTPUT_KIND.get(args.command, ("folder", ()))
                    check_output_path(args.out, kind, suffixes)
                    if _is_main_rank():  # other processes of a distributed run write nothing themselves
                        stack.enter_context(output_lock(args.out))
                args.func(args)
                end_distributed()  # several processes (accelerate launch): leave together
        except KeyboardInterrupt:
            if args.debug:
                raise
            print("humo-lite: interrupted; what was saved is kept (a training run resumes from its last checkpoint "
                  "with the same command)", file=sys.stderr)
            return 130
        except (ValueError, TypeError, KeyError, OSError, FolderInUse, TrainingDiverged) as exc:
            if args.debug:
                raise
            print(f"humo-lite: error: {_message(exc)}", file=sys.stderr)
            return 1 if isinstance(exc, TrainingDiverged) else 2
        except Exception as exc:  # not a user's mistake: say so, keep the traceback for --debug
            if args.debug:
                raise
            print(f"humo-lite: unexpected error ({type(exc).__name__}: {_message(exc)}); run again with --debug for "
                  f"the traceback", file=sys.stderr)
            traceback.clear_frames(exc.__traceback__)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

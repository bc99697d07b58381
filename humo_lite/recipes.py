"""The recipes that make the shipped pipeline checkpoints: train, assemble the pipeline, score it, write it.

A recipe sits above every layer (``docs/design.md`` §10): it trains with :mod:`humo_lite.training`,
assembles a :class:`~humo_lite.pipeline.HuMoLitePipeline`, scores it with the judge
(:mod:`humo_lite.eval`) and writes the folder with a manifest (command, seed, config, wall time,
machine, measured numbers). Each trainer's settings are one config dataclass, the one source of its
defaults, which are the shipped ``humo-micro`` model's (:class:`Stage0Config`, :class:`Stage1Config`; the VAE's
:class:`~humo_lite.training.vae_training.VAETrainConfig`): ``humo-lite train stage0`` with no flags and
:func:`train_stage0` with no arguments train the same model, and the manifest records the config whole
(``settings``). ``humo-lite train vae`` runs :func:`train_vae`: the VAE
(:func:`~humo_lite.training.vae_training.fit_vae`), then its reconstruction ceiling and mouth check measured
with the judge (:mod:`humo_lite.eval.ceilings`) and written into its manifest. Stage 2 keeps its keyword
signature and records its settings whole in its manifest.

Stage 0 is our stand-in for pretrained Wan (``docs/paper_notes.md`` §1.1, ``docs/design.md`` §4): the DiT
and the small text encoder trained together on the foundation pool's cached latents, the text encoder
with its binding objective (:class:`~humo_lite.training.tasks.TextToVideoTask`). Later stages start
from its folder exactly as HuMo starts from Wan.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .data.pools import MAX_VOICE_RATES, POOL_CONFIGS
from .eval.audio_focus import audio_face_share
from .eval.ceilings import write_reconstruction_ceiling
from .eval.heldout_loss import heldout_data, heldout_loss
from .eval.identity_check import generate_clips, heldout_identity_check
from .eval.judge import load_judge
from .eval.mask_check import heldout_mask_check
from .eval.scene_check import heldout_scene_check
from .eval.sync_check import heldout_sync_check, heldout_voice_clips, score_frames, sync_ceilings
from .flow_matching import make_scheduler
from .guidance import talking_schedule
from .io import (
    atomic_dir,
    check_count,
    check_finite_tensors,
    check_output_path,
    check_real,
    machine_info,
    record_checksums,
    write_json,
)
from .models import build_dit
from .models.audio import add_audio
from .models.focus import FaceMaskHead, focus_blocks
from .models.text_encoder import build_text_encoder
from .models.vae import load_vae
from .pipeline import HuMoLitePipeline, check_checkpoint_preset
from .presets import Preset, get_preset
from .shipped import default_checkpoint, relative_path
from .training.audio_task import AudioToVideoTask
from .training.latent_cache import cache_latents, encode_text
from .training.reference_task import ReferenceToVideoTask
from .training.stages import describe_trainable, trainable_summary
from .training.tasks import TextToVideoTask
from .training.trainer import TrainConfig, Trainer
from .training.vae_training import VAETrainConfig, fit_vae

MASK_HEAD_FOLDER = "mask_head"  # beside a stage-2 pipeline trained with focus-by-predicting; never loaded by it
SAMPLING_SHIFT = 3.0  # the scheduler's σ shift at inference (Wan uses 5 at 480p; small latents need less)
STAGE1_TRAINING = {"steps": 3000, "lr": 1e-3, "warmup_steps": 100}
"""Stage 1's training settings where they differ from :class:`TrainConfig`'s (stage 0's): :class:`Stage1Config`'s
``train``."""
STAGE1_CHECK_GUIDANCE = {"TI": {"guidance_scale": 3.0, "image_guidance_scale": 5.0}, "T": {"guidance_scale": 5.0}}
"""The guidance of stage 1's held-out identity check, per mode. TI: text 3, image 5, chosen on the validation pool
(people that neither train nor test) by ``scripts/stage1_guidance_scales.py``
(``data_samples/ablations/stage1_guidance_scales.json``: the highest ID-lite whose TVA-lite stays within 0.03 of
stage 0's; on training identities it chose the same); T: stage 0's text scale."""


@dataclass
class Stage0Config:
    """How :func:`train_stage0` trains. The defaults are the shipped ``humo-micro`` stage 0's; ``humo-lite train
    stage0`` passes on only the flags given, so this is the one source. The manifest records it whole
    (``settings``)."""

    train: TrainConfig = field(default_factory=TrainConfig)  # the optimiser, steps, batch, EMA, seed
    num_clips: int = 3000  # foundation clips cached as latents
    text_dropout: float = 0.1  # share of captions replaced by the null text (guidance's unconditional branch)
    role_weight: float = 0.1  # weight of the text encoder's binding objective; 0: video loss only
    sigma_shift: float = 3.0  # shift of the training σ (logit-normal) towards noise, where layout is decided
    eval_clips: int = 48  # held-out scene clips scored at the end; 0: skip


@dataclass
class Stage1Config:
    """How :func:`train_stage1` trains. The defaults are the shipped ``humo-micro`` stage 1's; ``humo-lite train
    stage1`` passes on only the flags given. The manifest records it whole (``settings``)."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(**STAGE1_TRAINING))  # stage 0's, 3000 steps
    num_clips: int = 1500  # stage-1 clips cached with their cross-paired references
    text_dropout: float = 0.1  # per-sample probability of dropping the caption...
    image_dropout: float = 0.1  # ...and, independently, the reference
    stage: str = "stage1"  # what trains: "stage1" (self-attention only, HuMo) or "full" (the baseline)
    reference_position: str = "after"  # the reference after the video (HuMo) or "before" it (the ablation)
    sigma_shift: float = 3.0  # shift of the training σ towards noise, as stage 0's
    face_weight: float = 0.0  # extra loss weight on the face's latent cells (ours); 0: HuMo's plain loss
    eval_clips: int = 48  # held-out identity clips scored in TI and T mode at the end; 0: skip
    curve_every: int = 0  # steps between points of the held-out curve (training_curve); 0: no curve


def stage1_config(**overrides) -> TrainConfig:
    """Stage 1's :class:`TrainConfig` (:class:`Stage1Config`'s ``train``) with ``overrides``."""
    return replace(Stage1Config().train, **overrides)


def _stage_config(config, kind: type):
    """``config``, or ``kind()`` for None; a clear error for anything else (a bare TrainConfig included)."""
    if config is None:
        return kind()
    if not isinstance(config, kind):
        raise TypeError(f"config must be a humo_lite.recipes.{kind.__name__} (the optimiser's TrainConfig is its "
                        f"train= field), got {type(config).__name__}")
    return config


def _check_args(out_dir, config, pools: dict[str, tuple[str, int]], rates: dict[str, float] = (),
                weights: dict[str, float] = (), shift: float = 1.0) -> None:
    """A recipe's arguments checked before any work: ``pools`` maps an argument to (pool, value) — a clip count
    in 1..pool size, or 0..pool size for the held-out ``eval_clips``; ``rates`` lie in [0, 1); ``weights`` are
    finite and >= 0; the σ shift is finite and > 0; ``out_dir`` can be written as a folder."""
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a humo_lite.training.TrainConfig, got {type(config).__name__}")
    for name, (pool, value) in pools.items():
        size = POOL_CONFIGS[pool].size
        check_count(value, name, 0 if name == "eval_clips" else 1, size,
                    f"clips of the {pool} pool, which holds {size}" + ("; 0: skip the check" if name == "eval_clips"
                                                                       else ""))
    for name, value in dict(rates).items():
        check_real(value, name, 0, 1, high_open=True, what="a share")
    for name, value in dict(weights).items():
        check_real(value, name, 0, what="0: off")
    check_real(shift, "sigma_shift", 0, low_open=True, what="1: no shift")
    check_output_path(out_dir, "folder")


def save_pipeline(pipe, folder: str | os.PathLike, manifest: dict | None = None,
                  extra_files: dict[str, Path] | None = None, mask_head=None) -> Path:
    """``pipe.save_pretrained`` (safetensors) into ``folder`` atomically, with ``manifest.json`` beside it.

    ``extra_files`` maps a path inside the folder to a file to copy there (e.g. the VAE's own manifest).
    ``mask_head`` (focus-by-predicting's, training only) is saved beside the pipeline in ``mask_head/``, which
    ``model_index.json`` does not list, so loading the pipeline never loads or runs it.
    Every weight is checked finite first (a NaN model is never saved), and the manifest records each weights
    file's SHA-256 (:func:`humo_lite.io.record_checksums`), which ``from_pretrained`` checks.
    """
    for name in ("transformer", "vae", "text_encoder"):
        check_finite_tensors(getattr(pipe, name).state_dict(), f"not saving {folder}: the {name}")
    with atomic_dir(folder, overwrite=True) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        if mask_head is not None:
            check_finite_tensors(mask_head.state_dict(), f"not saving {folder}: the mask head")
            mask_head.save_pretrained(Path(tmp) / MASK_HEAD_FOLDER, safe_serialization=True)
        for target, source in (extra_files or {}).items():
            if Path(source).is_file():
                shutil.copyfile(source, Path(tmp) / target)
                if Path(target).name == "manifest.json" and Path(target).parent != Path("."):
                    record_checksums(Path(tmp) / Path(target).parent)  # its folder's files as saved here
        if manifest is not None:
            write_json(Path(tmp) / "manifest.json", manifest)
            manifest["sha256"] = record_checksums(tmp)
    return Path(folder)


def assemble_pipeline(preset: Preset, transformer, vae, text_encoder,
                      null_reference_frames: int = 0) -> HuMoLitePipeline:
    """The trained components as a pipeline at the preset's clip size, with the UniPC sampler.

    ``null_reference_frames``: 1 for a model trained with a reference frame that was zeros when dropped
    (stages 1 and 2), so that it gets the same null reference when called without an image."""
    world = preset.world
    pipe = HuMoLitePipeline(transformer.eval(), vae.eval(), text_encoder.eval(),
                            make_scheduler("unipc", shift=SAMPLING_SHIFT),
                            height=world.height, width=world.width, num_frames=world.num_frames,
                            null_reference_frames=null_reference_frames)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def train_vae(preset: Preset | str = "humo-micro", out_dir: str | os.PathLike = "outputs/humo-micro/vae",
              config: VAETrainConfig | None = None, *, judge=None, overwrite: bool = False, progress: bool = True,
              command: str | None = None) -> dict:
    """Train a VAE (:func:`humo_lite.training.vae_training.fit_vae`; ``config``: default
    :class:`~humo_lite.training.vae_training.VAETrainConfig`) and, when the judge reads frames of this
    preset's size, store its reconstruction ceiling and mouth check in its manifest. Returns the manifest."""
    preset = get_preset(preset)
    check_output_path(out_dir, "folder")
    _, manifest = fit_vae(preset, out_dir, config, overwrite=overwrite, progress=progress, command=command)
    judge = load_judge(judge)
    if get_preset(judge.manifest.get("preset", "humo-micro")).world == preset.world:
        write_reconstruction_ceiling(out_dir, judge, progress=progress)
        manifest = json.loads((Path(out_dir) / "manifest.json").read_text())
    return manifest


def _vae_wall_time(vae_path: Path) -> float | None:
    manifest = vae_path / "manifest.json"
    return json.loads(manifest.read_text()).get("wall_time_s") if manifest.is_file() else None


def _train(task, config: TrainConfig, out_dir, progress: bool, override_config: bool) -> tuple[Trainer, dict]:
    """Run the trainer (resuming from ``out_dir/checkpoint``); returns it and its summary."""
    trainer = Trainer(task, config, out_dir)
    return trainer, trainer.train(progress=progress, override_config=override_config)


def _stage_manifest(kind: str, preset: Preset, config, task, summary: dict, command: str | None,
                    times: dict[str, float], metrics: dict) -> dict:
    """What every DiT stage's manifest records: command, seed, the trainer's config and the stage's config
    whole, the task's hyper-parameters, times, metrics, final loss, machine."""
    return {
        "kind": kind, "preset": preset.name,
        "command": command or f"humo_lite.recipes.train_{kind}(preset={preset.name!r}, ...)",
        "seed": config.train.seed, "config": dict(vars(config.train)), "settings": asdict(config),
        "task": task.hyperparameters(), "wall_time_s": round(times["train"], 1),
        "latent_cache_time_s": round(times["cache"], 1), "metrics": metrics, "final_loss": summary["final_loss"],
        "replica_checksums": summary["replica_checksums"], "machine": machine_info(),
    }


def stage0_task(vae, preset: Preset, data: dict[str, torch.Tensor], config: Stage0Config) -> TextToVideoTask:
    """Stage 0's task on foundation clips cached as latents (``data``): a fresh DiT, denoising this VAE's
    latents, and a fresh text encoder."""
    transformer = build_dit(preset, in_channels=vae.config.z_dim)  # the DiT denoises this VAE's latents
    text_encoder = build_text_encoder(preset)
    keys = ("latents", "text_ids", "text_mask") + (("text_roles",) if config.role_weight else ())
    return TextToVideoTask(transformer, text_encoder, {k: data[k] for k in keys}, text_dropout=config.text_dropout,
                           role_weight=config.role_weight, shift=config.sigma_shift)


def train_stage0(preset: Preset | str = "humo-micro", vae_path: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike = "outputs/humo-micro", config: Stage0Config | None = None, *,
                 command: str | None = None, progress: bool = True, override_config: bool = False,
                 judge=None) -> dict:
    """Train stage 0 and save a pipeline folder at ``out_dir/pipeline`` (+ ``manifest.json``).

    ``vae_path``: a trained VAE folder (default ``out_dir/vae``). ``config``: default :class:`Stage0Config`
    (the shipped model's settings). ``judge`` scores the held-out scene check (default: the shipped judge).
    ``out_dir/checkpoint`` holds the trainer state; re-running the same call resumes from it (a changed
    setting is an error unless ``override_config``). Returns the manifest: command, seed, config, wall
    time, machine, final loss and, with ``eval_clips`` > 0, the held-out scene check
    (:func:`humo_lite.eval.scene_check.heldout_scene_check`).
    """
    start = time.perf_counter()
    preset, config = get_preset(preset), _stage_config(config, Stage0Config)
    _check_args(out_dir, config.train, {"num_clips": ("foundation", config.num_clips),
                                        "eval_clips": ("heldout_scene", config.eval_clips)},
                {"text_dropout": config.text_dropout}, {"role_weight": config.role_weight}, config.sigma_shift)
    vae_path = Path(vae_path or Path(out_dir) / "vae")
    vae = load_vae(vae_path, preset)
    torch.manual_seed(config.train.seed)
    data = cache_latents(vae, "foundation", preset, size=config.num_clips, progress=progress)
    times = {"cache": time.perf_counter() - start}
    task = stage0_task(vae, preset, data, config)
    trainer, summary = _train(task, config.train, out_dir, progress, override_config)
    if not trainer.accelerator.is_main_process:
        return summary

    ema = trainer.ema_state_dicts()  # the shipped weights are the EMA's
    for name, module in task.modules.items():
        module.load_state_dict(ema[name])
    pipe = assemble_pipeline(preset, task.modules["transformer"], vae, task.modules["text_encoder"])
    times["train"] = time.perf_counter() - start
    metrics = heldout_scene_check(pipe, config.eval_clips, seed=config.train.seed, progress=progress,
                                  judge=judge) if config.eval_clips else {}
    manifest = {
        **_stage_manifest("stage0", preset, config, task, summary, command, times, metrics),
        "train_pool": "foundation", "num_clips": task.num_items, "text_dropout": config.text_dropout,
        "role_weight": config.role_weight, "sigma_shift": config.sigma_shift,
        "vae_wall_time_s": _vae_wall_time(vae_path),
        "params": {name: sum(p.numel() for p in module.parameters()) for name, module in task.modules.items()},
    }
    extra = {"vae/manifest.json": vae_path / "manifest.json"}
    save_pipeline(pipe, Path(out_dir) / "pipeline", manifest, extra_files=extra)
    return manifest


@torch.no_grad()
def stage1_data(pipe: HuMoLitePipeline, preset: Preset, num_clips: int, progress: bool) -> dict[str, torch.Tensor]:
    """The stage-1 pool cached: video and reference latents, and the frozen text encoder's output."""
    data = cache_latents(pipe.vae, "stage1", preset, size=num_clips, progress=progress, references=True)
    text_ctx = encode_text(pipe.text_encoder, data["text_ids"], data["text_mask"])
    return {"latents": data["latents"], "ref_latents": data["ref_latents"], "text_ctx": text_ctx,
            "text_mask": data["text_mask"], "face_share": data["face_share"]}


def stage1_checks(pipe, num_clips: int = 48, seed: int = 0, preset: str = "humo-micro", judge=None,
                  progress: bool = True, num_inference_steps: int = 20) -> dict:
    """Stage 1's held-out identity check in TI and T mode, each with its :data:`STAGE1_CHECK_GUIDANCE`."""
    return {mode: heldout_identity_check(pipe, num_clips, use_reference=mode == "TI", seed=seed, progress=progress,
                                         judge=judge, preset=preset, num_inference_steps=num_inference_steps,
                                         **STAGE1_CHECK_GUIDANCE[mode])
            for mode in ("TI", "T")}


def stage1_task(transformer, data: dict[str, torch.Tensor], config: Stage1Config) -> ReferenceToVideoTask:
    """Stage 1's task on the cached stage-1 pool (:func:`stage1_data`): the DiT's ``reference_position`` set
    from ``config`` first (a config entry, saved with the model), then the task, which reads it."""
    transformer.set_reference_position(config.reference_position)
    return ReferenceToVideoTask(transformer, data, text_dropout=config.text_dropout, image_dropout=config.image_dropout,
                                shift=config.sigma_shift, stage=config.stage, face_weight=config.face_weight)


def train_stage1(preset: Preset | str = "humo-micro", stage0_path: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike = "outputs/humo-micro-stage1", config: Stage1Config | None = None, *,
                 command: str | None = None, progress: bool = True, override_config: bool = False,
                 judge=None) -> dict:
    """Train stage 1 from a stage-0 pipeline folder; save the pipeline at ``out_dir/pipeline`` (+ manifest).

    ``stage0_path``: default the shipped ``data_samples/checkpoints/<preset>``. ``config``: default
    :class:`Stage1Config`. The stage-1 pool's ``num_clips`` clips and their cross-paired references are cached
    as latents; the DiT trains with :func:`stage1_task` (``stage`` picks what trains). Resumes from
    ``out_dir/checkpoint`` like :func:`train_stage0`. With ``eval_clips`` > 0 the manifest holds the
    held-out identity check in TI and T mode (:func:`stage1_checks`).
    """
    start = time.perf_counter()
    preset, config = get_preset(preset), _stage_config(config, Stage1Config)
    _check_args(out_dir, config.train, {"num_clips": ("stage1", config.num_clips),
                                        "eval_clips": ("heldout_identity", config.eval_clips)},
                {"text_dropout": config.text_dropout, "image_dropout": config.image_dropout},
                {"face_weight": config.face_weight}, config.sigma_shift)
    stage0_path = Path(stage0_path or default_checkpoint(preset.name))
    check_checkpoint_preset(stage0_path, preset)
    pipe = HuMoLitePipeline.from_pretrained(stage0_path)
    torch.manual_seed(config.train.seed)
    data = stage1_data(pipe, preset, config.num_clips, progress)
    times = {"cache": time.perf_counter() - start}
    task = stage1_task(pipe.transformer, data, config)
    transformer = task.modules["transformer"]
    if progress:
        print(describe_trainable(transformer, config.stage))
    trainer = Trainer(task, config.train, out_dir)
    evaluate = training_curve(pipe, preset, judge=judge) if config.curve_every else None
    summary = trainer.train(progress=progress, override_config=override_config, evaluate=evaluate,
                            evaluate_every=config.curve_every)
    if not trainer.accelerator.is_main_process:
        return summary
    transformer.load_state_dict(trainer.ema_state_dicts()["transformer"])
    pipe = assemble_pipeline(preset, transformer, pipe.vae, pipe.text_encoder, null_reference_frames=1)
    times["train"] = time.perf_counter() - start
    metrics = stage1_checks(pipe, config.eval_clips, config.train.seed, preset.name, judge,
                            progress) if config.eval_clips else {}
    trainable = trainable_summary(transformer, config.stage)
    manifest = {
        **_stage_manifest("stage1", preset, config, task, summary, command, times, metrics),
        "stage0": relative_path(stage0_path), "train_pool": "stage1", "num_clips": task.num_items,
        "trainable": {k: trainable[k] for k in ("stage", "what", "trainable", "total", "share")},
        **({"curve": trainer.evaluations, "curve_time_s": summary.get("evaluation_time_s")}
           if config.curve_every else {}),
    }
    extra = {"vae/manifest.json": stage0_path / "vae" / "manifest.json", "stage0_manifest.json":
             stage0_path / "manifest.json"}
    save_pipeline(pipe, Path(out_dir) / "pipeline", manifest, extra_files=extra)
    return manifest


# --- stage 2 ------------------------------------------------------------------------------------------------
STAGE2_TRAINING = {"steps": 3000, "lr": 1e-3, "warmup_steps": 100}
"""Stage 2's training settings where they differ from :class:`TrainConfig`'s (stage 0's)."""
STAGE2_MAX_CLIPS = 4000  # the stage-2 pool drawn larger: the same people and rooms, more recordings
STAGE2_EVAL_EVERY = 500  # steps between points of the held-out curve (loss and Sync-C-lite)


@dataclass
class Stage2Config:
    """How :func:`train_stage2` trains. The defaults are the shipped ``humo-micro`` stage 2's (chosen on the
    validation pool, ``scripts/stage2_selection.py``); ``humo-lite train stage2`` passes on only the flags given.
    The manifest records it whole (``settings``)."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(**STAGE2_TRAINING))  # 3000 steps, lr 1e-3
    num_clips: int = 1200  # audio triplets drawn from the stage-2 pool's people and rooms (the pool holds 400)
    num_plain_clips: int = 1500  # stage-1 triplets mixed in, their audio null
    share_start: float = 0.2  # share of audio triplets at step 0 (HuMo)...
    share_end: float = 0.5  # ...after the ramp (HuMo)
    ramp_steps: int | None = None  # steps of the linear ramp; None: two thirds of train.steps
    text_dropout: float = 0.1  # per-sample drop probabilities, independent
    image_dropout: float = 0.15
    audio_dropout: float = 0.1  # (audio triplets only)
    audio_tokens: int = 16  # per latent frame (HuMo)
    audio_band_norm: bool = True  # the projector removes each clip's average spectral shape (ours; validation pool)
    sigma_shift: float = 3.0  # shift of the training σ towards noise, as stages 0 and 1
    face_weight: float = 4.0  # extra loss weight on the face of audio triplets (ours); 0: HuMo's plain loss
    focus_weight: float = 0.02  # focus-by-predicting's mask-loss weight (HuMo §3.3; validation pool); 0: no head
    focus_blocks: int | None = None  # last blocks the mask head reads; None: HuMo's 4, or every block if fewer
    eval_clips: int = 48  # held-out people speaking in a held-out voice, per sampling seed; 0: skip the check
    eval_seeds: tuple[int, ...] = (0, 1, 2)
    curve: bool = True  # measure the held-out curve (training_curve) every curve_every steps
    curve_every: int = STAGE2_EVAL_EVERY
    voice_rates: float = 0.0  # > 0: the pool's bank recordings played at rates in [1 - v, 1 + v] (new voices; ours)


def stage2_config(**overrides) -> TrainConfig:
    """Stage 2's :class:`TrainConfig` (:class:`Stage2Config`'s ``train``) with ``overrides``."""
    return replace(Stage2Config().train, **overrides)


@torch.no_grad()
def stage2_data(pipe: HuMoLitePipeline, preset: Preset, num_clips: int, num_plain_clips: int,
                progress: bool, voice_rates: float = 0.0) -> tuple[dict, dict]:
    """The stage-2 pool (audio triplets, with windows; ``voice_rates``: :class:`Stage2Config`'s) and the stage-1
    pool (its audio null), cached."""
    audio = cache_latents(pipe.vae, "stage2", preset, size=num_clips, progress=progress, references=True,
                          audio=True, voice_rates=voice_rates or None)
    audio_data = {"latents": audio["latents"], "ref_latents": audio["ref_latents"],
                  "audio_windows": audio["audio_windows"], "face_share": audio["face_share"],
                  "text_ctx": encode_text(pipe.text_encoder, audio["text_ids"], audio["text_mask"]),
                  "text_mask": audio["text_mask"]}
    return audio_data, stage1_data(pipe, preset, num_plain_clips, progress)


def training_curve(pipe: HuMoLitePipeline, preset: Preset, num_clips: int = 16, num_inference_steps: int = 10,
                   judge=None):
    """The function the trainer calls every few steps (stages 1 and 2): the held-out flow-matching loss (48
    ``heldout_voice`` clips, fixed noise and σ), and ``num_clips`` of them generated (reference, and audio when
    the DiT has audio modules; ``num_inference_steps`` steps, sampling seed 0) and judged: Sync-C-lite (and
    against shuffled audio), ID-lite and TVA-lite. With a mask head among the trained modules, its held-out IoU
    at σ = 0.5 (:func:`~humo_lite.eval.mask_check.heldout_mask_check`)."""
    data = heldout_data(pipe, num_clips=48, preset=preset.name)
    clips = heldout_voice_clips(num_clips, preset.name)
    lips = np.stack([c.mouth for c in clips])
    judge = load_judge(judge)

    def evaluate(step: int, modules: dict) -> dict:
        transformer = modules["transformer"]
        probe = assemble_pipeline(preset, transformer, pipe.vae, pipe.text_encoder, null_reference_frames=1)
        audio = (transformer.config.get("conditions") or {}).get("audio") is not None
        frames = generate_clips(probe, clips, True, 0, 16, False, use_audio=audio,
                                num_inference_steps=num_inference_steps)
        row = score_frames(judge, frames, clips, lips, use_reference=True)
        out = {"heldout_loss": heldout_loss(transformer, data)["loss"], "heldout_sync_c": row["sync_c"],
               "heldout_sync_c_shuffled": row["sync_c_shuffled"], "heldout_id_lite": row["id_lite"],
               "heldout_tva_lite": row["tva_lite"]}
        if "mask_head" in modules:
            out["heldout_mask_iou"] = heldout_mask_check(transformer, modules["mask_head"], data, sigmas=(0.5,))["iou"]
        return out

    return evaluate


def stage2_checks(pipe, stage1_pipe, num_clips: int = 48, seeds=(0, 1, 2), preset: str = "humo-micro", judge=None,
                  progress: bool = True, num_inference_steps: int = 20, mask_head=None) -> dict:
    """Stage 2's held-out check (:func:`humo_lite.eval.sync_check.heldout_sync_check`) on ``heldout_voice``:
    TIA at the pipeline's default guidance (the talking schedule); the same with audio guidance off (its audio
    scale 1); TA (no reference); and, for identity and text, the stage-1 pipeline ``stage1_pipe`` in TI mode
    with the same schedule, so at the same text and image scales. The held-out flow-matching loss of both models
    on the same clips, noise and σ; and the share of the audio's effect inside the face
    (:func:`humo_lite.eval.audio_focus.audio_face_share`, 16 clips)."""
    judge = load_judge(judge)
    clips = heldout_voice_clips(num_clips, preset)
    ceilings = sync_ceilings(pipe.vae, clips, judge)
    common = dict(num_clips=num_clips, seeds=seeds, num_inference_steps=num_inference_steps, progress=progress,
                  judge=judge, preset=preset, ceilings=ceilings)
    checks = {"TIA": heldout_sync_check(pipe, mode="TIA", **common),
              "TIA, audio guidance off": heldout_sync_check(pipe, mode="TIA", guidance=talking_schedule(audio=1.0),
                                                            **common),
              "TA": heldout_sync_check(pipe, mode="TA", **common),
              "stage 1, TI": heldout_sync_check(stage1_pipe, mode="TI", guidance=talking_schedule(), **common)}
    data = heldout_data(pipe, num_clips=num_clips, preset=preset)
    loss = {"stage 2, TIA": heldout_loss(pipe.transformer, data)["loss"],
            "stage 2, TI (audio off)": heldout_loss(pipe.transformer, data, use_audio=False)["loss"],
            "stage 1, TI": heldout_loss(stage1_pipe.transformer, data)["loss"]}
    focus = audio_face_share(pipe, clips[:16], num_inference_steps)  # where the audio acts, 16 clips
    mask = {"mask": heldout_mask_check(pipe.transformer, mask_head, data)} if mask_head is not None else {}
    return {"checks": checks, "heldout_loss": loss, "audio_focus": focus, **mask,
            "summary": stage2_summary(checks, loss, focus, mask.get("mask"))}


def stage2_summary(checks: dict, loss: dict, focus: dict | None = None, mask: dict | None = None) -> dict:
    """The numbers stage 2 is judged by, from :func:`stage2_checks`: ratios to the reconstruction ceiling,
    margin shares, mouth-vs-lip-law r, |offset|, identity and text kept against stage 1, held-out loss."""
    tia, stage1 = checks["TIA"], checks["stage 1, TI"]
    mean, std = tia["mean"], tia["std"]
    return {
        "sync_c_over_reconstruction": round(tia["ratios"]["sync_c"], 3),
        "sync_d_over_reconstruction": round(tia["ratios"]["sync_d"], 3),
        "sync_c_margin_share": round(tia["ratios"]["sync_c_margin_share"], 3),
        "sync_d_margin_share": round(tia["ratios"]["sync_d_margin_share"], 3),
        "r_within_clip": f"{mean['r_within_clip']:.3f} ± {std['r_within_clip']:.3f}",
        "abs_offset": f"{mean['abs_offset']:.3f} ± {std['abs_offset']:.3f}",
        "id_lite_over_stage1": round(mean["id_lite"] / stage1["mean"]["id_lite"], 3),
        "tva_lite_minus_stage1": round(mean["tva_lite"] - stage1["mean"]["tva_lite"], 3),
        "heldout_loss_stage2_minus_stage1": round(loss["stage 2, TIA"] - loss["stage 1, TI"], 4),
        "TA_sync_c_over_reconstruction": round(checks["TA"]["ratios"]["sync_c"], 3),
        "audio_guidance_off_sync_c_over_reconstruction":
            round(checks["TIA, audio guidance off"]["ratios"]["sync_c"], 3),
        **({"audio_effect_face_share": round(focus["face_share"], 3), "face_area": round(focus["face_area"], 3)}
           if focus else {}),
        **({"mask_iou": round(mask["iou"], 3), "mask_iou_worst_position": round(min(mask["by_position"].values()), 3)}
           if mask else {}),
    }


def _check_stage2_args(out_dir, config: Stage2Config) -> None:
    """:func:`train_stage2`'s settings checked before any work, each error with its range."""
    check_count(config.num_clips, "num_clips", 1, STAGE2_MAX_CLIPS,
                what=f"audio triplets drawn from the stage-2 pool's people and rooms (it holds "
                     f"{POOL_CONFIGS['stage2'].size}; more are drawn from the same 60 people and 8 rooms, with new "
                     f"recordings)")
    _check_args(out_dir, config.train, {"num_plain_clips": ("stage1", config.num_plain_clips),
                                        "eval_clips": ("heldout_voice", config.eval_clips)},
                {"text_dropout": config.text_dropout, "image_dropout": config.image_dropout,
                 "audio_dropout": config.audio_dropout},
                {"face_weight": config.face_weight, "focus_weight": config.focus_weight}, config.sigma_shift)
    if config.focus_blocks is not None:
        check_count(config.focus_blocks, "focus_blocks", 1, 64, what="last DiT blocks the mask head reads; HuMo: 4")
    check_count(config.curve_every, "curve_every", 1, 10**6, what="steps between points of the held-out curve")
    check_real(config.share_start, "share_start", 0, 1, what="the audio share at step 0")
    if config.voice_rates:
        check_real(config.voice_rates, "voice_rates", 0, MAX_VOICE_RATES, high_open=True,
                   what="bank recordings' playback rates, 1 ± this")
    check_real(config.share_end, "share_end", 0, 1, what="the audio share after the ramp")
    check_count(config.audio_tokens, "audio_tokens", 1, 256, what="audio tokens per latent frame; HuMo: 16")
    if config.ramp_steps is not None:
        check_count(config.ramp_steps, "ramp_steps", 0, config.train.steps,
                    what="steps of the audio share's ramp, at most --steps")


def _stage2_manifest(preset, config, command, task, transformer, stage1_path, audio_data, plain_data, summary,
                     trainer, metrics, train_time, cache_time) -> dict:
    """What a stage-2 folder records: command, seed, the whole recipe, wall time, machine, the curve, the check."""
    trainable = trainable_summary(transformer, "stage2")
    return {
        "kind": "stage2", "preset": preset.name,
        "command": command or f"humo_lite.recipes.train_stage2(preset={preset.name!r}, ...)",
        "seed": config.train.seed, "config": dict(vars(config.train)), "settings": asdict(config),
        "task": task.hyperparameters(), "audio_projector": dict(transformer.config["audio_projector"]),
        "stage1": relative_path(stage1_path), "start": _kind(stage1_path),
        "train_pools": {"audio": "stage2", "plain": "stage1"},
        "num_clips": {"audio": int(len(audio_data["latents"])), "plain": int(len(plain_data["latents"]))},
        "trainable": {k: trainable[k] for k in ("stage", "what", "trainable", "total", "share")},
        "wall_time_s": round(train_time, 1), "latent_cache_time_s": round(cache_time, 1),
        "curve_time_s": summary.get("evaluation_time_s"), "curve": trainer.evaluations,
        "audio_share_by_step": _share_log(trainer.history), "metrics": metrics, "final_loss": summary["final_loss"],
        "replica_checksums": summary["replica_checksums"], "machine": machine_info(),
    }


def _kind(folder: Path) -> str | None:
    """The ``kind`` a pipeline folder's manifest records (``"stage0"``, ``"stage1"``...)."""
    path = Path(folder) / "manifest.json"
    return json.loads(path.read_text()).get("kind") if path.is_file() else None


def train_stage2(preset: Preset | str = "humo-micro", stage1_path: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike = "outputs/humo-micro-stage2", config: Stage2Config | None = None, *,
                 command: str | None = None, progress: bool = True, override_config: bool = False,
                 judge=None) -> dict:
    """Train stage 2 from a stage-1 pipeline folder; save the pipeline at ``out_dir/pipeline`` (+ manifest).

    ``stage1_path``: default the shipped ``data_samples/checkpoints/<preset>-stage1``. ``config``: default
    :class:`Stage2Config`. The stage-1 DiT gets HuMo's audio modules (:func:`humo_lite.models.audio.add_audio`);
    self-attention and the audio modules train with :class:`~humo_lite.training.audio_task.AudioToVideoTask` on
    ``num_clips`` audio triplets mixed with ``num_plain_clips`` stage-1 triplets (the audio share ramped from
    ``share_start`` to ``share_end``). With ``curve`` the held-out loss and a quick held-out Sync-C-lite are
    measured every :data:`STAGE2_EVAL_EVERY` steps (:func:`stage2_curve`); with ``eval_clips`` > 0 the manifest
    holds :func:`stage2_checks`. Resumes from ``out_dir/checkpoint`` like the other stages.
    """
    start = time.perf_counter()
    preset, config = get_preset(preset), _stage_config(config, Stage2Config)
    _check_stage2_args(out_dir, config)
    ramp_steps = (2 * config.train.steps) // 3 if config.ramp_steps is None else config.ramp_steps
    stage1_path = Path(stage1_path or default_checkpoint(preset.name, 1))
    check_checkpoint_preset(stage1_path, preset)
    stage1_pipe = HuMoLitePipeline.from_pretrained(stage1_path)
    torch.manual_seed(config.train.seed)
    transformer = add_audio(stage1_pipe.transformer, num_tokens=config.audio_tokens, band_norm=config.audio_band_norm)
    mask_head = _mask_head(transformer, config)
    audio_data, plain_data = stage2_data(stage1_pipe, preset, config.num_clips, config.num_plain_clips, progress,
                                         config.voice_rates)
    cache_time = time.perf_counter() - start
    task = AudioToVideoTask(transformer, audio_data, plain_data, config.share_start, config.share_end, ramp_steps,
                            config.text_dropout, config.image_dropout, config.audio_dropout,
                            shift=config.sigma_shift, face_weight=config.face_weight, mask_head=mask_head,
                            focus_weight=config.focus_weight)
    if progress:
        print(describe_trainable(transformer, "stage2"))
    trainer = Trainer(task, config.train, out_dir)
    evaluate = training_curve(stage1_pipe, preset, judge=judge) if config.curve else None
    summary = trainer.train(progress=progress, override_config=override_config, evaluate=evaluate,
                            evaluate_every=config.curve_every)
    if not trainer.accelerator.is_main_process:
        return summary
    ema = trainer.ema_state_dicts()
    transformer.load_state_dict(ema["transformer"])
    if mask_head is not None:
        mask_head.load_state_dict(ema["mask_head"])
    pipe = assemble_pipeline(preset, transformer, stage1_pipe.vae, stage1_pipe.text_encoder, null_reference_frames=1)
    train_time = time.perf_counter() - start
    metrics = {}
    if config.eval_clips:
        stage1_pipe = HuMoLitePipeline.from_pretrained(stage1_path)  # the untouched stage-1 weights
        stage1_pipe.set_progress_bar_config(disable=True)
        metrics = stage2_checks(pipe, stage1_pipe, config.eval_clips, config.eval_seeds, preset.name, judge, progress,
                                mask_head=mask_head)
    manifest = _stage2_manifest(preset, config, command, task, transformer, stage1_path, audio_data, plain_data,
                                summary, trainer, metrics, train_time, cache_time)
    extra = {"vae/manifest.json": stage1_path / "vae" / "manifest.json",
             "stage1_manifest.json": stage1_path / "manifest.json"}
    save_pipeline(pipe, Path(out_dir) / "pipeline", manifest, extra_files=extra, mask_head=mask_head)
    return manifest


def _mask_head(transformer, config: Stage2Config) -> FaceMaskHead | None:
    """Focus-by-predicting's head for ``transformer`` when ``config.focus_weight`` > 0 (seeded by the caller)."""
    if not config.focus_weight:
        return None
    blocks = config.focus_blocks or focus_blocks(transformer.config.num_layers)
    if blocks > transformer.config.num_layers:
        raise ValueError(f"focus_blocks must be at most the DiT's {transformer.config.num_layers} blocks, got {blocks}")
    return FaceMaskHead(transformer.config.dim, blocks)


def _share_log(history: list[dict], every: int = 250) -> dict[int, float]:
    """The audio share the trainer logged, every ``every`` steps (the mean over the step's batch)."""
    return {h["step"]: round(h["audio"], 4) for h in history if "audio" in h and (h["step"] % every == 0
                                                                                  or h["step"] == 1)}


__all__ = ["SAMPLING_SHIFT", "STAGE1_CHECK_GUIDANCE", "STAGE1_TRAINING", "STAGE2_EVAL_EVERY", "STAGE2_TRAINING",
           "assemble_pipeline", "save_pipeline", "stage1_checks", "stage1_config", "stage1_data",
           "stage2_checks", "stage2_config", "stage2_data", "stage2_summary", "train_stage0",
           "train_stage1", "train_stage2", "train_vae", "training_curve"]

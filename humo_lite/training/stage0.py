"""Stage 0: our stand-in for pretrained Wan — a text-to-video model trained on the foundation pool.

HuMo starts from Wan2.1's pretrained T2V weights (reference notes §1.2); we have none, so we make a
miniature one: render the foundation pool, encode every clip once with the trained VAE (latents are
cached: a training step never runs the VAE), then train the DiT and the small text encoder together
with the flow-matching loss of :mod:`humo_lite.training.tasks`. The result is saved as a
:class:`humo_lite.pipeline.HuMoLitePipeline` folder — VAE, text encoder, DiT (EMA weights), scheduler —
that later stages start from, exactly as HuMo starts from Wan.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data import make_clip, make_pool
from ..data.captions import Tokenizer, token_roles
from ..flow_matching import make_scheduler
from ..io import atomic_dir, write_json
from ..models import build_dit
from ..models.text_encoder import build_text_encoder
from ..models.vae import encode_video, load_vae
from ..presets import get_preset
from .tasks import TextToVideoTask
from .trainer import TrainConfig, Trainer, iterate_minibatches

SAMPLING_SHIFT = 3.0  # the scheduler's σ shift at inference (Wan uses 5 at 480p; small latents need less)


def cache_latents(vae, pool: str = "foundation", preset: str = "humo-micro", size: int | None = None,
                  batch_size: int = 32, progress: bool = True) -> dict[str, torch.Tensor]:
    """Render a pool and encode it: ``latents [N, C, F', h, w]``, ``text_ids``, ``text_mask``, labels.

    Clips are rendered at the preset's size and encoded with the VAE's posterior mean, normalised.
    """
    world = get_preset(preset).world
    specs = make_pool(pool, size=size)
    tokenizer = Tokenizer()
    out: dict[str, list] = {"latents": [], "text_ids": [], "text_mask": [], "text_roles": [], "background": [],
                            "clothing": []}
    vae.eval()
    for idx in tqdm(list(iterate_minibatches(len(specs), batch_size)), desc=f"encode {pool}", disable=not progress):
        clips = [make_clip(specs[int(i)], world) for i in idx]
        video = torch.stack([torch.from_numpy(c.video).permute(3, 0, 1, 2) for c in clips]) * 2 - 1  # (B,3,F,H,W)
        with torch.no_grad():
            out["latents"].append(encode_video(vae, video))
        for clip in clips:
            ids, mask = tokenizer.encode(clip.caption)
            out["text_ids"].append(ids)
            out["text_mask"].append(mask)
            out["text_roles"].append(token_roles(clip.caption))
            out["background"].append(clip.labels["background"])
            out["clothing"].append(clip.labels["clothing"])
    return {
        "latents": torch.cat(out["latents"]),
        "text_ids": torch.stack(out["text_ids"]),
        "text_mask": torch.stack(out["text_mask"]),
        "text_roles": torch.stack(out["text_roles"]),
        "background": torch.tensor(out["background"]),
        "clothing": torch.tensor(out["clothing"]),
    }


@torch.no_grad()
def evaluate_stage0(pipe, num_clips: int = 48, num_inference_steps: int = 20, guidance: float = 5.0,
                    seed: int = 0, batch_size: int = 16, progress: bool = True) -> dict:
    """Does stage 0 draw what the caption asks, on background x clothing pairs it never saw?

    Captions of the ``heldout_scene`` pool are generated and the background and clothing colour read
    back twice: from the pixels (:mod:`humo_lite.eval.scene_pixels`) and by the judge of chapter 08
    (:mod:`humo_lite.eval`), which also reads position. Returns accuracies in [0, 1].
    """
    import numpy as np

    from ..data.captions import caption
    from ..eval import load_judge
    from ..eval.metrics import as_video, judge_clips, scene_predictions
    from ..eval.scene_pixels import scene_accuracy

    specs = make_pool("heldout_scene")[:num_clips]
    rng = np.random.default_rng(seed)
    prompts = [caption(spec.scene, rng) for spec in specs]
    frames = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="generate", disable=not progress):
        frames.append(pipe(prompts[start:start + batch_size], num_inference_steps=num_inference_steps,
                           guidance=guidance, generator=torch.Generator().manual_seed(seed + start)).frames)
    frames = np.concatenate(frames)  # (N, F, H, W, 3)
    wanted = {k: np.array([getattr(spec.scene, k) for spec in specs]) for k in ("background", "clothing", "position")}
    pixels = scene_accuracy(frames, wanted["background"], wanted["clothing"])
    seen = scene_predictions(judge_clips(load_judge(), as_video(frames)))
    judged = {k: float((seen[k] == v).mean()) for k, v in wanted.items()}
    judged["background_and_clothing"] = float(((seen["background"] == wanted["background"])
                                               & (seen["clothing"] == wanted["clothing"])).mean())
    return {"num_clips": len(specs), "num_inference_steps": num_inference_steps, "guidance": guidance,
            "pixels": pixels, "judge": judged}


def machine_summary() -> dict:
    return {"platform": platform.platform(), "processor": platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def train_stage0(preset: str = "humo-micro", vae_path: str | os.PathLike | None = None,
                 out_dir: str | os.PathLike = "outputs/stage0", config: TrainConfig | None = None,
                 num_clips: int | None = None, text_dropout: float = 0.1, command: str | None = None,
                 eval_clips: int = 48, role_weight: float = 0.1, progress: bool = True) -> dict:
    """Train stage 0 and save a pipeline folder at ``out_dir/pipeline`` (+ ``manifest.json``).

    ``out_dir/checkpoint`` holds the trainer state; re-running the same call resumes from it. Returns
    the manifest (command, seed, wall time, machine, final loss, and — with ``eval_clips`` > 0 — how
    often generated clips show the prompted background and clothing on held-out scene combinations).
    ``role_weight`` weighs the text encoder's binding objective (:class:`~humo_lite.training.tasks.TextToVideoTask`).
    """
    from ..pipeline import HuMoLitePipeline

    start = time.perf_counter()
    preset_ = get_preset(preset)
    config = config or TrainConfig()
    vae_path = Path(vae_path or Path(out_dir) / "vae")
    vae = load_vae(vae_path, preset_.name)
    torch.manual_seed(config.seed)
    data = cache_latents(vae, "foundation", preset_.name, size=num_clips, progress=progress)
    cache_time = time.perf_counter() - start
    transformer, text_encoder = build_dit(preset_.name), build_text_encoder(preset_.name)
    keys = ("latents", "text_ids", "text_mask") + (("text_roles",) if role_weight else ())
    task = TextToVideoTask(transformer, text_encoder, {k: data[k] for k in keys}, text_dropout=text_dropout,
                           role_weight=role_weight)
    trainer = Trainer(task, config, out_dir)
    summary = trainer.train(progress=progress)
    if not trainer.accelerator.is_main_process:
        return summary

    ema = trainer.ema_state_dicts()
    transformer.load_state_dict(ema["transformer"])
    text_encoder.load_state_dict(ema["text_encoder"])
    world = preset_.world
    pipe = HuMoLitePipeline(transformer.eval(), vae, text_encoder.eval(), make_scheduler("unipc", shift=SAMPLING_SHIFT),
                            height=world.height, width=world.width, num_frames=world.num_frames)
    pipe.set_progress_bar_config(disable=True)
    train_time = time.perf_counter() - start
    metrics = evaluate_stage0(pipe, eval_clips, seed=config.seed, progress=progress) if eval_clips else {}
    manifest = {
        "kind": "stage0",
        "preset": preset_.name,
        "command": command or f"humo_lite.training.stage0.train_stage0(preset={preset_.name!r}, ...)",
        "seed": config.seed,
        "config": {k: v for k, v in vars(config).items()},
        "train_pool": "foundation",
        "num_clips": int(len(data["latents"])),
        "text_dropout": text_dropout,
        "role_weight": role_weight,
        "wall_time_s": round(train_time, 1),
        "vae_wall_time_s": json.loads((vae_path / "manifest.json").read_text()).get("wall_time_s")
        if (vae_path / "manifest.json").is_file() else None,
        "metrics": metrics,
        "latent_cache_time_s": round(cache_time, 1),
        "final_loss": summary["final_loss"],
        "replica_checksums": summary["replica_checksums"],
        "machine": machine_summary(),
        "params": {"transformer": sum(p.numel() for p in transformer.parameters()),
                   "text_encoder": sum(p.numel() for p in text_encoder.parameters())},
    }
    extra = {"vae/manifest.json": vae_path / "manifest.json"}
    save_pipeline(pipe, Path(out_dir) / "pipeline", manifest, extra_files=extra)
    return manifest


def save_pipeline(pipe, folder: str | os.PathLike, manifest: dict | None = None,
                  extra_files: dict[str, Path] | None = None) -> Path:
    """``pipe.save_pretrained`` (safetensors) into ``folder`` atomically, with ``manifest.json`` beside it.

    ``extra_files`` maps a path inside the folder to a file to copy there (e.g. the VAE's own manifest).
    """
    with atomic_dir(folder, overwrite=True) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        if manifest is not None:
            write_json(Path(tmp) / "manifest.json", manifest)
        for target, source in (extra_files or {}).items():
            if Path(source).is_file():
                shutil.copyfile(source, Path(tmp) / target)
    return Path(folder)

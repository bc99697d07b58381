"""Stage 0, part 1: train the tiny Wan VAE on the toy world.

HuMo never trains a VAE: it inherits Wan2.1's (``docs/paper_notes.md`` §1.3). We have no pretrained Wan at our
size, so we make one with the Wan VAE's own recipe (Wan2.1 report §3.1), much shorter:

1. **Image phase** (``image_steps``, batches of single frames): the same ``AutoencoderKLWan`` trained
   on 1-frame videos *is* a 2D image VAE — a frame costs a seventeenth of a clip, so the spatial
   autoencoder sees many more examples for the CPU time.
2. **Inflation** (:func:`inflate_to_video`): the temporal weights the image phase never used are set
   so that a video is encoded frame by frame exactly as the image VAE would (Wan: "inflate the 2D
   image VAE into the 3D causal VAE").
3. **Video phase** (``steps``, batches of whole clips): the VAE learns what changes between frames —
   with a *fresh* optimizer and its own warm-up (``restart_lr``, ``clip_lr``). Carried over, Adam's
   image-phase statistics hold no gradient history for the temporal weights (a single frame never
   uses them), so Adam would move every one of them by a full learning rate at once and undo the
   inflation within a few dozen steps; the clip loss then jumps from about 0.2 to 0.6–1.2 and the
   phase spends most of its steps recovering.

Both phases minimise

    loss = mean(w * (|x_hat - x| + (x_hat - x)^2))      reconstruction, L1 + L2
         + kl_weight * KL(q(z | x) || N(0, I))          keeps the posterior a Gaussian (small)
         [+ opening_weight * mean_f (o_f(x_hat) - o_f(x))^2   optional, clip phase: mouth opening]

where ``w = 1 + mouth_weight`` on the lower half of each frame's face mask (the mouth) and ``1``
elsewhere, and ``o_f`` is the mean luminance of that region in frame f (:func:`mouth_opening`). The
mouth is what lip sync needs and the VAE is the ceiling of every generated clip: a VAE that keeps
whether a mouth is open but not *when* would make lip sync impossible to learn later (chapter 02).
``x_hat`` is decoded from the posterior *mean* (see :func:`vae_loss`). Each step also reconstructs the
clips' reference images as 1-frame videos (white background, another pose: HuMo encodes these too).

Why inflation matters, measured at ``humo-micro`` on 32 held-out clips of the *first* framing (face
~8 px; 2-core CPU, ~17 min each, 1000 image steps + 600 clip steps, same data and seed): 28.7 dB and
mouth r 0.92 with it, 24.7 dB and 0.84 without (``--no-inflate``) — the clip phase then starts from
random temporal weights that scramble every frame after the first, while reference images (image
path only) score 27.8 and 27.5 dB, nearly the same. Whole clips only: the
causal feature cache means latent frame k is computed from a history k chunks long, and a VAE
trained on 9-frame crops of 17-frame clips reconstructed frames 0-8 at ~25 dB but frames 9-16 at
22 -> 14 dB; train on the clip length you will encode (``crop_frames``).

After training, Wan's per-channel latent statistics (``latents_mean`` / ``latents_std``) are measured
on training clips and written into the config, and the VAE is evaluated on held-out identities:

- ``psnr_db``: PSNR over all pixels of the held-out clips (frames in [0, 1]);
- ``mouth_r``: correlation, over every frame of every held-out clip, between the mouth opening read
  from the reconstruction and from the original (:func:`humo_lite.data.render.mouth_darkness`);
  ``mouth_r_within_clip`` is the mean of per-clip correlations, which only rewards getting the mouth's
  *motion* right; ``mouth_r_static_baseline`` is what a video frozen at its mean frame would score on
  ``mouth_r`` (the number a mouth-blind VAE gets for free).

Run::

    python -m humo_lite.training.vae_training --preset humo-micro \
        --out data_samples/checkpoints/humo-micro/vae --threads 2
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d, WanResample
from einops import rearrange
from tqdm.auto import tqdm

from humo_lite import io as hio
from humo_lite.data import make_clip, make_pool
from humo_lite.data.pools import POOL_CONFIGS
from humo_lite.data.render import mouth_darkness
from humo_lite.io import (
    atomic_dir,
    check_count,
    check_finite_tensors,
    check_output_path,
    check_real,
    write_json,
)
from humo_lite.models.vae import build_vae, decode_latents, encode_video
from humo_lite.presets import Preset, check_num_frames, get_preset


def _lower_face(face_mask: np.ndarray) -> np.ndarray:
    """The mouth region: each frame's face mask below its mean row (as ``mouth_darkness`` reads it)."""
    rows = np.arange(face_mask.shape[1])[:, None]
    out = np.zeros_like(face_mask)
    for i, mask in enumerate(face_mask):
        if mask.any():
            out[i] = mask & (rows > np.nonzero(mask)[0].mean())
    return out


def render_clips(pool: str, count: int, preset: Preset | str = "humo-micro") -> dict:
    """Render the first ``count`` clips of ``pool`` at a preset's size, as training tensors.

    Returns ``video`` ``[N, 3, F, H, W]`` and ``reference`` ``[N, 3, 1, H, W]`` in [-1, 1], ``mouth``
    ``[N, 1, F, H, W]`` (lower-face mask, float) and the ``clips`` themselves (for metrics).
    """
    world = get_preset(preset).world
    specs = make_pool(pool)
    if count > len(specs):
        raise ValueError(f"pool {pool!r} has {len(specs)} clips, asked for {count}")
    clips = [make_clip(specs[i], world) for i in range(count)]
    video = torch.from_numpy(np.stack([c.video for c in clips]))  # (N, F, H, W, 3) in [0, 1]
    ref = torch.from_numpy(np.stack([c.reference for c in clips]))  # (N, H, W, 3)
    mouth = torch.from_numpy(np.stack([_lower_face(c.face_mask) for c in clips])).float()  # (N, F, H, W)
    return {
        "video": rearrange(video, "n f h w c -> n c f h w") * 2 - 1,
        "reference": rearrange(ref, "n h w c -> n c 1 h w") * 2 - 1,
        "mouth": mouth[:, None],
        "clips": clips,
    }


def _batch(data: dict, size: int, crop_frames: int, generator: torch.Generator) -> tuple:
    """A random batch: clips, a random 4k+1-frame crop each, a random horizontal flip each."""
    n, f = data["video"].shape[0], data["video"].shape[2]
    index = torch.randint(n, (size,), generator=generator)
    start = torch.randint(f - crop_frames + 1, (size,), generator=generator)
    flip = torch.rand(size, generator=generator) < 0.5
    video, mouth, ref = [], [], []
    for i, s, fl in zip(index.tolist(), start.tolist(), flip.tolist(), strict=True):
        window = slice(s, s + crop_frames)
        v, m, r = data["video"][i, :, window], data["mouth"][i, :, window], data["reference"][i]
        if fl:
            v, m, r = v.flip(-1), m.flip(-1), r.flip(-1)
        video.append(v)
        mouth.append(m)
        ref.append(r)
    return torch.stack(video), torch.stack(mouth), torch.stack(ref)  # (B,3,T,H,W), (B,1,T,H,W), (B,3,1,H,W)


LUMA = (0.299, 0.587, 0.114)


def mouth_opening(video: torch.Tensor, mouth: torch.Tensor) -> torch.Tensor:
    """Mean luminance of each frame's mouth region: ``[B, 3, F, H, W]``, mask ``[B, 1, F, H, W]`` → ``[B, F]``.

    The mouth is the darkest thing in the lower face, so this falls as the mouth opens: a differentiable
    per-frame reading of the opening, like :func:`~humo_lite.data.render.mouth_darkness`.
    """
    luma = torch.einsum("bcfhw,c->bfhw", video, video.new_tensor(LUMA))
    mask = mouth[:, 0]
    return (luma * mask).sum((-2, -1)) / mask.sum((-2, -1)).clamp(min=1.0)


def vae_loss(vae, video, weight, kl_weight: float, generator: torch.Generator,
             sample_posterior: bool = False, mouth: torch.Tensor | None = None,
             opening_weight: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Weighted L1 + L2 reconstruction, plus ``kl_weight`` x mean KL to N(0, I).

    With ``opening_weight`` > 0 and the mouth masks ``mouth`` ``[B, 1, F, H, W]``, adds that weight x the
    squared error of each frame's :func:`mouth_opening`: a loss on the one number per frame lip sync needs.

    By default the posterior *mean* is decoded: the DiT is trained on posterior means
    (:func:`~humo_lite.models.vae.encode_video`), and with a KL weight this small, sampling only adds
    noise the decoder must learn to undo — it slowed training measurably at our budget.
    """
    posterior = vae.encode(video).latent_dist
    z = posterior.sample(generator=generator) if sample_posterior else posterior.mean  # (B, C, F', H', W')
    recon = vae.decode(z).sample  # (B, 3, F, H, W)
    err = recon - video
    rec = (weight * (err.abs() + err.square())).mean()
    kl = 0.5 * (posterior.mean.square() + posterior.var - 1.0 - posterior.logvar).mean()
    loss, logs = rec + kl_weight * kl, {"rec": rec.item(), "kl": kl.item()}
    if opening_weight > 0:
        opening = (mouth_opening(recon, mouth) - mouth_opening(video, mouth)).square().mean()
        loss, logs["opening"] = loss + opening_weight * opening, opening.item()
    return loss, logs


@torch.no_grad()
def inflate_to_video(vae) -> None:
    """Turn a VAE trained on single images into one that treats a video as frames, in place.

    Wan's own recipe (Wan2.1 report §3.1): train a 2D image VAE of the same structure, then *inflate*
    it into the 3D causal VAE and fine-tune on video. Our image phase trains the same
    ``AutoencoderKLWan`` on 1-frame videos, and in a 1-frame video no temporal weight is ever used:
    every causal 3x3x3 convolution sees zero padding in its two past taps, and the temporal
    down/upsampling convolutions are skipped for the first frame. They would stay at their random
    initialisation and scramble every later frame when video training starts. Inflating sets them so
    that the video path *is* the image path, frame by frame:

    - causal convolutions: past taps zero, so only the current frame (the trained 2D kernel) counts;
    - temporal downsampling (``time_conv``, 3 taps, stride 2): the mean of its three frames;
    - temporal upsampling (``time_conv``, 1 -> 2 frames): both output frames copy their input.

    A still video is then reconstructed exactly as each of its frames is as an image (tested), and
    video training only has to learn what changes between frames.
    """
    time_convs = set()
    for module in vae.modules():
        if isinstance(module, WanResample) and module.mode in ("downsample3d", "upsample3d"):
            conv = module.time_conv
            eye = torch.eye(conv.in_channels, dtype=conv.weight.dtype)  # (C, C)
            weight = torch.zeros_like(conv.weight)  # (C_out, C, 3, 1, 1)
            if module.mode == "downsample3d":
                weight[:, :, :, 0, 0] = eye[..., None] / 3
            else:  # channels [0, C) become the first output frame, [C, 2C) the second
                weight[:, :, -1, 0, 0] = torch.cat([eye, eye])
            conv.weight.copy_(weight)
            conv.bias.zero_()
            time_convs.add(conv)
    for module in vae.modules():
        if isinstance(module, WanCausalConv3d) and module not in time_convs and module.kernel_size[0] > 1:
            module.weight[:, :, :-1] = 0  # past taps; the last tap is the current frame


@torch.no_grad()
def latent_statistics(vae, video: torch.Tensor, batch_size: int = 8) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the raw posterior means of ``video`` ``[N, 3, F, H, W]``."""
    config = dict(vae.config)
    vae.register_to_config(latents_mean=[0.0] * vae.config.z_dim, latents_std=[1.0] * vae.config.z_dim)
    z = torch.cat([encode_video(vae, v) for v in video.split(batch_size)])  # (N, C, F', H', W')
    vae.register_to_config(latents_mean=config["latents_mean"], latents_std=config["latents_std"])
    z = rearrange(z, "n c f h w -> c (n f h w)")
    return z.mean(1).tolist(), z.std(1).tolist()


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-8 or b.std() < 1e-8:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


@torch.no_grad()
def evaluate_vae(vae, data: dict, batch_size: int = 8) -> dict:
    """PSNR and mouth-opening fidelity of reconstructions of ``data`` (from :func:`render_clips`)."""
    vae.eval()
    roundtrip = lambda x: torch.cat([decode_latents(vae, encode_video(vae, b)) for b in x.split(batch_size)])  # noqa: E731
    recon, ref_recon = roundtrip(data["video"]), roundtrip(data["reference"])
    to01 = lambda x: ((x + 1) / 2).clamp(0, 1)  # noqa: E731
    mse = (to01(recon) - to01(data["video"])).square()  # (N, 3, F, H, W)
    ref_mse = (to01(ref_recon) - to01(data["reference"])).square().mean()
    frames = rearrange(to01(recon), "n c f h w -> n f h w c").numpy()
    orig, rec, static, per_clip = [], [], [], []
    for clip, frames_hat in zip(data["clips"], frames, strict=True):
        a, b = mouth_darkness(clip.video, clip.face_mask), mouth_darkness(frames_hat, clip.face_mask)
        mean_frame = np.broadcast_to(clip.video.mean(0), clip.video.shape)
        orig.append(a)
        rec.append(b)
        static.append(mouth_darkness(mean_frame, clip.face_mask))
        per_clip.append(_corr(a, b))
    orig, rec, static = np.concatenate(orig), np.concatenate(rec), np.concatenate(static)
    return {
        "psnr_db": float(-10 * torch.log10(mse.mean())),
        "psnr_db_worst_clip": float(-10 * torch.log10(mse.mean((1, 2, 3, 4)).max())),
        "reference_psnr_db": float(-10 * torch.log10(ref_mse)),
        "mouth_r": _corr(orig, rec),
        "mouth_r_within_clip": float(np.nanmean(per_clip)),
        "mouth_r_static_baseline": _corr(orig, static),
        "num_clips": len(data["clips"]),
    }


def _lr_schedule(warmup: int, total: int, min_lr_share: float):
    """Linear warm-up over ``warmup`` steps, then a cosine from 1 down to ``min_lr_share`` of the peak at ``total``."""
    def share(step: int) -> float:
        cosine = min_lr_share + (1 - min_lr_share) * 0.5 * (1 + math.cos(math.pi * step / total))
        return min(1.0, (step + 1) / warmup) * cosine

    return share


def _optimizer(vae, lr: float, share) -> tuple:
    """AdamW over every weight, with ``share(step)`` x ``lr`` as its learning rate."""
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, share)


@dataclass
class VAETrainConfig:
    """How the VAE trains. The defaults are the shipped ``humo-micro`` VAE's; ``humo-lite train vae`` and
    ``python -m humo_lite.training.vae_training`` read them from here, and the manifest records it whole."""

    steps: int = 1600  # steps on whole clips, after the image phase
    image_steps: int = 800  # steps on single frames first (Wan's curriculum); 0: none
    seed: int = 0
    batch_size: int = 4  # clips per clip-phase step
    image_batch_size: int = 32  # frames per image-phase step
    lr: float = 5e-3  # peak learning rate (of both phases without ``restart_lr``)
    restart_lr: bool = True  # the clip phase starts a fresh optimizer with its own warm-up and cosine...
    clip_lr: float | None = 2e-3  # ...peaking here (None: ``lr``)
    warmup: int = 50  # linear warm-up steps (of each phase with ``restart_lr``)
    min_lr_share: float = 0.05  # the cosine ends at this share of the peak
    grad_clip: float = 1.0  # max global gradient norm
    crop_frames: int | None = None  # 4k+1 frames per clip crop; None: whole clips (:meth:`for_preset`)
    num_clips: int = 3000  # foundation clips to train on
    num_stat_clips: int = 64  # training clips the latent statistics are measured on
    num_eval_clips: int = 32  # held-out identity clips the metrics are measured on
    kl_weight: float = 1e-5  # KL to N(0, I)
    mouth_weight: float = 8.0  # extra reconstruction weight on the mouth region
    reference_weight: float = 0.25  # the reference images' reconstruction beside the clips'
    opening_weight: float = 0.0  # each frame's mouth opening, clip phase; 0: off
    inflate: bool = True  # inflate the image VAE to a frame-by-frame video VAE between the phases
    vae_overrides: dict = field(default_factory=dict)  # entries of the preset's VAE config, for experiments

    def __post_init__(self):
        self.vae_overrides = dict(self.vae_overrides or {})
        check_count(self.steps, "steps", 1, 1_000_000, what="steps on whole clips; 0 would save an untrained VAE")
        check_count(self.image_steps, "image_steps", 0, 1_000_000, what="single-frame steps first; 0: none")
        check_count(self.num_clips, "num_clips", 1, POOL_CONFIGS["foundation"].size,
                    what="foundation clips to train on")
        check_count(self.num_eval_clips, "num_eval_clips", 1, POOL_CONFIGS["heldout_identity"].size)
        check_count(self.num_stat_clips, "num_stat_clips", 1, POOL_CONFIGS["foundation"].size)
        for name in ("batch_size", "image_batch_size"):
            check_count(getattr(self, name), name, 1, 4096)
        check_count(self.seed, "seed", 0, 2**63 - 1)
        for name in ("lr", "grad_clip"):
            check_real(getattr(self, name), name, 0, low_open=True)
        for name in ("kl_weight", "mouth_weight", "reference_weight", "opening_weight"):
            check_real(getattr(self, name), name, 0, what="a loss weight; 0: off")

    def for_preset(self, preset: Preset | str) -> VAETrainConfig:
        """This config with ``crop_frames`` resolved for the preset's clips (None: whole clips) and checked."""
        frames = get_preset(preset).world.num_frames
        return replace(self, crop_frames=check_num_frames(min(self.crop_frames or frames, frames)))


def _phase_optimizer(vae, config: VAETrainConfig, clip_phase: bool) -> tuple:
    """The optimizer and schedule a phase starts: one cosine over both phases, or with ``restart_lr`` one per
    phase, the clip phase's peaking at ``clip_lr``."""
    if not config.restart_lr or config.image_steps == 0:
        total, lr = config.image_steps + config.steps, config.lr
    elif clip_phase:
        total, lr = config.steps, config.clip_lr or config.lr
    else:
        total, lr = config.image_steps, config.lr
    return _optimizer(vae, lr, _lr_schedule(config.warmup, total, config.min_lr_share))


def _optimise(vae, train: dict, config: VAETrainConfig, generator: torch.Generator, progress: bool = True) -> None:
    """The training loop: ``image_steps`` on single frames, inflation, then ``steps`` on whole clips.

    Each step's loss is :func:`vae_loss` on the batch (weighted ``1 + mouth_weight`` on the mouth) plus
    ``reference_weight`` x the same loss on the batch's reference images (1-frame videos, as HuMo encodes
    them), plus ``opening_weight`` x the per-frame mouth-opening error in the clip phase.

    ``restart_lr``: the clip phase starts a *fresh* optimizer with its own warm-up and cosine, peaking at
    ``clip_lr`` (default ``lr``). Otherwise one optimizer and one cosine span both phases — and the clip
    phase inherits Adam statistics in which the temporal weights, never used on single frames, have no
    gradient history: Adam then moves each of them by a full learning rate per step at once, and the
    inflated start is lost in a few dozen steps (the clip loss jumps from about 0.2 to 0.6-1.2).
    """
    vae.train()
    image_steps = config.image_steps
    bar = tqdm(range(image_steps + config.steps), desc="VAE", disable=not progress)
    opt, sched = _phase_optimizer(vae, config, clip_phase=False)
    for step in bar:
        if step == image_steps and image_steps > 0:
            if config.inflate:
                inflate_to_video(vae)  # the image VAE becomes a frame-by-frame video VAE, then learns time
            if config.restart_lr:
                opt, sched = _phase_optimizer(vae, config, clip_phase=True)
        if step < image_steps:
            video, mouth, ref = _batch(train, config.image_batch_size, 1, generator)  # 1-frame crops: images
        else:
            video, mouth, ref = _batch(train, config.batch_size, config.crop_frames, generator)
        loss, logs = vae_loss(vae, video, 1 + config.mouth_weight * mouth, config.kl_weight, generator, mouth=mouth,
                              opening_weight=config.opening_weight if step >= image_steps else 0.0)
        ref_loss, _ = vae_loss(vae, ref, torch.ones_like(ref[:, :1]), config.kl_weight, generator)
        opt.zero_grad(set_to_none=True)
        (loss + config.reference_weight * ref_loss).backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), config.grad_clip)
        opt.step()
        sched.step()
        bar.set_postfix(rec=f"{logs['rec']:.4f}", kl=f"{logs['kl']:.1f}", refresh=False)
    vae.eval()


def save_vae(vae, out_dir: str | os.PathLike, manifest: dict, overwrite: bool = False) -> Path:
    """Write the VAE as a diffusers folder (config + safetensors) with ``manifest.json``, atomically."""
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        check_finite_tensors(vae.state_dict(), f"not saving {out_dir}: the VAE")
        vae.save_pretrained(tmp, safe_serialization=True)
        write_json(Path(tmp) / "manifest.json", manifest)
        hio.record_checksums(tmp)  # each weights file's SHA-256, checked on load
        for file in Path(tmp).iterdir():  # safetensors writes 0600; make every file world-readable
            file.chmod(0o644)
    return Path(out_dir)


def fit_vae(preset: Preset | str = "humo-micro", out_dir: str | os.PathLike | None = None,
            config: VAETrainConfig | None = None, *, overwrite: bool = False, progress: bool = True,
            command: str | None = None, notes: str | None = None):
    """Train a preset's VAE on foundation-pool clips (``config``: default :class:`VAETrainConfig`, the shipped
    ``humo-micro`` VAE's settings); returns ``(vae, manifest)``.

    Deterministic on CPU: the same config (and thread count) gives the same weights, byte for byte. With
    ``out_dir`` the result is written atomically as a diffusers folder (``config.json`` +
    ``diffusion_pytorch_model.safetensors``) plus ``manifest.json`` (command, seed, every setting, wall time,
    machine, metrics). :func:`humo_lite.recipes.train_vae` is this plus the judge's reconstruction ceiling.

    ``image_steps`` > 0 first trains that many steps on single frames (``image_batch_size`` per batch),
    the curriculum Wan's VAE was trained with (images first, then video; Wan2.1 report §3.1): a frame
    costs a seventeenth of a clip, so the spatial part of the autoencoder gets many more examples for
    the same CPU time before ``steps`` steps on whole clips teach the temporal part. Between the two
    the image VAE is inflated to a frame-by-frame video VAE (:func:`inflate_to_video`) unless
    ``inflate=False`` (the ablation: the clip phase then starts from random temporal weights). The learning
    rate warms up, then follows a cosine; with ``restart_lr`` the clip phase starts again (:func:`_optimise`).

    ``vae_overrides`` replace entries of the preset's VAE config (e.g. ``{"z_dim": 8}``) for
    experiments; such a VAE no longer matches the preset's DiT, which reads ``z_dim`` channels.
    """
    start_time = time.time()
    preset = get_preset(preset)
    if config is not None and not isinstance(config, VAETrainConfig):
        raise TypeError(f"config must be a humo_lite.training.VAETrainConfig, got {type(config).__name__}")
    config = (config or VAETrainConfig()).for_preset(preset)
    if out_dir is not None:
        check_output_path(out_dir, "folder")
        if Path(out_dir).exists() and not overwrite:
            raise FileExistsError(f"{out_dir} already exists; pass overwrite=True (--overwrite) to replace it")
    train = render_clips("foundation", config.num_clips, preset)
    heldout = render_clips("heldout_identity", config.num_eval_clips, preset)

    torch.manual_seed(config.seed)
    vae = build_vae(preset, **config.vae_overrides)
    _optimise(vae, train, config, torch.Generator().manual_seed(config.seed), progress)
    latents_mean, latents_std = latent_statistics(vae, train["video"][:config.num_stat_clips])
    vae.register_to_config(latents_mean=latents_mean, latents_std=latents_std)
    manifest = {
        "kind": "vae",
        "preset": preset.name,
        "command": command or "humo_lite.training.vae_training.fit_vae(...)",
        **asdict(config),  # each setting at the top, as every VAE manifest has them
        "settings": asdict(config),  # and the VAETrainConfig whole: VAETrainConfig(**manifest["settings"])
        "num_params": sum(p.numel() for p in vae.parameters()),
        "wall_time_s": round(time.time() - start_time, 1),
        "machine": hio.machine_info(),
        "metrics": evaluate_vae(vae, heldout),
        "eval_pool": "heldout_identity",
        "train_pool": "foundation",
        **({"notes": notes} if notes else {}),
    }
    if out_dir is not None:
        save_vae(vae, out_dir, manifest, overwrite=overwrite)
    return vae, manifest


def _parser() -> argparse.ArgumentParser:
    """The module's command line; its defaults are :class:`VAETrainConfig`'s (the one source)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="humo-micro")
    parser.add_argument("--out", required=True, help="checkpoint folder to write (atomically)")
    defaults = VAETrainConfig()
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help="steps on whole clips, after --image-steps (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--mouth-weight", type=float, default=defaults.mouth_weight,
                        help="extra loss weight on the mouth region (default: %(default)s)")
    parser.add_argument("--z-dim", type=int, default=None, help="latent channels (default: the preset's)")
    parser.add_argument("--base-dim", type=int, default=None, help="VAE width (default: the preset's)")
    parser.add_argument("--dim-mult", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="width multiplier per stage, e.g. 1,2,4 (default: the preset's)")
    parser.add_argument("--image-steps", type=int, default=defaults.image_steps,
                        help="single-frame steps before the clip steps (default: %(default)s)")
    parser.add_argument("--image-batch-size", type=int, default=defaults.image_batch_size)
    parser.add_argument("--no-inflate", dest="inflate", action="store_false",
                        help="ablation: start the clip steps from random temporal weights")
    parser.add_argument("--opening-weight", type=float, default=defaults.opening_weight,
                        help="weight of the per-frame mouth-opening loss in the clip phase (default: %(default)s)")
    parser.add_argument("--restart-lr", action=argparse.BooleanOptionalAction, default=defaults.restart_lr,
                        help="give the clip phase a fresh optimizer, warm-up and cosine (default: %(default)s)")
    parser.add_argument("--clip-lr", type=float, default=defaults.clip_lr,
                        help="peak learning rate of the clip phase with --restart-lr (default: --lr)")
    parser.add_argument("--crop-frames", type=int, default=None, help="4k+1 frames per crop (default: whole clips)")
    parser.add_argument("--num-clips", type=int, default=defaults.num_clips,
                        help="foundation clips to train on, of 6000 (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--notes", default=None)
    parser.add_argument("--overwrite", action="store_true")
    return parser


CONFIG_FLAGS = ("steps", "seed", "batch_size", "lr", "mouth_weight", "image_steps", "image_batch_size", "inflate",
                "opening_weight", "restart_lr", "clip_lr", "crop_frames", "num_clips")
"""The module's flags that are :class:`VAETrainConfig` fields, by the field's name."""


def main(argv: list[str] | None = None) -> dict:
    """Command line: ``python -m humo_lite.training.vae_training --preset humo-micro --out DIR``."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {k: v for k, v in vars(args).items() if k in ("z_dim", "base_dim", "dim_mult") and v is not None}
    config = VAETrainConfig(**{k: getattr(args, k) for k in CONFIG_FLAGS}, vae_overrides=overrides)
    command = shlex.join(["python", "-m", "humo_lite.training.vae_training", *argv])
    _, manifest = fit_vae(args.preset, args.out, config, overwrite=args.overwrite, command=command, notes=args.notes)
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in manifest["metrics"].items()})
    return manifest


if __name__ == "__main__":
    main()

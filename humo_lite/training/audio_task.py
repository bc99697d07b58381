"""Stage 2: text + reference + audio → video, HuMo's audio-visual sync stage (§3.2–§3.3).

The step is stage 1's (:mod:`humo_lite.training.reference_task`) with one more condition: each latent frame's
audio window (:func:`humo_lite.data.audio.audio_windows`), which the DiT's projector turns into K tokens and
its frame-local cross-attention reads (:mod:`humo_lite.models.audio`). Only self-attention and the audio
modules train (:data:`humo_lite.training.stages.STAGES` ``"stage2"``).

**The task mix** (HuMo §3.2, ``docs/paper_notes.md`` §5): stage 2 does not forget stage 1's task. Every batch
mixes *audio triplets* from the stage-2 pool (text + reference + audio) with *stage-1 triplets* from the
stage-1 pool, whose audio is null (all-zero windows). The share of audio triplets follows
:func:`audio_share`: a linear ramp from ``share_start`` (20 %) at step 0 to ``share_end`` (50 %) at
``ramp_steps``, then flat. A batch of B holds ``round(share · B)`` audio triplets.

**Condition dropout**, per sample and independent: caption ``text_dropout`` (0.1), reference ``image_dropout``
(0.15), audio ``audio_dropout`` (0.1, audio triplets only). So an audio triplet is trained as TIA (~69 %),
TA (~12 %), TI (~8 %), T, I, IA or null (the rest), and a stage-1 triplet as TI, T, I or null: every branch
the guidance of chapter 07 combines is trained.

**Face weight** (``face_weight``, ours, not HuMo's; 0 = HuMo's plain loss): on audio triplets, the squared
error of each latent cell is weighted by ``1 + face_weight · face_share`` (the share of the cell the face
covers) and normalised by the weights' sum, as stage 1's lever of the same name. The lips are a few pixels of a
32 × 32 frame, so with the plain loss almost all of an audio triplet's gradient goes to what the audio does
not decide; the weight points it at the face. Stage-1 triplets keep the plain loss.

**Focus-by-predicting** (``focus_weight`` > 0 with a ``mask_head``; HuMo §3.3,
:mod:`humo_lite.models.focus`): the DiT also returns the hidden states of the head's last blocks, the head
predicts the face mask on the token grid from them, and ``focus_weight ·`` the size-weighted BCE against the
true mask (:func:`~humo_lite.models.focus.face_mask_target`) is added to the loss of audio triplets whose
audio was kept. The head trains with the audio modules; it is a module of the task, not of the DiT, so the
saved pipeline never holds it.

The mix is a pure function of ``(seed, step)`` (the trainer's generator), so resuming replays it exactly.
"""

from __future__ import annotations

import torch

from ..flow_matching import add_noise, sample_training_sigmas, sigma_to_timestep, velocity_target
from ..models.focus import face_mask_target, mask_iou, size_weighted_bce
from .reference_task import per_sample_loss
from .stages import trainable_predicate
from .tasks import check_training_data
from .trainer import TrainingTask

SHARE_START, SHARE_END = 0.2, 0.5  # HuMo's audio share, ramped (§3.2)


def audio_share(step: int, ramp_steps: int, start: float = SHARE_START, end: float = SHARE_END) -> float:
    """The share of audio triplets at ``step``: linear from ``start`` to ``end`` over ``ramp_steps``, then ``end``."""
    if ramp_steps <= 0:
        return end
    return start + (end - start) * min(1.0, step / ramp_steps)


def _concat(audio: dict[str, torch.Tensor], plain: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Audio triplets first, then stage-1 triplets with all-zero windows (their null audio)."""
    windows = plain.get("audio_windows")
    if windows is None:
        windows = torch.zeros(len(plain["latents"]), *audio["audio_windows"].shape[1:])
    plain = {**plain, "audio_windows": windows}
    keys = ["latents", "ref_latents", "text_ctx", "text_mask", "audio_windows"]
    keys += ["face_share"] if "face_share" in audio and "face_share" in plain else []
    return {k: torch.cat([audio[k], plain[k]]) for k in keys}


class AudioToVideoTask(TrainingTask):
    """Stage 2 on cached tensors; ``audio_data`` and ``plain_data`` each hold ``latents``, ``ref_latents``,
    ``text_ctx``, ``text_mask``, and ``audio_data`` also ``audio_windows [N, F' + R, 8, 80]``.

    Args:
        transformer: the DiT from stage 1 with audio modules (:func:`humo_lite.models.audio.add_audio`).
        audio_data: the stage-2 pool (audio triplets). plain_data: the stage-1 pool (audio null).
        share_start, share_end, ramp_steps: the audio share's ramp (:func:`audio_share`).
        text_dropout, image_dropout, audio_dropout: per-sample drop probabilities.
        sigma_mode, shift: how training σ are drawn. stage: which parameters train (default ``"stage2"``).
        face_weight: extra loss weight on the face's latent cells of audio triplets (0: HuMo's plain loss);
            needs ``face_share [N, F', h, w]`` in both data dicts.
        mask_head, focus_weight: focus-by-predicting (:class:`~humo_lite.models.focus.FaceMaskHead`, trained with
            the audio modules) and its loss weight; 0 and None: none. Needs ``face_share`` in both data dicts.
    """

    def __init__(self, transformer: torch.nn.Module, audio_data: dict[str, torch.Tensor],
                 plain_data: dict[str, torch.Tensor], share_start: float = SHARE_START, share_end: float = SHARE_END,
                 ramp_steps: int = 2000, text_dropout: float = 0.1, image_dropout: float = 0.15,
                 audio_dropout: float = 0.1, sigma_mode: str = "logit_normal", shift: float = 3.0,
                 stage: str = "stage2", face_weight: float = 0.0, mask_head: torch.nn.Module | None = None,
                 focus_weight: float = 0.0):
        needed = ("latents", "ref_latents", "text_ctx", "text_mask")
        faces = ("face_share",) if face_weight or focus_weight else ()
        self.num_audio = check_training_data(audio_data, needed + ("audio_windows",) + faces)
        self.num_plain = check_training_data(plain_data, needed + faces)
        if not (isinstance(face_weight, (int, float)) and 0 <= face_weight < float("inf")):
            raise ValueError(f"face_weight must be a finite number >= 0, got {face_weight!r}")
        if not (isinstance(focus_weight, (int, float)) and 0 <= focus_weight < float("inf")):
            raise ValueError(f"focus_weight must be a finite number >= 0, got {focus_weight!r}")
        if bool(focus_weight) != (mask_head is not None):
            raise ValueError("focus-by-predicting needs both a mask_head and focus_weight > 0 (or neither); got "
                             f"mask_head={type(mask_head).__name__}, focus_weight={focus_weight!r}")
        if (transformer.config.get("conditions") or {}).get("audio") is None:
            raise ValueError("stage 2 needs a DiT with audio modules; add them with humo_lite.models.audio.add_audio")
        for name, p in (("text_dropout", text_dropout), ("image_dropout", image_dropout),
                        ("audio_dropout", audio_dropout)):
            if not 0 <= p < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {p!r}")
        for name, p in (("share_start", share_start), ("share_end", share_end)):
            if not 0 < p <= 1:
                raise ValueError(f"{name} must lie in (0, 1], got {p!r}")
        if not isinstance(ramp_steps, int) or ramp_steps < 0:
            raise ValueError(f"ramp_steps must be a whole number >= 0, got {ramp_steps!r}")
        self.modules = {"transformer": transformer}
        self.trainable = {"transformer": trainable_predicate(stage)}
        if mask_head is not None:
            self.modules["mask_head"] = mask_head
            self.trainable["mask_head"] = lambda name: True
        self.focus_weight = float(focus_weight)
        self.focus_blocks = mask_head.config.num_blocks if mask_head is not None else 0
        self.data = _concat(audio_data, plain_data)
        self.num_items = self.num_plain  # the trainer's epochs run over the stage-1 pool
        self.share_start, self.share_end, self.ramp_steps = share_start, share_end, ramp_steps
        self.text_dropout, self.image_dropout, self.audio_dropout = text_dropout, image_dropout, audio_dropout
        self.sigma_mode, self.shift, self.stage = sigma_mode, shift, stage
        self.face_weight = float(face_weight)
        self.step = 0

    def hyperparameters(self) -> dict:
        """The mix, the dropout rates, σ sampling and what trains: checked on resume, recorded in manifests."""
        return {"num_audio_items": self.num_audio, "num_plain_items": self.num_plain,
                "share_start": self.share_start, "share_end": self.share_end, "ramp_steps": self.ramp_steps,
                "share_shape": "linear ramp, then flat", "text_dropout": self.text_dropout,
                "image_dropout": self.image_dropout, "audio_dropout": self.audio_dropout,
                "sigma_mode": self.sigma_mode, "shift": self.shift, "stage": self.stage,
                "face_weight": self.face_weight, "focus_weight": self.focus_weight, "focus_blocks": self.focus_blocks}

    def begin_step(self, step: int) -> None:
        self.step = step

    def pick(self, indices: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of ``self.data`` for this step: ``round(share·B)`` audio triplets drawn at random, the rest the
        trainer's stage-1 items; and which rows are audio triplets."""
        b = len(indices)
        n_audio = round(audio_share(self.step, self.ramp_steps, self.share_start, self.share_end) * b)
        audio_rows = torch.randint(self.num_audio, (n_audio,), generator=generator)
        rows = torch.cat([audio_rows, self.num_audio + indices[n_audio:]])
        return rows, torch.arange(b) < n_audio

    def loss(self, modules, indices, generator, device):
        rows, is_audio = self.pick(indices, generator)
        batch = {key: value[rows].to(device) for key, value in self.data.items()}
        x_0 = batch["latents"]  # (B, C, F', h, w)
        b = len(x_0)
        noise = torch.randn(x_0.shape, generator=generator).to(device)
        sigma = sample_training_sigmas(b, generator, mode=self.sigma_mode, shift=self.shift).to(device)  # (B,)
        keep = {name: (torch.rand(b, generator=generator) >= p).to(device)
                for name, p in (("text", self.text_dropout), ("image", self.image_dropout),
                                ("audio", self.audio_dropout))}
        text_mask = batch["text_mask"] & keep["text"][:, None]  # a dropped caption has no tokens
        text_ctx = batch["text_ctx"] * text_mask[..., None].to(batch["text_ctx"].dtype)
        ref = batch["ref_latents"] * keep["image"][:, None, None, None, None].to(x_0.dtype)
        audio = batch["audio_windows"] * keep["audio"][:, None, None, None].to(x_0.dtype)  # (B, F'+R, 8, 80)
        x_t = add_noise(x_0, noise, sigma)
        out = modules["transformer"](x_t, sigma_to_timestep(sigma), text_ctx, text_mask=text_mask, ref_latents=ref,
                                     audio_ctx=audio, return_hidden_states=self.focus_blocks)
        error = (out.sample.float() - velocity_target(x_0, noise).float()) ** 2  # (B, C, F', h, w)
        face_weight = self.face_weight * is_audio.to(device, error.dtype)  # audio triplets only
        per_sample = per_sample_loss(error, batch.get("face_share"), face_weight)  # (B,)
        logs = {"sigma": sigma, "loss": per_sample, "audio": is_audio.float().to(device)}
        if not self.focus_weight:
            return per_sample.mean(), logs
        focus = is_audio.to(device) & keep["audio"]  # audio samples whose audio was kept
        pred = modules["mask_head"](out.hidden_states)  # (B, F', h', w') on the token grid
        target = face_mask_target(batch["face_share"], self._patch(modules["transformer"]))  # (B, F', h', w')
        mask_loss = size_weighted_bce(pred, target) * focus.to(pred.dtype)  # (B,)
        total = per_sample.mean() + self.focus_weight * mask_loss.sum() / max(int(focus.sum()), 1)
        if focus.any():  # logged per step: the mask loss and the head's IoU on this batch's audio samples
            logs.update(mask_loss=mask_loss[focus].detach(), mask_iou=mask_iou(pred.detach(), target)[focus])
        return total, logs

    @staticmethod
    def _patch(transformer) -> tuple[int, int]:
        return tuple(transformer.config.patch_size[1:])


__all__ = ["SHARE_END", "SHARE_START", "AudioToVideoTask", "audio_share"]

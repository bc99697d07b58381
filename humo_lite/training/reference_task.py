"""Stage 1: text + reference image → video, HuMo's minimal-invasive reference injection (§3.3).

The step is stage 0's flow-matching step (:mod:`humo_lite.training.tasks`) with one more condition: the
clean latent of the clip's *cross-paired* reference (the same identity alone on white, in another pose;
:mod:`humo_lite.data.world`) is appended after the noisy video latents on the time axis,
``[z_t ; z_ref]``. The DiT gives the reference frame the next RoPE time position and drops its output,
so the loss is on the video frames only. Only the layers :mod:`humo_lite.training.stages` names train
(stage 1: self-attention); the text encoder is frozen, so its outputs are cached with the latents
(``text_ctx``).

**Condition dropout** (for the guidance branches of chapter 07): each sample drops its caption with
probability ``text_dropout`` and its reference with probability ``image_dropout``, independently. With
both at 0.1 a batch holds on average 81 % text + image, 9 % text only, 9 % image only and 1 % null
samples, so every branch the guidance needs (TI, T, I, null) is trained. A dropped caption is the null
text (no tokens); a dropped reference is an all-zero reference latent, the same null the pipeline
uses (:class:`humo_lite.pipeline.Conditions`), so a stage-1 model always sees one reference frame.

**Reference first** (``reference_position="before"``, chapter 03's ablation): ``[z_ref ; z_t]``, the
reference at time position 0 and the video after it, as an image-to-video model is trained. HuMo argues
this makes the model *continue* the reference (its white background, its pose) instead of taking only
its identity; the chapter measures it. Where the reference goes is the DiT's ``reference_position`` config
entry, set where the DiT is prepared (:meth:`~humo_lite.models.dit.HuMoLiteDiT.set_reference_position`, in
:func:`humo_lite.recipes.train_stage1`), so the saved model and the pipeline place it as it was trained; the
task only reads it (and records it with its hyper-parameters).

**Face weight** (``face_weight``, ours, not HuMo's; 0 = HuMo's plain loss): the squared error of each
latent cell is weighted by ``1 + face_weight · face_share``, the share of the cell the face covers
(:func:`humo_lite.training.latent_cache.latent_face_share`), and normalised by the weights' sum. In our
clips the face covers about a fifth of the picture, so with the plain loss four fifths of the gradient
go to the background, clothing and motion that stage 0 already draws; the weight points it at the
identity (with ``face_weight=4`` the face gets about 56 % of the loss). Chapter 03 measures it against the plain loss.
"""

from __future__ import annotations

import torch

from ..flow_matching import add_noise, sample_training_sigmas, sigma_to_timestep, velocity_target
from ..io import check_real
from ..models.dit import REFERENCE_POSITIONS
from .stages import trainable_predicate
from .tasks import check_training_data
from .trainer import TrainingTask


def per_sample_loss(error: torch.Tensor, face_share: torch.Tensor | None = None,
                    face_weight: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Squared error ``(B, C, F', h, w)`` → one loss per sample ``(B,)``: the plain mean, or with the face weight
    (a number, or one per sample) each latent cell weighted by ``1 + face_weight · face_share`` and normalised by
    the weights' sum (``face_share (B, F', h, w)``)."""
    if face_share is None or not torch.as_tensor(face_weight).any():
        return error.mean(dim=(1, 2, 3, 4))
    w = torch.as_tensor(face_weight, dtype=error.dtype, device=error.device).reshape(-1, 1, 1, 1)
    weight = (1 + w * face_share.float())[:, None].expand_as(error)
    return (weight * error).sum(dim=(1, 2, 3, 4)) / weight.sum(dim=(1, 2, 3, 4))


class ReferenceToVideoTask(TrainingTask):
    """Stage 1 on cached tensors: ``latents [N, C, F', h, w]``, ``ref_latents [N, C, R, h, w]``,
    ``text_ctx [N, L, text_dim]`` (the frozen text encoder's output) and ``text_mask [N, L]``.

    Args:
        transformer: the DiT (from stage 0), its ``reference_position`` already set (read, recorded).
        text_dropout, image_dropout: per-sample probabilities of dropping the caption / the reference.
        sigma_mode, shift: how training σ are drawn (:func:`humo_lite.flow_matching.sample_training_sigmas`).
        stage: which parameters train (:data:`humo_lite.training.stages.STAGES`): ``"stage1"``
            (self-attention only, HuMo) or ``"full"`` (full fine-tuning, the baseline).
        face_weight: extra loss weight on the face's latent cells (0: HuMo's plain loss); needs
            ``face_share [N, F', h, w]`` in ``data`` (:func:`~humo_lite.training.latent_cache.cache_latents`
            with ``references=True`` makes it).
    """

    def __init__(self, transformer: torch.nn.Module, data: dict[str, torch.Tensor], text_dropout: float = 0.1,
                 image_dropout: float = 0.1, sigma_mode: str = "logit_normal", shift: float = 3.0,
                 stage: str = "stage1", face_weight: float = 0.0):
        needed = ("latents", "ref_latents", "text_ctx", "text_mask") + (("face_share",) if face_weight else ())
        num_items = check_training_data(data, needed)
        check_real(shift, "sigma_shift", 0, low_open=True, what="1: no shift")
        if not (isinstance(face_weight, (int, float)) and 0 <= face_weight < float("inf")):
            raise ValueError(f"face_weight must be a finite number >= 0, got {face_weight!r}")
        for name, p in (("text_dropout", text_dropout), ("image_dropout", image_dropout)):
            if not 0 <= p < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {p!r}")
        self.modules = {"transformer": transformer}
        self.trainable = {"transformer": trainable_predicate(stage)}
        self.data, self.num_items = data, num_items
        self.text_dropout, self.image_dropout = text_dropout, image_dropout
        self.sigma_mode, self.shift, self.stage = sigma_mode, shift, stage
        self.reference_position = getattr(getattr(transformer, "config", None), "reference_position", "after")
        self.face_weight = float(face_weight)

    def hyperparameters(self) -> dict:
        """Dropout rates, σ sampling, what trains and where the reference goes: checked on resume."""
        return {"num_items": self.num_items, "text_dropout": self.text_dropout,
                "image_dropout": self.image_dropout, "sigma_mode": self.sigma_mode, "shift": self.shift,
                "stage": self.stage, "reference_position": self.reference_position, "face_weight": self.face_weight}

    def loss(self, modules, indices, generator, device):
        batch = {key: value[indices].to(device) for key, value in self.data.items()}
        x_0 = batch["latents"]  # (B, C, F', h, w)
        b = len(x_0)
        noise = torch.randn(x_0.shape, generator=generator).to(device)
        sigma = sample_training_sigmas(b, generator, mode=self.sigma_mode, shift=self.shift).to(device)  # (B,)
        keep_text = (torch.rand(b, generator=generator) >= self.text_dropout).to(device)
        keep_image = (torch.rand(b, generator=generator) >= self.image_dropout).to(device)
        text_mask = batch["text_mask"] & keep_text[:, None]  # (B, L): a dropped caption has no tokens
        text_ctx = batch["text_ctx"] * text_mask[..., None].to(batch["text_ctx"].dtype)
        ref = batch["ref_latents"] * keep_image[:, None, None, None, None].to(x_0.dtype)  # (B, C, R, h, w)
        x_t = add_noise(x_0, noise, sigma)
        timestep = sigma_to_timestep(sigma)
        velocity = modules["transformer"](x_t, timestep, text_ctx, text_mask=text_mask, ref_latents=ref).sample
        error = (velocity.float() - velocity_target(x_0, noise).float()) ** 2  # (B, C, F', h, w)
        per_sample = per_sample_loss(error, batch.get("face_share"), self.face_weight)  # (B,)
        return per_sample.mean(), {"sigma": sigma, "loss": per_sample}


__all__ = ["REFERENCE_POSITIONS", "ReferenceToVideoTask", "per_sample_loss"]

"""Where the video looks in the reference: self-attention weights, video tokens → reference tokens.

HuMo's reference injection (§3.3) has no module of its own: the clean reference latent is appended to
the sequence, ``[z_t ; z_ref]``, and identity can only reach the video through **self-attention**.
:class:`ReferenceAttention` records that flow. It hooks every block's self-attention (forward hooks, no
copy of the attention code): from the inputs a block received, the block's own
:meth:`~humo_lite.models.attention.SelfAttention.project` gives the queries and keys the forward pass
compared, and :func:`~humo_lite.models.attention.attention_weights` the softmax over them. Kept: the
rows of the video tokens, the columns of the reference tokens, averaged over heads.

>>> with ReferenceAttention(pipe.transformer) as rec:
...     out = pipe(prompt, image=reference, generator=torch.Generator().manual_seed(0))
>>> maps = rec.maps()        # (DiT calls, rows, blocks, F', h, w, R', h, w)

One DiT call per denoising step; with guidance the rows are the guidance branches (row 0: everything
given). :func:`subject_attention` turns the maps into the number chapter 03 reports: how much of the
attention the video's face tokens pay to the reference goes to the reference's subject (its head)
rather than its white background, per cell, against the same ratio for the video's background tokens.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from .attention import attention_weights


class ReferenceAttention:
    """Context manager recording video → reference self-attention of every block in every DiT call."""

    def __init__(self, transformer: torch.nn.Module):
        self.transformer = transformer
        self.calls: list[dict] = []
        self._handles: list = []

    def _start_call(self, module, args, kwargs):
        x_t = args[0] if args else kwargs["x_t"]
        ref = kwargs.get("ref_latents")
        pt, ph, pw = module.patch_size
        frames = x_t.shape[2] // pt
        refs = 0 if ref is None else ref.shape[2] // pt
        grid = (frames, x_t.shape[3] // ph, x_t.shape[4] // pw)
        first = getattr(module.config, "reference_position", "after") == "before"
        self.calls.append({"grid": grid, "ref_frames": refs, "first": first, "blocks": []})

    def _record(self, module, args, output):
        if not self.calls:
            return
        call = self.calls[-1]
        x, rotations = args
        frames, h, w = call["grid"]
        num_ref = call["ref_frames"] * h * w
        video, ref = (slice(num_ref, None), slice(0, num_ref)) if call["first"] else (
            slice(0, frames * h * w), slice(frames * h * w, None))
        with torch.no_grad():
            q, k, _ = module.project(x, rotations)
            weights = attention_weights(q[:, video], k, module.num_heads)[..., ref]  # (B, heads, Lv, Lr)
        call["blocks"].append(weights.mean(1).float().cpu())  # (B, Lv, Lr)

    def __enter__(self) -> ReferenceAttention:
        self.calls = []
        self._handles = [self.transformer.register_forward_pre_hook(self._start_call, with_kwargs=True)]
        self._handles += [block.self_attn.register_forward_hook(self._record) for block in self.transformer.blocks]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def maps(self) -> np.ndarray:
        """``(calls, rows, blocks, F', h, w, R', h, w)``: head-averaged weights, video → reference tokens."""
        if not self.calls:
            raise RuntimeError("no DiT call was recorded; run the model inside `with ReferenceAttention(...)`")
        if self.calls[0]["ref_frames"] == 0:
            raise ValueError("the recorded calls had no reference frames; pass image= (or ref_latents=)")
        frames, h, w = self.calls[0]["grid"]
        r = self.calls[0]["ref_frames"]
        out = [torch.stack(c["blocks"], 1) for c in self.calls]  # each (B, blocks, Lv, Lr)
        pattern = "c b k (f h w) (r i j) -> c b k f h w r i j"
        return rearrange(torch.stack(out), pattern, f=frames, h=h, w=w, r=r, i=h, j=w).numpy()


def token_mask(mask: np.ndarray, grid_hw: tuple[int, int]) -> np.ndarray:
    """A pixel mask ``(H, W)`` or ``(F, H, W)`` → the share of each token cell it covers, ``(h, w)``.

    A video's mask is averaged over its frames first (a latent frame covers several video frames).
    """
    m = torch.from_numpy(np.asarray(mask, np.float32))
    m = m.mean(0) if m.ndim == 3 else m  # (H, W)
    return F.adaptive_avg_pool2d(m[None, None], grid_hw)[0, 0].numpy()


def subject_attention(maps: np.ndarray, video_face: np.ndarray, reference_subject: np.ndarray) -> dict:
    """How strongly the video's face looks at the reference's subject rather than its white background.

    ``maps`` ``(..., F', h, w, R', h, w)`` from :meth:`ReferenceAttention.maps` (leading axes, e.g. calls
    and blocks, are kept); ``video_face`` ``(F, H, W)`` the clip's face mask; ``reference_subject``
    ``(H, W)`` the reference's non-white pixels. Both masks are taken to the token grid as the share of
    each cell they cover (:func:`token_mask`), and used as soft weights, so no threshold is needed even
    when a face spans only a few cells. For each video cell: the attention it pays per unit of reference
    subject, divided by the attention per unit of reference background — its *lift* (1 = no
    preference). Returns ``face_lift`` and ``background_lift`` (the lift averaged over the video's cells
    weighted by face coverage, and by its complement), ``face_subject_share`` (the share of the face
    cells' reference attention that lands on the subject) and ``subject_area`` (the subject's share of
    the reference: what that share would be with no preference); the first three with the leading axes
    of ``maps``.
    """
    h, w = maps.shape[-2:]
    face = token_mask(video_face, (h, w)).ravel()  # (h*w,) in [0, 1]
    subject = token_mask(reference_subject, (h, w)).ravel()
    if not (0 < face.sum() < face.size and 0 < subject.sum() < subject.size):
        raise ValueError("the face and subject masks must each cover some of the frame but not all of it")
    per_video = maps.sum(-3).mean(-5)  # (..., h, w, h, w): reference frames summed, latent frames averaged
    per_video = per_video.reshape(*per_video.shape[:-4], h * w, h * w)  # (..., video cell, reference cell)
    on, off = per_video @ subject, per_video @ (1 - subject)  # (..., video cell): mass on subject / background
    lift = (on / subject.sum()) / (off / (1 - subject).sum())
    share = on / (on + off)
    return {"face_lift": lift @ face / face.sum(), "background_lift": lift @ (1 - face) / (1 - face).sum(),
            "face_subject_share": share @ face / face.sum(), "subject_area": float(subject.mean())}


class AudioAttention:
    """Context manager recording what every block's frame-local audio cross-attention does (HuMo §3.3).

    Two readings per block and DiT call, for the video tokens only (reference frames dropped):

    - **effect**: the norm of the cross-attention's output per token — how much the audio *changes* each token
      (the layer is a plain residual, ``x + AudioAttn(x)``, so this is exactly what it adds);
    - **weights**: the softmax weights of each token over its latent frame's K audio tokens, head-averaged.

    >>> with AudioAttention(pipe.transformer) as rec:
    ...     out = pipe(prompt, image=ref, audio=wave, sample_rate=16000, generator=g)
    >>> effect = rec.effect()      # (DiT calls, rows, blocks, F', h, w)
    >>> weights = rec.weights()    # (DiT calls, rows, blocks, F', h, w, K)
    """

    def __init__(self, transformer: torch.nn.Module):
        if not any("audio" in block.cond_attn for block in transformer.blocks):
            raise ValueError("this DiT has no audio cross-attention (a stage-2 checkpoint has one in every block)")
        self.transformer = transformer
        self.calls: list[dict] = []
        self._handles: list = []

    def _start_call(self, module, args, kwargs):
        x_t = args[0] if args else kwargs["x_t"]
        pt, ph, pw = module.patch_size
        self.calls.append({"grid": (x_t.shape[2] // pt, x_t.shape[3] // ph, x_t.shape[4] // pw),
                           "effect": [], "weights": []})

    def _record(self, module, args, output):
        if not self.calls:
            return
        call = self.calls[-1]
        x, ctx, grid = args[:3]
        frames, h, w = call["grid"]
        with torch.no_grad():
            q = rearrange(module.norm_q(module.q(x)), "b (f l) d -> (b f) l d", f=grid[0])
            k, _ = module.kv(rearrange(ctx, "b f k c -> (b f) k c")).chunk(2, dim=-1)
            weights = attention_weights(q, module.norm_k(k), module.num_heads).mean(1)  # (B*(F+R), hw, K)
            weights = rearrange(weights, "(b f) l k -> b f l k", f=grid[0])[:, :frames]  # video frames only
        call["effect"].append(output[:, : frames * h * w].norm(dim=-1).float().cpu())  # (B, F'*h*w)
        call["weights"].append(weights.float().cpu())  # (B, F', h*w, K)

    def __enter__(self) -> AudioAttention:
        self.calls = []
        self._handles = [self.transformer.register_forward_pre_hook(self._start_call, with_kwargs=True)]
        self._handles += [block.cond_attn["audio"].register_forward_hook(self._record)
                          for block in self.transformer.blocks if "audio" in block.cond_attn]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _recorded(self) -> list[dict]:
        calls = [c for c in self.calls if c["effect"]]
        if not calls:
            raise RuntimeError("no audio cross-attention ran; generate with audio= inside `with AudioAttention(...)`")
        return calls

    def effect(self) -> np.ndarray:
        """``(calls, rows, blocks, F', h, w)``: the norm of the audio cross-attention's output per video token."""
        calls = self._recorded()
        frames, h, w = calls[0]["grid"]
        out = torch.stack([torch.stack(c["effect"], 1) for c in calls])  # (calls, B, blocks, F'*h*w)
        return rearrange(out, "c b k (f h w) -> c b k f h w", f=frames, h=h, w=w).numpy()

    def weights(self) -> np.ndarray:
        """``(calls, rows, blocks, F', h, w, K)``: head-averaged weights of each video token over its K tokens."""
        calls = self._recorded()
        _, h, w = calls[0]["grid"]
        out = torch.stack([torch.stack(c["weights"], 1) for c in calls])  # (calls, B, blocks, F', h*w, K)
        return rearrange(out, "c b k f (h w) t -> c b k f h w t", h=h, w=w).numpy()


def face_effect_share(effect: np.ndarray, face: np.ndarray) -> dict:
    """How much of the audio's effect lands on the face: ``effect (..., F', h, w)`` (:meth:`AudioAttention.effect`)
    and ``face (F', h, w)``, the share of each latent cell the face covers (e.g.
    :func:`humo_lite.training.latent_cache.latent_face_share`). Returns ``face_share``: the face-weighted share of
    the summed output norm (leading axes kept), and ``face_area``: the face's share of the frame, what
    ``face_share`` would be if the audio changed every token alike."""
    face = np.asarray(face, np.float64)
    if face.shape != effect.shape[-3:]:
        raise ValueError(f"face mask {face.shape} does not match the effect's token grid {effect.shape[-3:]}")
    total = effect.sum(axis=(-3, -2, -1))
    return {"face_share": (effect * face).sum(axis=(-3, -2, -1)) / np.maximum(total, 1e-12),
            "face_area": float(face.mean())}


__all__ = ["AudioAttention", "ReferenceAttention", "face_effect_share", "subject_attention", "token_mask"]

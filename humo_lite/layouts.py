"""Videos and images in every form users hold them, converted in one place with one set of errors.

The library speaks two layouts (``docs/design.md`` §3):

- the **model layout**: video ``[B, 3, F, H, W]`` and images ``[B, 3, H, W]``, torch, in [−1, 1] —
  what the VAE encodes and decodes and what the pipeline returns with ``output_type="pt"``;
- the **frame layout**: numpy ``(B, F, H, W, 3)`` (or one clip ``(F, H, W, 3)``), in [0, 1] as float or
  as uint8 — what the world renders, what ``output_type="np"`` returns and what players and files take.

Every function that accepts "a video" or "a reference image" (the pipeline, the metrics, the judge,
the players, the pixel readers) goes through :func:`as_video` or :func:`as_images` below, so a wrong
shape, a NaN or a value outside the expected range stops with the same clear message everywhere.

Value ranges: uint8 is divided by 255 and uint16 by 65535 (a 16-bit PNG); a torch tensor in a
channels-first layout is read as the model layout, [−1, 1]; anything else as [0, 1]. Pass
``value_range=(lo, hi)`` to say otherwise. Values more than 5 % of the range outside it are an error,
not something to clip silently.
"""

from __future__ import annotations

import numpy as np
import torch

INTEGER_RANGES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
"""Integer pixel types and their full-scale value (8-bit and 16-bit images)."""


def _as_tensor(x) -> tuple[torch.Tensor, float | None]:
    """Anything array-like → float32 CPU tensor, and the full-scale value of an integer input (else None)."""
    if isinstance(x, torch.Tensor):
        full = 255.0 if x.dtype == torch.uint8 else None
        return x.detach().cpu().float(), full
    array = np.asarray(x)
    full = INTEGER_RANGES.get(array.dtype)
    if full is None and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"expected float pixels, uint8 or uint16; got dtype {array.dtype}")
    return torch.from_numpy(array.astype(np.float32)), full


def _rescale(x: torch.Tensor, value_range: tuple[float, float], what: str) -> torch.Tensor:
    """Map ``value_range`` to [0, 1]; a NaN or a value well outside the range is an error."""
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinity")
    lo, hi = value_range
    span = hi - lo
    if x.numel() and (x.min() < lo - 0.05 * span or x.max() > hi + 0.05 * span):
        raise ValueError(
            f"{what} span [{float(x.min()):.3g}, {float(x.max()):.3g}], outside the expected range "
            f"[{lo:g}, {hi:g}]; pass value_range=(lo, hi) if your values use another one"
        )
    return ((x - lo) / span).clamp(0, 1)


def as_video(videos, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Any video batch → float ``[B, F, 3, H, W]`` in [0, 1] (the judge's layout).

    Accepted: numpy or torch ``(B, F, H, W, 3)`` or one clip ``(F, H, W, 3)`` in [0, 1] (or uint8);
    torch ``[B, 3, F, H, W]`` / ``[3, F, H, W]`` in [−1, 1] (the model layout); ``[B, F, 3, H, W]`` in [0, 1].
    """
    x, full = _as_tensor(videos)
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5:
        raise ValueError(f"videos must be [B, F, H, W, 3] (frames) or [B, 3, F, H, W] (model); got {tuple(x.shape)}")
    if x.shape[-1] == 3:
        layout, x = "frames", x.permute(0, 1, 4, 2, 3)
    elif x.shape[1] == 3:
        layout, x = "model", x.permute(0, 2, 1, 3, 4)
    elif x.shape[2] == 3:
        layout = "judge"
    else:
        raise ValueError(f"videos need a colour axis of size 3 (last, 1 or 2); got shape {tuple(x.shape)}")
    if value_range is None:
        model_layout = isinstance(videos, torch.Tensor) and layout == "model" and full is None
        value_range = (0.0, full) if full else (-1.0, 1.0) if model_layout else (0.0, 1.0)
    return _rescale(x, value_range, f"video values ({layout} layout)").contiguous()


def video_to_numpy(videos, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Any video batch (see :func:`as_video`) → numpy ``(B, F, H, W, 3)`` float32 in [0, 1] (frame layout)."""
    return as_video(videos, value_range).permute(0, 1, 3, 4, 2).numpy()


def one_clip(video, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """One clip in any layout (:func:`as_video`) → numpy ``(F, H, W, 3)`` float32 in [0, 1]; a batch is an error."""
    clips = video_to_numpy(video, value_range)
    if len(clips) != 1:
        raise ValueError(f"expected one clip, got a batch of {len(clips)}; pass video[i]")
    return clips[0]


def to_uint8(frames, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Frames in the frame layout (float in [0, 1], or uint8 already) → uint8, shape kept."""
    array = frames if isinstance(frames, np.ndarray) else np.asarray(frames)
    if array.dtype == np.uint8 and value_range is None:
        return array
    x, full = _as_tensor(array)
    x = _rescale(x, value_range or (0.0, full or 1.0), "frames")
    return (x * 255.0 + 0.5).to(torch.uint8).numpy()


def _pil_to_array(image) -> np.ndarray:
    """A PIL image → (H, W, 3|4) array; modes other than RGB / RGBA are an error that says what to do."""
    if image.mode not in ("RGB", "RGBA"):
        raise ValueError(
            f"a reference image must be RGB or RGBA; got PIL mode {image.mode!r} (a 16-bit or greyscale or "
            f"palette image). Convert it first: image.convert('RGB')"
        )
    return np.asarray(image)


def as_images(images, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Reference images → float ``[B, 3, H, W]`` in [0, 1].

    Accepted: a PIL image (RGB or RGBA); numpy / torch ``(H, W, 3|4)`` or ``(B, H, W, 3|4)`` in [0, 1],
    uint8 or uint16; torch ``[3, H, W]`` or ``[B, 3, H, W]`` in [−1, 1] (the model layout); a list of any
    of these. An alpha channel is composited onto white, as HuMo pads its references with white.
    """
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("got an empty list of images")
        return torch.cat([as_images(image, value_range) for image in images])
    if hasattr(images, "mode") and hasattr(images, "convert"):  # PIL
        images = _pil_to_array(images)
    x, full = _as_tensor(images)
    x = x[None] if x.ndim == 3 else x
    if x.ndim != 4:
        raise ValueError(f"reference images must be (H, W, 3) RGB, (H, W, 4) RGBA or [B, 3, H, W]; "
                         f"got {tuple(x.shape)}")
    channels_first = isinstance(images, torch.Tensor) and x.shape[1] in (3, 4)  # torch: model layout first
    if channels_first:
        x = x.permute(0, 2, 3, 1)
    if x.shape[-1] not in (3, 4):
        raise ValueError(f"reference images must be (H, W, 3) RGB or (H, W, 4) RGBA; got {tuple(x.shape)}")
    if value_range is None:
        model_layout = isinstance(images, torch.Tensor) and channels_first and full is None
        value_range = (0.0, full) if full else (-1.0, 1.0) if model_layout else (0.0, 1.0)
    x = _rescale(x, value_range, "reference image values")
    if x.shape[-1] == 4:  # composite onto white
        x = x[..., :3] * x[..., 3:] + (1.0 - x[..., 3:])
    return x.permute(0, 3, 1, 2).contiguous()


def frames_to_model(video: torch.Tensor) -> torch.Tensor:
    """Judge layout ``[B, F, 3, H, W]`` in [0, 1] → model layout ``[B, 3, F, H, W]`` in [−1, 1]."""
    return video.permute(0, 2, 1, 3, 4) * 2 - 1


__all__ = ["INTEGER_RANGES", "as_images", "as_video", "frames_to_model", "one_clip", "to_uint8", "video_to_numpy"]

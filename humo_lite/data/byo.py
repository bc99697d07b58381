"""Bring your own data: a folder of real clips read into the same triplets as the toy world.

The format, one sub-folder per clip (``data_samples/byo_example/`` is a tiny example)::

    my_clips/
      any_clip_name/
        video.mp4       any size and frame rate: resampled to 25 fps (nearest frame), centre-cropped
                        to a square and resized to the preset's size; the first 4k+1 frames are used
        audio.wav       mono, any sample rate (resampled to 16 kHz), at least as long as the clip
        reference.png   the person, cropped differently from the video (HuMo's cross-pairing); an
                        alpha channel is composited onto white
        caption.txt     one sentence describing the scene

Face masks come from OpenCV's bundled Haar face detector (``cv2.data.haarcascades``, shipped with
opencv-python-headless 4.x), run on every frame at its original resolution; frames where it finds
nothing borrow the nearest frame's box, and a clip with no face at all is an error. The mask is the
ellipse inscribed in the detected box. ``mouth`` for a real clip is the *lip law of its audio* (what
the toy world would draw), not a measurement of the video.

Any missing, empty or undecodable file stops with an error naming it; reading never writes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..io import atomic_dir, read_image, read_video, write_mp4, write_png, write_wav
from ..layouts import as_images
from ..presets import WorldConfig, get_preset
from .audio import audio_features, load_wav
from .captions import Tokenizer
from .dataset import clip_to_item
from .pools import MODALITIES
from .world import Clip

BYO_FILES = ("video.mp4", "audio.wav", "reference.png", "caption.txt")


def _crop_box(shape: tuple[int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """The centred (top, left, h, w) window of an image of ``shape`` with the target's aspect ratio."""
    h, w = shape
    target = width / height
    if w / h > target:
        new_w = round(h * target)
        return 0, (w - new_w) // 2, h, new_w
    new_h = round(w / target)
    return (h - new_h) // 2, 0, new_h, w


def _square_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize with area averaging."""
    import cv2

    top, left, h, w = _crop_box(image.shape[:2], height, width)
    return cv2.resize(image[top : top + h, left : left + w], (width, height), interpolation=cv2.INTER_AREA)


def detect_faces(frames: np.ndarray) -> list[tuple[int, int, int, int] | None]:
    """Largest Haar face box ``(x, y, w, h)`` per uint8 RGB frame, or None where none is found."""
    import cv2

    cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    if cascade.empty():
        raise RuntimeError("OpenCV's Haar face cascade is missing; install opencv-python-headless 4.x (< 5)")
    boxes = []
    for frame in frames:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(16, 16))
        boxes.append(tuple(int(v) for v in max(found, key=lambda b: b[2] * b[3])) if len(found) else None)
    return boxes


def face_masks_from_boxes(boxes, frame_shape, height: int, width: int) -> np.ndarray:
    """Ellipses inscribed in per-frame boxes, mapped into the cropped, resized frame: ``(F, H, W)``."""
    top, left, crop_h, crop_w = _crop_box(frame_shape, height, width)
    ys = (np.arange(height) + 0.5) / height * crop_h + top
    xs = (np.arange(width) + 0.5) / width * crop_w + left
    masks = np.zeros((len(boxes), height, width), bool)
    for i, (x, y, w, h) in enumerate(boxes):
        cx, cy = x + w / 2, y + h / 2
        masks[i] = ((xs[None, :] - cx) / (w / 2)) ** 2 + ((ys[:, None] - cy) / (h / 2)) ** 2 <= 1.0
    return masks


def _fill_missing(boxes: list, folder: Path) -> list:
    found = [i for i, b in enumerate(boxes) if b is not None]
    if not found:
        raise ValueError(f"no face found in any frame of {folder / 'video.mp4'} by OpenCV's Haar detector")
    return [boxes[min(found, key=lambda j: abs(j - i))] for i in range(len(boxes))]


def _read_reference(path: Path, height: int, width: int) -> np.ndarray:
    """The reference image: grey becomes RGB, alpha is composited onto white, then crop and resize."""
    image = read_image(path, "reference image")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"reference image {path} must be RGB or RGBA, got shape {image.shape}")
    rgb = as_images(image)[0].permute(1, 2, 0).numpy()  # (H, W, 3) in [0, 1], alpha composited on white
    return np.clip(_square_resize(rgb, height, width), 0.0, 1.0)


def read_byo_clip(folder: str | os.PathLike, world: WorldConfig | str = "humo-micro") -> Clip:
    """Read one clip folder (see the module docstring) as a :class:`Clip` at the preset's size."""
    folder = Path(folder)
    world = world if isinstance(world, WorldConfig) else get_preset(world).world
    missing = [name for name in BYO_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"BYO clip folder {folder} is missing {missing}; expected files {list(BYO_FILES)}")
    caption = (folder / "caption.txt").read_text(encoding="utf-8", errors="strict").strip()
    if not caption:
        raise ValueError(f"{folder / 'caption.txt'} is empty; expected one sentence describing the scene")

    frames, fps = read_video(folder / "video.mp4")
    duration = len(frames) / fps
    times = np.arange(int(np.floor(duration * world.fps + 1e-6))) / world.fps
    frames = frames[np.minimum(np.round(times * fps).astype(int), len(frames) - 1)]  # resampled to 25 fps
    if len(frames) < world.num_frames:
        raise ValueError(
            f"{folder / 'video.mp4'} gives {len(frames)} frames at {world.fps} fps; the clip needs "
            f"{world.num_frames} (4k+1) — {world.num_frames / world.fps:.2f} s"
        )
    frames = frames[: world.num_frames]
    boxes = _fill_missing(detect_faces(frames), folder)
    face_mask = face_masks_from_boxes(boxes, frames.shape[1:3], world.height, world.width)
    video = np.stack([_square_resize(f, world.height, world.width) for f in frames]).astype(np.float32) / 255.0

    audio = load_wav(folder / "audio.wav")
    if audio.size < world.num_samples:
        raise ValueError(
            f"{folder / 'audio.wav'} is too short: {audio.size / world.sample_rate:.3f} s; the clip needs "
            f"{world.duration:.3f} s ({world.num_samples} samples at {world.sample_rate} Hz)"
        )
    audio = audio[: world.num_samples]
    features, mouth = audio_features(audio, world.num_frames)
    reference = _read_reference(folder / "reference.png", world.height, world.width)
    return Clip(video, face_mask, reference, audio, features, mouth, caption, labels={})


def byo_clip_folders(root: str | os.PathLike) -> list[Path]:
    """The clip sub-folders of a BYO root, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"BYO data folder not found: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"{root} has no clip sub-folders; expected <clip>/{{{', '.join(BYO_FILES)}}}")
    return folders


class ByoDataset(Dataset):
    """Your own clips as the same tensor dicts as :class:`~humo_lite.data.dataset.TripletDataset`.

    Captions are tokenised with ``on_unknown="unk"``: real captions use words the toy vocabulary
    lacks, and those become ``<unk>``.
    """

    def __init__(self, root: str | os.PathLike, world: WorldConfig | str = "humo-micro"):
        self.folders = byo_clip_folders(root)
        self.world = world if isinstance(world, WorldConfig) else get_preset(world).world
        self.tokenizer = Tokenizer(on_unknown="unk")

    def __len__(self) -> int:
        return len(self.folders)

    def clip(self, index: int) -> Clip:
        return read_byo_clip(self.folders[index], self.world)

    def __getitem__(self, index: int) -> dict:
        return clip_to_item(self.clip(index), MODALITIES, self.tokenizer)


def export_byo_clip(clip: Clip, folder: str | os.PathLike, scale: int = 4) -> Path:
    """Write a clip in the BYO folder format (``video.mp4``, ``audio.wav``, ``reference.png``, ``caption.txt``),
    video and reference upscaled ``scale``x (nearest): what :func:`read_byo_clip` reads back.

    The folder appears whole or not at all: it is written under a temporary name and renamed.
    """
    with atomic_dir(folder) as tmp:
        write_mp4(tmp / "video.mp4", clip.video, scale=scale)
        write_wav(tmp / "audio.wav", clip.audio)
        write_png(tmp / "reference.png", clip.reference.repeat(scale, axis=0).repeat(scale, axis=1))
        (tmp / "caption.txt").write_text(clip.caption + "\n")
    return Path(folder)

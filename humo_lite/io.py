"""Writing files safely: WAV, PNG, MP4 with sound, JSON.

Every writer here goes through :func:`atomic_path`: it writes to a temporary file beside the target
and renames it into place only when the write finished, so a crash or a bad input never leaves a
half-written file behind. Inputs are checked *before* anything is opened.

MP4s are encoded with the ffmpeg binary that ships inside ``imageio-ffmpeg`` (no system ffmpeg
needed); the audio track is muxed in as AAC.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .presets import FPS, SAMPLE_RATE


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` only if the block succeeds.

    Used for checkpoints and exported clips: a reader sees the old folder or the whole new one, never a
    half-written mix. With ``overwrite=False`` an existing ``path`` is an error (raised before writing).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another path or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    old = path.with_name(f".{path.name}.old")
    try:
        yield tmp
        if path.exists():  # swap: move the old folder aside, the new one in, then delete the old one
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (or uint8 already) → uint8, with a clear error on anything else."""
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(f"expected float frames in [0, 1] or uint8, got dtype {frames.dtype}")
    if not np.isfinite(frames).all():
        raise ValueError("frames contain NaN or infinity")
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono float audio in [-1, 1] as 16-bit PCM WAV, atomically."""
    import soundfile as sf

    from .data.audio import check_audio

    audio = check_audio(audio, sample_rate, min_samples=1)
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an (H, W, 3) image (float in [0, 1] or uint8) as PNG, atomically."""
    import imageio.v3 as iio

    image = to_uint8(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, image, extension=".png")
    return Path(path)


def write_json(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return Path(path)


def write_mp4(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: int = FPS,
    audio: np.ndarray | None = None,
    sample_rate: int = SAMPLE_RATE,
    scale: int = 1,
) -> Path:
    """Write ``frames`` (F, H, W, 3) as an H.264 MP4, with ``audio`` as its sound track when given.

    ``scale`` enlarges each pixel to a ``scale`` x ``scale`` block (nearest neighbour) so tiny clips
    stay sharp in a player. Sizes are padded to even numbers, as H.264 requires.
    """
    import imageio_ffmpeg

    frames = to_uint8(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (F, H, W, 3), got {frames.shape}")
    if audio is not None:
        from .data.audio import check_audio

        audio = check_audio(audio, sample_rate, min_samples=1)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    num_frames, height, width, _ = frames.shape
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(path, suffix=".mp4"))
        cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        cmd += ["-s", f"{width}x{height}", "-r", str(fps), "-i", "-"]
        if audio is not None:
            wav = write_wav(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "audio.wav", audio)
            cmd += ["-i", str(wav), "-c:a", "aac", "-b:a", "96k", "-shortest"]
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12", "-movflags", "+faststart", str(tmp)]
        proc = subprocess.run(cmd, input=frames.tobytes(), capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {proc.stderr.decode(errors='replace')}")
    return Path(path)


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Read a video file as uint8 frames (F, H, W, 3) and its frame rate, with imageio-ffmpeg."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        width, height = meta["size"]
        frames = [np.frombuffer(buf, np.uint8).reshape(height, width, 3) for buf in reader]
    except (RuntimeError, OSError, KeyError, StopIteration) as exc:
        raise ValueError(f"could not decode video {path}: {exc}") from exc
    if not frames:
        raise ValueError(f"video {path} has no frames")
    return np.stack(frames), float(meta.get("fps") or FPS)

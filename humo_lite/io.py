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

from .layouts import to_uint8
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
    Replacing a folder is a swap: the old one is moved aside, the new one renamed in, and the old one
    deleted only then; if renaming the new one fails, the old one is moved back, so it survives.
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
        shutil.rmtree(old, ignore_errors=True)
        moved_aside = path.exists()
        if moved_aside:
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if moved_aside:
                os.replace(old, path)  # put the old folder back before reporting the failure
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_safetensors(path: str | os.PathLike) -> Path:
    """Raise a clear error unless ``path`` is a complete, readable safetensors file; return it.

    ``safe_open`` reads the header and checks that it covers the whole file, so a truncated download
    or a half-copied checkpoint is caught here, before any weights are loaded or anything is written.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        with safe_open(path, "pt") as handle:
            handle.keys()
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError on unreadable files)
        raise ValueError(f"{path} is truncated or corrupted, not a readable safetensors file ({exc}); "
                         f"restore it from the repository or retrain it") from None
    return path


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


def machine_info() -> dict:
    """Where a run happened, for manifests: platform, CPUs, threads, GPU and library versions."""
    import platform

    import diffusers
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
    }


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

    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1 (pixels per frame pixel), got {scale!r}")
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


def read_image(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """An image file as an array as stored (8- or 16-bit; grey, RGB or RGBA), with clear errors.

    A missing file raises ``FileNotFoundError``; a file that does not decode, ``ValueError`` naming it.
    Converting the layout and range is :func:`humo_lite.layouts.as_images`'s job.
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        return np.asarray(iio.imread(path, plugin="pillow"))
    except Exception as exc:  # imageio raises many kinds for a corrupt file
        raise ValueError(f"could not decode {what} {path} ({exc}); expected a PNG or JPEG") from None


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

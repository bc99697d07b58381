"""Writing files safely: WAV, PNG, MP4 with sound, JSON.

Every writer here goes through :func:`atomic_path`: it writes to a temporary file beside the target
and renames it into place only when the write finished, so a crash or a bad input never leaves a
half-written file behind. Inputs are checked *before* anything is opened.

Folders (checkpoints, pipelines, exported clips) go through :func:`atomic_dir`, whose swap leaves at least
one complete copy on disk at every instant; :func:`recover_dir` finishes an interrupted swap on the next
start. :func:`output_lock` keeps one writer per output folder (``fcntl`` locks, released by the kernel when a
process dies, so a crash leaves no stale lock). :func:`record_checksums` / :func:`verify_checksums` keep each
weights file's SHA-256 in its folder's ``manifest.json`` and check it on load.

MP4s are encoded with the ffmpeg binary that ships inside ``imageio-ffmpeg`` (no system ffmpeg
needed); the audio track is muxed in as AAC.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
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


class FolderInUse(RuntimeError):
    """Another process is writing the same output folder (it holds :func:`output_lock`)."""


_HELD: dict[str, int] = {}  # locks this process holds, by absolute path: output_lock is re-entrant


def _lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the one-writer lock of output ``path`` (a folder or a file) for the block.

    The lock is ``fcntl.flock`` on ``.<name>.lock`` beside ``path``, holding who took it (process id, host,
    command, time); a second writer gets :class:`FolderInUse` naming that holder at once, instead of
    the two overwriting each other's checkpoints. The kernel drops the lock when its process ends, even
    by a kill, so no stale lock can block a later run; the lock file is removed on release. Re-entrant
    within a process (a trainer inside a command that already holds the folder).
    """
    path = Path(path).absolute()
    key = str(path)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    lock = _lock_file(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.read(fd, 4096).decode() or "{}")
            except (ValueError, OSError):
                holder = {}
            os.close(fd)
            who = ", ".join(f"{k} {holder[k]}" for k in ("pid", "host", "since", "command") if k in holder)
            raise FolderInUse(f"{path} is being written by another process ({who or 'holder unknown'}); wait for "
                              f"it to finish or choose another output") from None
        try:  # the holder before us may have removed the file between our open and our lock: take the new one
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(sys.argv)[:300]}
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(holder).encode())
    _HELD[key] = 1
    try:
        yield path
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            lock.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _old(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def recover_dir(path: str | os.PathLike) -> str | None:
    """Finish what an interrupted :func:`atomic_dir` swap of ``path`` left, and say what was done (or None).

    The swap (moved aside → new one in → old one deleted) keeps a complete copy at every instant: ``path``
    itself, or, between the two renames, only ``.<name>.old``. So: ``.old`` alone is moved back to ``path``
    (the last complete copy; the note says so); ``.old`` beside ``path`` is an interrupted delete and goes;
    ``.<name>.*.tmp`` folders are half-written copies of a killed writer and go. Takes the folder's
    :func:`output_lock` (another live writer's temporary folder is never touched).
    """
    path = Path(path)
    note = None
    with output_lock(path):
        for stale in glob.glob(str(path.parent / f".{glob.escape(path.name)}.*.tmp")):
            shutil.rmtree(stale, ignore_errors=True)
        old = _old(path)
        if old.is_dir():
            if path.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(old, path)
                note = (f"found only {old.name} (a save of {path.name} was interrupted between its two renames); "
                        f"restored it as {path}")
    return note


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` only if the block succeeds.

    Used for checkpoints and exported clips: a reader sees the old folder or the whole new one, never a
    half-written mix. With ``overwrite=False`` an existing ``path`` is an error (raised before writing).
    Replacing a folder is a swap: the old one is moved aside to ``.<name>.old``, the new one renamed in, and
    the old one deleted only then; if renaming the new one fails, the old one is moved back. A *kill* between
    the two renames leaves only ``.<name>.old``, which :func:`recover_dir` (run here first, and by the
    trainer before it resumes) moves back. One writer at a time: the block holds :func:`output_lock`.
    """
    path = Path(path)
    with output_lock(path):
        recover_dir(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; choose another path or remove it")
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"{path} exists and is a file, not a folder; choose another path or remove it")
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        old = _old(path)
        try:
            yield tmp
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


# --- checksums ------------------------------------------------------------------------------------------------
CHECKSUMS_KEY = "sha256"
"""The manifest entry holding ``{path inside the folder: SHA-256}`` for every weights file."""


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_checksums(folder: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every ``.safetensors`` file under ``folder``, by path relative to it (sorted)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*.safetensors"))}


def record_checksums(folder: str | os.PathLike, manifest: str = "manifest.json") -> dict[str, str]:
    """Add (or refresh) the SHA-256 of every weights file under ``folder`` in its ``manifest``; return them.

    Recipes call it when they save; ``scripts/record_checksums.py`` runs it over folders written before
    manifests carried checksums (the shipped ``data_samples/checkpoints``). Only the ``sha256`` entry changes.
    """
    path = Path(folder) / manifest
    data = read_json(path) if path.is_file() else {}
    ordered = list(data) == sorted(data)
    data[CHECKSUMS_KEY] = folder_checksums(folder)
    with atomic_path(path) as tmp:  # the file's own key order kept (sorted ones stay sorted)
        tmp.write_text(json.dumps(data, indent=2, sort_keys=ordered) + "\n")
    return data[CHECKSUMS_KEY]


def verify_checksums(folder: str | os.PathLike, manifest: str = "manifest.json") -> int:
    """Check every file the manifest's ``sha256`` entry lists; return how many were checked (0: no entry).

    A file whose bytes changed since it was saved (a flipped bit, an edit, a partial copy) is a
    ``ValueError`` naming it; a listed file that is missing, ``FileNotFoundError``. Cost: one read of each
    weights file (measured in ``docs/bad_inputs.md``).
    """
    folder = Path(folder)
    path = folder / manifest
    if not path.is_file():
        return 0
    sums = read_json(path).get(CHECKSUMS_KEY)
    if sums is None:
        return 0
    if not isinstance(sums, dict) or not all(isinstance(v, str) for v in sums.values()):
        raise ValueError(f"{path}: field {CHECKSUMS_KEY!r} must map file names to SHA-256 strings, got {sums!r:.80}")
    for name, expected in sums.items():
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing; {path} lists it (restore the folder)")
        if sha256_file(file) != expected:
            raise ValueError(f"{file}: its SHA-256 differs from the one {path.name} recorded when it was saved (a "
                             f"flipped bit, an edit or a partial copy); restore it from where it came from or retrain")
    return len(sums)


def read_json(path: str | os.PathLike, what: str = "") -> dict:
    """A JSON object from ``path``, or one clear error naming the file (and the line of a syntax error)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what + ' ' if what else ''}file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not text (expected JSON); restore it") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); restore or "
                         f"fix it") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{...}}, got {type(data).__name__}")
    return data


# --- arguments --------------------------------------------------------------------------------------------
def check_count(value, name: str, low: int = 1, high: int | None = None, what: str = "") -> int:
    """``value`` as an int if it is a whole number in ``[low, high]``, else a ``ValueError`` giving the range."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low
            or (high is not None and value > high)):
        span = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be a whole number {span}{f' ({what})' if what else ''}, got {value!r}")
    return int(value)


def check_real(value, name: str, low: float | None = None, high: float | None = None, low_open: bool = False,
               high_open: bool = False, what: str = "") -> float:
    """``value`` as a float if it is a finite number in the range, else a ``ValueError`` giving the range."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    ok = ok and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "" if low is None else f"{'(' if low_open else '['}{low:g}"
        right = "" if high is None else f"{high:g}{')' if high_open else ']'}"
        span = f" in {left or '(-inf'}, {right or 'inf)'}" if low is not None or high is not None else ""
        raise ValueError(f"{name} must be a finite number{span}{f' ({what})' if what else ''}, got {value!r}")
    return float(value)


def check_output_path(path: str | os.PathLike, kind: str = "folder", suffixes: tuple[str, ...] = ()) -> Path:
    """Check, before any work, that ``path`` can be written as a ``kind`` (``"folder"`` or ``"file"``).

    Named errors for what would otherwise fail only after the work is done: a file where a folder is
    expected (or the reverse), a parent that is a file, a read-only or unwritable place, a wrong file
    extension (``suffixes``).
    """
    path = Path(path)
    if kind == "file" and path.is_dir():
        example = path / ("out" + (suffixes or ("",))[0])
        raise IsADirectoryError(f"{path} is a folder; expected a file name to write, e.g. {example}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{path}: expected a file name ending in {' or '.join(suffixes)}, got "
                         f"{path.suffix or 'no extension'!r} (the file holds {suffixes[0][1:].upper()} bytes)")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file; expected a folder to write into (choose another --out)")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {parent} is a file, not a folder")
    probe = path if path.exists() else parent
    if not os.access(probe, os.W_OK | os.X_OK if probe.is_dir() else os.W_OK):
        raise PermissionError(f"cannot write {path}: {probe} is not writable (permissions or a read-only file system)")
    if probe.is_dir():  # os.access does not see a read-only mount: try it
        try:
            fd, name = tempfile.mkstemp(prefix=".write-test.", dir=probe)
        except OSError as exc:
            raise PermissionError(f"cannot write {path}: {probe}: {exc.strerror}") from None
        os.close(fd)
        os.unlink(name)
    return path


def check_finite_tensors(tensors: dict, where: str) -> None:
    """A ``ValueError`` naming the first tensor of ``tensors`` with NaN or infinite values, and ``where``."""
    import torch

    for key, value in tensors.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f"{where}: tensor {key!r} holds {bad} NaN or infinite value(s) of {value.numel()}")


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
    if Path(path).suffix.lower() != ".mp4":
        raise ValueError(f"{path}: expected a file name ending in .mp4 (the file holds H.264 MP4 bytes), got "
                         f"{Path(path).suffix or 'no extension'!r}")
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

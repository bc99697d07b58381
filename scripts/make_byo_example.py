"""Regenerate ``data_samples/byo_example/``: a tiny example of the "bring your own data" folder format.

The format, one folder per clip::

    byo_example/
      <clip_name>/video.mp4      H.264, 25 fps, 33 frames, 96x96, no audio track
      <clip_name>/audio.wav      16 kHz mono 16-bit PCM, at least as long as the video
      <clip_name>/reference.png  the same person, framed differently from every video frame
      <clip_name>/caption.txt    one sentence describing the scene

The person is ``skimage.data.astronaut()``, the public-domain NASA portrait of astronaut Eileen
Collins that ships inside scikit-image (no download). Each clip is a gentle, smooth camera zoom/pan
over the photo, with a different framing per clip; its sound is a "train" recording from
``data_samples/speech_bank/`` (so run ``scripts/make_speech_bank.py`` first if that folder is
missing). The reference image is a tighter, horizontally flipped, slightly rotated face crop, so it
never equals a video frame. The lips do not move: this is an example of the file format, not
training data.

Run from the repository root::

    .venv/bin/python scripts/make_byo_example.py            # writes data_samples/byo_example/
    .venv/bin/python scripts/make_byo_example.py --out DIR  # somewhere else

At the end the script decodes each ``video.mp4`` again and checks with OpenCV's bundled Haar face
detector that a face is found in every frame, and that the folder stays under 300 KB. The output is
deterministic for a given ffmpeg / OpenCV / scikit-image version.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from humo_lite.io import write_mp4, write_png, write_wav  # noqa: E402
from humo_lite.presets import FPS, SAMPLE_RATE  # noqa: E402

DEFAULT_OUT = ROOT / "data_samples" / "byo_example"
SPEECH_BANK = ROOT / "data_samples" / "speech_bank"

SIZE = 96  # frame height and width, pixels
NUM_FRAMES = 33  # 4k+1 frames, 1.32 s at 25 fps
MAX_BYTES = 300 * 1000

# Short enough for the caption tokenizer (humo_lite.data.captions.MAX_TOKENS words and commas).
CAPTION = "A smiling astronaut in an orange flight suit talks to the camera in front of a plain grey wall."

# Per clip: crop squares (centre x, centre y, side) in the 512x512 photo at the first and last frame;
# the camera eases smoothly between them. The face sits around x=177..272, y=66..161.
CLIPS = {
    "astronaut_zoom_in": dict(
        start=(228.0, 128.0, 200.0),
        end=(222.0, 118.0, 160.0),
        audio_key="train_15_en-gb-m3_170",
    ),
    "astronaut_pan": dict(
        start=(250.0, 150.0, 250.0),
        end=(205.0, 135.0, 235.0),
        audio_key="train_29_en-gb-x-rp-m7_170",
    ),
}

# Reference: a tight face crop (centre x, centre y, side), rotated by a few degrees and mirrored.
REFERENCE_CROP = (226.0, 110.0, 128.0)
REFERENCE_ROTATION_DEG = 7.0


def load_photo() -> np.ndarray:
    """The astronaut photo as uint8 (512, 512, 3) RGB, from scikit-image's bundled data."""
    from skimage import data

    photo = data.astronaut()
    if photo.shape != (512, 512, 3) or photo.dtype != np.uint8:
        raise RuntimeError(f"unexpected skimage.data.astronaut(): {photo.shape} {photo.dtype}")
    return photo


def render_crop(photo: np.ndarray, cx: float, cy: float, side: float, angle_deg: float = 0.0) -> np.ndarray:
    """Resample the square of ``side`` pixels centred on (cx, cy), rotated by ``angle_deg``, to SIZE x SIZE.

    The photo is blurred first in proportion to the shrink factor, so the sub-pixel camera motion
    stays smooth and free of aliasing shimmer.
    """
    import cv2

    scale = SIZE / side
    sigma = max(0.0, 0.5 * (1.0 / scale - 1.0))
    src = cv2.GaussianBlur(photo, (0, 0), sigmaX=sigma) if sigma > 0.05 else photo
    # Map the crop centre to the output centre, scaling and rotating about it.
    matrix = cv2.getRotationMatrix2D((cx, cy), angle_deg, scale)
    matrix[:, 2] += np.array([SIZE / 2.0 - cx, SIZE / 2.0 - cy])
    return cv2.warpAffine(src, matrix, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def camera_path(start: tuple, end: tuple, num_frames: int) -> np.ndarray:
    """(num_frames, 3) crop parameters easing from ``start`` to ``end`` (cosine ease-in-out)."""
    t = np.linspace(0.0, 1.0, num_frames)
    ease = 0.5 - 0.5 * np.cos(np.pi * t)
    return np.asarray(start)[None] + ease[:, None] * (np.asarray(end) - np.asarray(start))[None]


def load_bank_audio(key: str) -> np.ndarray:
    """A speech-bank recording (must be in the "train" split) as float32 at 16 kHz."""
    import soundfile as sf

    manifest_path = SPEECH_BANK / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} is missing; run scripts/make_speech_bank.py first")
    rows = {row["key"]: row for row in json.loads(manifest_path.read_text())}
    row = rows.get(key)
    if row is None:
        raise KeyError(f"speech bank has no recording {key!r}")
    if row["split"] != "train":
        raise ValueError(f"{key} is in split {row['split']!r}; the example must only use 'train' speech")
    audio, sr = sf.read(SPEECH_BANK / row["file"], dtype="float32")
    if sr != SAMPLE_RATE or audio.ndim != 1:
        raise ValueError(f"{key}: expected 16 kHz mono, got {sr} Hz with shape {audio.shape}")
    return audio


def detect_faces(frames: np.ndarray) -> list[int]:
    """Number of faces OpenCV's bundled frontal-face Haar cascade finds in each RGB frame."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise RuntimeError("could not load OpenCV's haarcascade_frontalface_default.xml")
    counts = []
    for frame in frames:
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        counts.append(len(faces))
    return counts


def decode_mp4(path: Path) -> tuple[np.ndarray, dict]:
    """Decode ``path`` with imageio-ffmpeg: uint8 frames (F, H, W, 3) and the stream metadata."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = np.stack([np.frombuffer(buf, np.uint8).reshape(height, width, 3) for buf in reader])
    return frames, meta


def folder_bytes(folder: Path) -> int:
    """The byte size of every file under ``folder`` (like ``du -sb``)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_clips(out: Path) -> None:
    """Write every clip of :data:`CLIPS` under ``out`` in the BYO folder format (old files removed first)."""
    photo = load_photo()
    for name, spec in CLIPS.items():
        clip_dir = out / name
        if clip_dir.exists():
            shutil.rmtree(clip_dir)  # no stale files from an older run
        path = camera_path(spec["start"], spec["end"], NUM_FRAMES)
        frames = np.stack([render_crop(photo, *params) for params in path])
        write_mp4(clip_dir / "video.mp4", frames, fps=FPS)

        audio = load_bank_audio(spec["audio_key"])
        if audio.size < NUM_FRAMES * SAMPLE_RATE // FPS:
            raise ValueError(f"{spec['audio_key']} is shorter than the {NUM_FRAMES}-frame video")
        write_wav(clip_dir / "audio.wav", audio, SAMPLE_RATE)

        reference = render_crop(photo, *REFERENCE_CROP, angle_deg=REFERENCE_ROTATION_DEG)[:, ::-1]
        write_png(clip_dir / "reference.png", np.ascontiguousarray(reference))
        (clip_dir / "caption.txt").write_text(CAPTION + "\n")


def check_clips(out: Path) -> bool:
    """Check what was written, from the files: frame count, fps, audio length, a face in every frame and in the
    reference, the caption fits the tokenizer, the folder's size. Prints each clip's numbers; True if all pass."""
    import imageio.v3 as iio
    import soundfile as sf

    ok = True
    total_frames = total_hits = 0
    print(f"wrote {len(CLIPS)} clips to {out}")
    for name, spec in CLIPS.items():
        clip_dir = out / name
        frames, meta = decode_mp4(clip_dir / "video.mp4")
        counts = detect_faces(frames)
        hits = sum(c >= 1 for c in counts)
        total_frames += len(counts)
        total_hits += hits
        info = sf.info(clip_dir / "audio.wav")
        ref_faces = detect_faces(iio.imread(clip_dir / "reference.png")[None])[0]
        video_s = len(frames) / float(meta["fps"])
        print(
            f"  {name}: {len(frames)} frames {meta['size'][0]}x{meta['size'][1]} @ {meta['fps']:g} fps, "
            f"audio track: {meta.get('audio_codec') or 'none'}; audio.wav {info.samplerate} Hz "
            f"{info.channels} ch {info.duration:.2f} s ({spec['audio_key']}); "
            f"Haar face in {hits}/{len(counts)} frames, reference: {ref_faces} face(s)"
        )
        if len(frames) != NUM_FRAMES or float(meta["fps"]) != FPS or info.duration < video_s:
            ok = False
        if hits < len(counts) or ref_faces < 1:
            ok = False
    from humo_lite.data.captions import Tokenizer

    try:
        Tokenizer(on_unknown="unk").encode(CAPTION)
    except ValueError as exc:
        print(f"  caption does not fit the tokenizer: {exc}")
        ok = False
    size = folder_bytes(out)
    print(f"  Haar detection rate: {total_hits}/{total_frames} = {total_hits / total_frames:.1%}")
    print(f"  folder size: {size / 1000:.1f} KB (limit {MAX_BYTES / 1000:.0f} KB)")
    return ok and size <= MAX_BYTES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    write_clips(args.out)
    if not check_clips(args.out):
        print("check failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

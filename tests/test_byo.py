"""Bring your own data: the example folder reads into triplets; broken folders fail clearly."""

import shutil

import numpy as np
import pytest
import soundfile as sf

from humo_lite.data import ByoDataset, read_byo_clip
from humo_lite.shipped import data_samples_dir

EXAMPLE = data_samples_dir() / "byo_example"


@pytest.fixture
def clip_dir(tmp_path):
    src = sorted(p for p in EXAMPLE.iterdir() if p.is_dir())[0]
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def test_example_folder_reads_into_triplets():
    ds = ByoDataset(EXAMPLE, "humo-micro")
    assert len(ds) >= 2
    clip = ds.clip(0)
    assert clip.video.shape == (17, 32, 32, 3) and clip.reference.shape == (32, 32, 3)
    assert clip.audio.shape == (17 * 640,) and clip.caption
    coverage = clip.face_mask.mean(axis=(1, 2))
    assert np.all(coverage > 0.03) and np.all(coverage < 0.8)  # Haar found a face of sensible size
    item = ds[1]
    assert item["video"].shape == (3, 17, 32, 32) and item["has_audio"] and item["has_reference"]


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_missing_file_is_named(clip_dir):
    (clip_dir / "caption.txt").unlink()
    before = _files(clip_dir)
    with pytest.raises(FileNotFoundError, match=r"missing \['caption.txt'\]"):
        read_byo_clip(clip_dir)
    assert _files(clip_dir) == before  # reading writes nothing


@pytest.mark.parametrize("name, match", [
    ("video.mp4", "could not decode video"),
    ("audio.wav", "could not decode audio"),
    ("reference.png", "could not decode reference"),
])
def test_corrupt_file_is_named(clip_dir, name, match):
    (clip_dir / name).write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match=match):
        read_byo_clip(clip_dir)


def test_too_short_audio_and_stereo_and_empty_caption(clip_dir):
    sf.write(clip_dir / "audio.wav", np.zeros(1000, np.float32), 16_000)
    with pytest.raises(ValueError, match="too short"):
        read_byo_clip(clip_dir)
    sf.write(clip_dir / "audio.wav", np.zeros((20_000, 2), np.float32), 16_000)
    with pytest.raises(ValueError, match="expected mono"):
        read_byo_clip(clip_dir)
    (clip_dir / "caption.txt").write_text("  \n")
    with pytest.raises(ValueError, match="caption.txt is empty"):
        read_byo_clip(clip_dir)


def test_video_too_short_for_the_preset(clip_dir):
    with pytest.raises(ValueError, match="the clip needs 65"):
        read_byo_clip(clip_dir, world=_world(65))


def _world(num_frames):
    from humo_lite.presets import WorldConfig

    return WorldConfig(height=32, width=32, num_frames=num_frames)

"""``humo-lite demo``, the README's first command: a talking clip (text + reference + audio → MP4 with sound and a PNG
strip) from the shipped stage-2 checkpoint, then the tour."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from humo_lite.demo import demo_frames, demo_person, load_stage2, talk
from humo_lite.io import read_video


def _streams(path) -> list[str]:
    import imageio_ffmpeg

    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True)
    return [line.strip() for line in proc.stderr.splitlines() if "Stream #" in line]


@pytest.mark.slow
def test_demo_writes_a_talking_clip_with_sound_and_then_the_tour(tmp_path, capsys):
    from humo_lite.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--preset", "humo-nano", "--seconds", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    frames, fps = read_video(out / "talking.mp4")
    assert len(frames) == demo_frames(1.0) == 25 and fps == 25  # 1 s as 4k+1 frames
    streams = _streams(out / "talking.mp4")
    assert any("Video: h264" in s for s in streams) and any("Audio: aac" in s for s in streams), streams
    assert (out / "talking.png").stat().st_size > 5_000
    caption = demo_person("humo-nano", 1.0).caption
    assert caption in printed and "with sound" in printed and "windows of 9 frames" in printed, printed
    assert (out / "tour" / "heldout_identity_0.mp4").is_file() and "lip law vs mouth in pixels" in printed


def test_the_audio_reaches_the_clip_and_the_seed_fixes_it():
    """The same person with and without their speech gives different frames (the audio drives the clip); the same
    seed gives the same frames."""
    pipe = load_stage2("humo-nano")
    person = demo_person("humo-nano", 0.7)
    tia = talk(pipe, person, "TIA", num_inference_steps=4)
    assert tia.frames.shape == (person.num_frames, 16, 16, 3) and len(tia.audio) == 640 * person.num_frames
    again = talk(pipe, person, "TIA", num_inference_steps=4)
    np.testing.assert_array_equal(tia.frames, again.frames)
    ti = talk(pipe, person, "TI", num_inference_steps=4)
    assert np.abs(tia.frames - ti.frames).mean() > 1e-3


def test_demo_without_the_tour_and_bad_values(tmp_path, cli_status, capsys):
    assert cli_status(["demo", "--preset", "humo-nano", "--seconds", "0.05", "--out", str(tmp_path / "a")]) == 2
    assert "seconds must be a finite number in [0.2, 60]" in capsys.readouterr().err
    assert cli_status(["demo", "--person", "200", "--out", str(tmp_path / "b")]) == 2
    assert "expected a whole number in 0..199, got 200" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert cli_status(["demo", "--preset", "humo-nano", "--seconds", "0.4", "--steps", "2", "--no-tour",
                       "--out", str(tmp_path / "c")]) == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["talking.mp4", "talking.png"]

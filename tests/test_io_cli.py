"""Files out: MP4 with a sound track, atomic writes, the BYO export, and the command line."""

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from humo_lite.cli import main
from humo_lite.data import ByoDataset, make_clip, make_pool
from humo_lite.data.byo import export_byo_clip
from humo_lite.io import write_json, write_mp4
from humo_lite.shipped import default_checkpoint
from humo_lite.training.vae_training import VAETrainConfig


def _streams(path):
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True)
    return [line.strip() for line in proc.stderr.splitlines() if "Stream #" in line]


def test_mp4_has_video_and_audio_tracks(tmp_path):
    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    path = write_mp4(tmp_path / "clip.mp4", clip.video, audio=clip.audio, scale=4)
    streams = _streams(path)
    assert any("Video: h264" in s and "64x64" in s for s in streams), streams
    assert any("Audio: aac" in s for s in streams), streams
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temporary files left


def test_bad_input_writes_nothing(tmp_path):
    frames = np.zeros((5, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="NaN"):
        write_mp4(tmp_path / "a.mp4", frames, audio=np.full(3200, np.nan, np.float32))
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        write_mp4(tmp_path / "b.mp4", np.zeros((5, 8, 8), np.float32))
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json(tmp_path / "c.json", {"x": object()})
    assert list(tmp_path.iterdir()) == []


def test_export_writes_a_complete_byo_folder_or_nothing(tmp_path):
    clip = make_clip(make_pool("stage2")[3], "humo-micro")
    folder = export_byo_clip(clip, tmp_path / "clip0")
    assert sorted(p.name for p in folder.iterdir()) == ["audio.wav", "caption.txt", "reference.png", "video.mp4"]
    with pytest.raises(FileExistsError, match="already exists"):
        export_byo_clip(clip, folder)
    # The exported folder reads back through the BYO reader (Haar finds this head-and-shoulders cartoon face):
    back = ByoDataset(tmp_path).clip(0)
    assert back.caption == clip.caption and np.array_equal(back.audio, clip.audio)
    assert np.abs(back.video - clip.video).mean() < 0.02 and back.face_mask.any(axis=(1, 2)).all()
    clip.audio[:] = np.nan  # a broken clip: nothing may appear
    with pytest.raises(ValueError, match="NaN"):
        export_byo_clip(clip, tmp_path / "clip1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip0"]


def test_cli_stats_show_and_errors(tmp_path, capsys):
    assert main(["data", "stats"]) == 0
    assert "foundation" in capsys.readouterr().out
    assert main(["data", "show", "--pool", "stage1", "--index", "2", "--preset", "humo-nano",
                 "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage1_2.mp4", "stage1_2.png"]
    with pytest.raises(SystemExit, match="2"):
        main(["data", "show", "--preset", "humo-huge"])
    assert "invalid choice: 'humo-huge'" in capsys.readouterr().err
    assert main(["data", "show", "--pool", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown pool 'nope'" in capsys.readouterr().err


def test_train_vae_command_defers_to_train_vae_defaults(tmp_path, monkeypatch):
    """`humo-lite train vae` passes only the flags given; the shipped settings live in VAETrainConfig alone."""
    import humo_lite.recipes as recipes

    calls = []

    def fake(*args, **kwargs):
        calls.append((args, kwargs))
        return None, {"metrics": {"psnr_db": 0.0}, "wall_time_s": 0}

    monkeypatch.setattr(recipes, "fit_vae", fake)  # the training itself; nano: no judge ceiling
    main(["train", "vae", "--preset", "humo-nano", "--out", str(tmp_path / "a")])
    main(["train", "vae", "--preset", "humo-nano", "--out", str(tmp_path / "b"), "--steps", "3", "--image-steps", "0"])
    (first, _), (second, _) = calls
    assert first[2] == VAETrainConfig()  # no flags: the config's own defaults
    assert second[2] == VAETrainConfig(steps=3, image_steps=0)


def test_train_vae_recipe_stores_the_reconstruction_ceiling(tmp_path, monkeypatch, capsys):
    """At the judge's frame size the recipe measures both ceilings' inputs and writes them into the manifest."""
    import shutil

    import humo_lite.recipes as recipes
    from humo_lite.eval.ceilings import load_reconstruction_ceiling

    shipped = default_checkpoint("humo-micro") / "vae"

    def fake(preset, out_dir, config, **kwargs):  # "train" = copy the shipped VAE, without its measured ceilings
        shutil.copytree(shipped, out_dir)
        manifest = json.loads((shipped / "manifest.json").read_text())
        for key in ("reconstruction_ceiling", "mouth_check"):
            manifest.pop(key, None)
        (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest))
        return None, manifest

    monkeypatch.setattr(recipes, "fit_vae", fake)
    main(["train", "vae", "--preset", "humo-micro", "--out", str(tmp_path / "vae")])
    assert "reconstruction" in capsys.readouterr().out
    assert load_reconstruction_ceiling(tmp_path / "vae") == load_reconstruction_ceiling(shipped)
    written = json.loads((tmp_path / "vae" / "manifest.json").read_text())
    assert written["mouth_check"]["num_clips"] == 48 and "reconstruction" in written["mouth_check"]["rows"]

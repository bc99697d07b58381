"""The judge: shipped checkpoint meets issue 4's numbers; any frame size works; training writes atomically."""

import json

import numpy as np
import pytest
import torch

from humo_lite.eval.judge import Judge, default_judge_dir, face_boxes, judge_specs, load_judge, train_judge


def test_shipped_judge_meets_its_validation_numbers():
    folder = default_judge_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("command", "seed", "wall_time_s", "machine", "validation"):
        assert key in manifest, key
    assert manifest["command"].startswith("humo-lite train judge")
    v = manifest["validation"]
    assert all(acc >= 0.98 for acc in v["attribute_accuracy"].values()), v["attribute_accuracy"]
    assert v["retrieval_identities"] >= 50 and v["retrieval_top1_clip"] >= 0.95, v
    assert v["mouth_r2"] >= 0.9 and v["offset_recovery"] >= 0.95, v
    assert v["train_wall_s"] <= 600
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 2_000_000, f"shipped judge is {size} bytes"


def test_judge_reads_any_frame_size_and_clip_length():
    judge = load_judge()
    for size, frames in ((16, 9), (32, 17), (48, 5)):
        out = judge.judge_video(torch.rand(2, frames, 3, size, size))
        assert out["mouth"].shape == (2, frames) and out["box"].shape == (2, frames, 4)
        assert out["embedding"].shape == (2, frames, judge.config.embed_dim)
        assert torch.allclose(out["embedding"].norm(dim=-1), torch.ones(2, frames), atol=1e-4)
        assert out["scene_motion"].shape == (2, 3)


def test_judge_specs_split_identities_and_speech():
    train, held = judge_specs(40, "train"), judge_specs(40, "heldout")
    assert not {s.identity for s in train} & {s.identity for s in held}
    assert all(s.speech.seed >= 2**31 for s in held if s.speech.kind == "synth")
    assert all(s.speech.seed < 2**31 for s in train if s.speech.kind == "synth")
    assert judge_specs(5, "train", seed=3) == judge_specs(5, "train", seed=3)


def test_face_boxes_from_masks():
    yy, xx = np.mgrid[0:32, 0:32] + 0.5
    mask = np.zeros((2, 32, 32), bool)
    mask[0] = ((xx - 12) / 6) ** 2 + ((yy - 16) / 8) ** 2 <= 1  # an ellipse centred (12, 16), semi-axes 6, 8
    boxes = face_boxes(mask) * 32
    assert np.allclose(boxes[0], [6, 8, 18, 24], atol=0.6), boxes[0]
    assert np.allclose(boxes[1], 0)  # no face: a zero box


def test_train_judge_writes_a_loadable_checkpoint_atomically(tmp_path):
    out = tmp_path / "judge"
    numbers = train_judge(
        "humo-nano", out, seed=0, steps=2, num_train_clips=12, num_val_clips=8, motion_steps=2, progress=False
    )
    assert {"attribute_accuracy", "mouth_r2", "ceiling", "train_wall_s"} <= set(numbers)
    judge = Judge.from_pretrained(out)
    assert judge.manifest["seed"] == 0 and judge.real_stats["mu"].shape == (judge.config.channels[0],)
    with pytest.raises(FileExistsError):  # never overwrites silently, and says so before any work
        train_judge("humo-nano", out, steps=1, num_train_clips=4, num_val_clips=4, motion_steps=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["judge"]  # nothing half-written beside it
    with pytest.raises(FileNotFoundError, match="train one"):
        Judge.from_pretrained(tmp_path / "missing")


def test_cli_train_judge_calls_train_judge(monkeypatch, tmp_path):
    import humo_lite.eval.judge as judge_module
    from humo_lite.cli import main

    seen = {}

    def fake(preset, out, seed=0, steps=None):
        seen.update(preset=preset, out=out, seed=seed, steps=steps)
        return {"mouth_r2": 1.0}

    monkeypatch.setattr(judge_module, "train_judge", fake)
    assert (
        main(
            [
                "train",
                "judge",
                "--preset",
                "humo-nano",
                "--out",
                str(tmp_path / "j"),
                "--seed",
                "3",
                "--steps",
                "5",
            ]
        )
        == 0
    )
    assert seen == {"preset": "humo-nano", "out": str(tmp_path / "j"), "seed": 3, "steps": 5}

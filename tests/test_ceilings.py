"""The reconstruction ceiling: what the VAE lets through, stored with it and shown by evaluate()."""

import json

import numpy as np
import pytest

from humo_lite.eval import load_judge
from humo_lite.eval.ceilings import load_reconstruction_ceiling, reconstruction_ceiling, write_reconstruction_ceiling
from humo_lite.eval.metrics import evaluate
from humo_lite.models.vae import load_vae
from humo_lite.shipped import data_samples_dir

MICRO = data_samples_dir() / "checkpoints" / "humo-micro"
MOUTH_BATCH = 48  # a fixed batch of held-out clips (the judge's validation set, first 48)


def mean_frame(video: np.ndarray) -> np.ndarray:
    """A "VAE" that keeps no motion: every frame is the clip's mean frame."""
    frames = video.astype(np.float32) / 255
    return np.broadcast_to(frames.mean(1, keepdims=True), frames.shape).copy()


def sync_c_ratio(result: dict) -> float:
    return result["metrics"]["Sync-C-lite"] / result["real"]["Sync-C-lite"]


@pytest.fixture(scope="module")
def judge():
    return load_judge()


@pytest.fixture(scope="module")
def shipped(judge):
    return reconstruction_ceiling(load_vae(MICRO / "vae"), judge, num_clips=MOUTH_BATCH)


def test_shipped_vae_keeps_the_mouth(shipped):
    """Fails if a future VAE loses the mouth's motion again, as the first framing's did (Sync-C ratio 0.48).

    Sync-C: the target of ``docs/design.md`` §6, 0.8 of real frames' (the shipped VAE: 0.87 on these 48
    clips). Sync-D: a guard at 2.5x real's (the shipped VAE: 2.1x); the target, 1.5x, is not met (§6).
    """
    assert sync_c_ratio(shipped) >= 0.8, shipped
    assert shipped["metrics"]["Sync-D-lite"] <= 2.5 * shipped["real"]["Sync-D-lite"], shipped
    assert shipped["metrics"]["Sync-|offset|"] <= 0.5, shipped


def test_a_motionless_reconstruction_fails_the_mouth_check(judge, shipped):
    """The case the check above exists for: frames frozen at the clip's mean lose lip sync entirely."""
    frozen = reconstruction_ceiling(mean_frame, judge, num_clips=MOUTH_BATCH)
    assert frozen["real"] == shipped["real"]  # the same real clips
    assert sync_c_ratio(frozen) < 0.5


def test_stored_ceiling_is_the_shipped_vae_s(shipped):
    """The manifest's numbers are of this VAE and these clips: on the first 48 clips they agree closely."""
    stored = json.loads((MICRO / "vae" / "manifest.json").read_text())["reconstruction_ceiling"]
    assert stored["num_clips"] == 240 and set(stored["metrics"]) == set(shipped["metrics"])
    assert load_reconstruction_ceiling(MICRO) == stored["metrics"] == load_reconstruction_ceiling(MICRO / "vae")
    assert abs(stored["metrics"]["TVA-lite"] - shipped["metrics"]["TVA-lite"]) < 0.1


def test_evaluate_shows_both_ceilings(judge):
    from humo_lite.eval.judge_data import judge_specs, render_set
    from humo_lite.presets import get_preset

    real = render_set(judge_specs(4, "heldout", seed=5), get_preset("humo-micro").world)
    recon = {"TVA-lite": 0.5, "Sync-C-lite": 0.2}
    table = evaluate(real["video"], real["captions"], judge=judge, reconstruction=recon, frechet_ceiling=False)
    row = {r["metric"]: r for r in table.rows}
    assert row["TVA-lite"]["recon_ratio"] == pytest.approx(table["TVA-lite"] / 0.5)
    assert row["TVA-lite"]["recon_ratio"] > 1.5  # real clips (~1.0) over a 0.5 ceiling; the ratio upside down: < 1
    assert row["Quality-lite"]["recon_ceiling"] is None and row["Quality-lite"]["recon_ratio"] is None
    assert "recon" in repr(table) and "recon ceiling" in table._repr_html_()
    plain = evaluate(real["video"], real["captions"], judge=judge, frechet_ceiling=False)
    assert all(r["recon_ceiling"] is None for r in plain.rows)


def test_load_reconstruction_ceiling_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no VAE manifest"):
        load_reconstruction_ceiling(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "vae"}))
    with pytest.raises(ValueError, match="write_reconstruction_ceiling"):
        load_reconstruction_ceiling(tmp_path)
    with pytest.raises(FileNotFoundError, match="has no manifest.json"):
        write_reconstruction_ceiling(tmp_path / "missing")

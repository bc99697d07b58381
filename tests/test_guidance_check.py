"""Chapter 07's measurement (``humo_lite.eval.guidance_check`` and ``scripts/stage2_guidance_schedules.py``): the
rows are the schedules they say, A and B are chosen on the validation pool by the stated rules, ratios are over
the reconstruction ceiling, and the results file resumes, merges and drops another checkpoint's entries."""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from humo_lite.eval import guidance_check
from humo_lite.eval.guidance_check import (
    MODE_METRICS,
    STATIC_A_CANDIDATES,
    STATIC_B_CANDIDATES,
    ratio_summary,
    schedule_rows,
)
from humo_lite.guidance import (
    MODES,
    PAPER_SWITCH_SIGMA,
    PRESETS,
    TALKING_EARLY,
    TALKING_LATE,
    default_schedule,
    eq4,
    humo_lite_schedule,
    talking_schedule,
)

ROOT = Path(__file__).resolve().parents[1]
A, B = (7.5, 3.0, 1.0), (3.0, 5.0, 5.5)


def _script():
    spec = importlib.util.spec_from_file_location("stage2_guidance_schedules",
                                                  ROOT / "scripts" / "stage2_guidance_schedules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rows_are_the_schedules_they_name():
    rows = schedule_rows(A, B)
    mode, adaptive = rows["adaptive (paper)"]
    assert mode == "TIA" and adaptive.phase_at(0.99).chain == eq4(*A) and adaptive.phase_at(0.5).chain == eq4(*B)
    assert adaptive.phase_at(PAPER_SWITCH_SIGMA).chain == eq4(*B)  # the switch σ itself is the late phase's
    assert rows["static A"][1].phase_at(0.1).chain == eq4(*A) and rows["static B"][1].phase_at(0.999).chain == eq4(*B)
    assert rows["released 17B"][1] is PRESETS["humo-17b"] and rows["released 1.7B"][1] is PRESETS["humo-1.7b"]
    assert rows["switch at 0.9"][1].phase_at(0.95).chain == eq4(*A) != rows["switch at 0.9"][1].phase_at(0.85).chain
    assert {m for m, _ in rows.values()} == set(MODE_METRICS) and rows["TA, default guidance"] == ("TA", None)
    assert all(c[2] == 1.0 for c in STATIC_A_CANDIDATES.values())  # A: audio given, not amplified
    least_text_in_a = min(a[0] for a in STATIC_A_CANDIDATES.values())
    assert all(b[2] > 1 and b[0] < least_text_in_a for b in STATIC_B_CANDIDATES.values())  # B: audio up, text down


def test_ratios_are_over_the_reconstruction_ceiling_with_the_seeds_spread():
    recon = {"tva_lite": 0.8, "id_lite": 0.5, "sync_c": 0.2, "sync_d": 2.0}
    rows = [{"tva_lite": 0.4, "id_lite": 0.5, "sync_c": 0.1, "sync_d": 3.0},
            {"tva_lite": 0.8, "id_lite": 0.25, "sync_c": 0.3, "sync_d": 1.0}]
    out = ratio_summary(rows, "TIA", recon)
    assert out["TVA-lite"] == {"mean": pytest.approx(0.75), "std": pytest.approx(0.25), "seeds": 2}
    assert out["ID-lite"]["mean"] == pytest.approx(0.75) and out["Sync-C-lite"]["mean"] == pytest.approx(1.0)
    assert out["Sync-D-lite"]["std"] == pytest.approx(0.5)
    assert set(ratio_summary(rows, "TA", recon)) == {"TVA-lite", "Sync-C-lite", "Sync-D-lite"}  # no reference
    assert set(ratio_summary(rows, "TI", recon)) == {"TVA-lite", "ID-lite"}  # no audio


def test_the_script_chooses_on_validation_resumes_and_merges(tmp_path, monkeypatch):
    script = _script()
    first = tmp_path / "a.json"
    argv = ["--preset", "humo-nano", "--clips", "2", "--seeds", "0", "--val-clips", "2", "--steps", "2",
            "--rows", "static A", "TA, default guidance", "--results", str(first)]
    assert script.main(argv) == 0
    results = json.loads(first.read_text())
    manifest = json.loads((ROOT / "data_samples/checkpoints/humo-nano-stage2/manifest.json").read_text())
    weights = "transformer/diffusion_pytorch_model.safetensors"
    assert results["setup"]["checkpoint_sha256"] == manifest["sha256"][weights]
    validation = results["validation"]
    assert validation["pool"] == "validation" and results["setup"]["pool"] == "heldout_voice"
    a_rows = {n: validation["candidates"][n] for n in STATIC_A_CANDIDATES}
    assert validation["chosen"]["A"] == max(a_rows, key=lambda n: (a_rows[n]["tva_lite"], a_rows[n]["id_lite"]))
    b_rows = {n: validation["candidates"][n]["b_score"] for n in STATIC_B_CANDIDATES}
    assert validation["chosen"]["B"] == max(b_rows, key=b_rows.get)
    default = validation["default"]  # the TIA default, chosen on the same pool by B's rule
    scores = {n: c["score"] for n, c in default["candidates"].items()}
    assert set(scores) == {"one scale throughout", "A then B"} and default["chosen"] == max(scores, key=scores.get)
    recon = validation["ceilings"]["reconstruction"]  # the ceilings A and B were chosen against
    for candidate in default["candidates"].values():
        assert candidate["score"] == pytest.approx(np.mean([guidance_check._b_score(r, recon)
                                                            for r in candidate["per_seed"]]))
    assert set(results["summary"]) == {"static A", "TA, default guidance"} and results["wall_time_s"] > 0
    assert "ID-lite" not in results["summary"]["TA, default guidance"]["ratios"]
    assert "σ ∈ [0, 1]" in results["rows"]["static A"]["formula"]

    def no_scoring(*args, **kwargs):
        raise AssertionError("a finished (row, seed) was scored again")

    monkeypatch.setattr(guidance_check, "score_row", no_scoring)
    monkeypatch.setattr(guidance_check, "choose_static", no_scoring)
    monkeypatch.setattr(guidance_check, "choose_default", no_scoring)
    assert script.main(argv) == 0  # resumed: nothing scored again

    second = tmp_path / "b.json"
    other = json.loads(first.read_text())
    other["rows"]["static A"]["per_seed"]["1"] = dict(other["rows"]["static A"]["per_seed"]["0"], sync_c=0.0)
    second.write_text(json.dumps(other))
    merged = tmp_path / "c.json"
    shutil.copy(first, merged)
    base = ["--preset", "humo-nano", "--clips", "2", "--val-clips", "2", "--steps", "2", "--results", str(merged)]
    assert script.main([*base, "--seeds", "0", "1", "--merge", str(second)]) == 0
    joined = json.loads(merged.read_text())
    assert set(joined["rows"]["static A"]["per_seed"]) == {"0", "1"} and "static A" in joined["summary"]
    assert joined["summary"]["static A"]["ratios"]["Sync-C-lite"]["std"] > 0
    assert "TA, default guidance" not in joined["summary"]  # scored for seed 0 only
    shared = joined["validation"]["wall_s"] + joined["validation"]["default"]["wall_s"] + joined["ceilings"]["wall_s"]
    assert shared > 0  # in both files, counted once
    assert joined["wall_time_s"] == pytest.approx(results["wall_time_s"] + other["rows"]["static A"]["per_seed"]["1"][
        "wall_s"], abs=0.2) and shared > 0

    other["setup"]["checkpoint_sha256"] = "0" * 64
    second.write_text(json.dumps(other))
    with pytest.raises(ValueError, match="cannot merge results of another setup"):
        script.main([*base, "--seeds", "0", "--merge", str(second)])
    fresh = script.load_results(second, json.loads(first.read_text())["setup"])  # another checkpoint: dropped
    assert fresh["rows"] == {} and "validation" not in fresh


def test_the_default_in_tia_mode_is_what_the_validation_pool_chose():
    """The talking schedule's scales are chapter 07's A and B, and on the validation pool it beat one set of scales
    throughout (the shipped results file; rerunning the script with another outcome fails this)."""
    results = json.loads((ROOT / "data_samples/ablations/stage2_guidance_schedules.json").read_text())
    validation = results["validation"]
    assert tuple(validation["candidates"][validation["chosen"]["A"]]["scales"]) == TALKING_EARLY
    assert tuple(validation["candidates"][validation["chosen"]["B"]]["scales"]) == TALKING_LATE
    default = validation["default"]
    assert default["pool"] == "validation" and len(default["seeds"]) >= 3
    assert default["chosen"] == "A then B" and default["candidates"]["A then B"]["formula"] == str(talking_schedule())
    assert default["candidates"]["one scale throughout"]["formula"] == str(humo_lite_schedule())
    assert default_schedule().for_mode(MODES["TIA"]) == talking_schedule()
    tia = results["rows"]["TIA, default guidance"]
    assert tia["formula"].endswith(talking_schedule().formula("TIA"))  # the row was scored with today's default


def test_the_script_refuses_unknown_rows(capsys):
    with pytest.raises(SystemExit):
        _script().main(["--rows", "static C"])
    assert "unknown rows ['static C']" in capsys.readouterr().err


def test_every_ratio_metric_is_a_key_the_scorer_writes():
    from humo_lite.eval.guidance_check import RATIO_METRICS

    row = {"tva_lite": 1.0, "id_lite": 1.0, "sync_c": 1.0, "sync_d": 1.0}
    assert set(RATIO_METRICS.values()) == set(row)
    assert np.isclose(ratio_summary([row], "TIA", row)["Sync-D-lite"]["mean"], 1.0)

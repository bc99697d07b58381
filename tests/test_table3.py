"""The toy's Table 3 (chapter 08, part 2): variants against HuMo's recipe, paired by seed, beside the paper."""

import json

import pytest

from humo_lite.table3 import PAPER, compare, default_folder, toy_table3, verdict


def test_compare_pairs_seeds_and_verdict_reads_the_papers_direction():
    worse = compare([0.70, 0.60, 0.65], [0.75, 0.66, 0.70])  # each seed a little worse, the seeds spread widely
    assert worse["difference"] == pytest.approx(-0.0533, abs=1e-3) and worse["p_value"] < 0.01  # paired: significant
    assert verdict(worse, -0.05) == "reproduces"
    assert verdict(worse, +0.05) == "opposite direction"
    noisy = compare([0.70, 0.80, 0.60], [0.72, 0.70, 0.70])
    assert verdict(noisy, -0.05) in ("same direction, not significant", "opposite direction, not significant")
    assert verdict(compare([0.5, 0.6], [0.5, 0.6]), -0.05) == "no difference in the toy"
    rounding = compare([95 / 96] * 3, [189 / 192, 95 / 96, 191 / 192])  # share of clips: sums to 0 only up to rounding
    assert rounding["difference"] != 0
    assert verdict(rounding, -1) == "no difference in the toy"
    assert verdict(worse, 0.0) == "the paper shows no difference"
    with pytest.raises(ValueError, match="same seeds"):
        compare([0.1, 0.2, 0.3], [0.1, 0.2])


def _stage2_run(sync, id_lite, tva=1.0):
    ceilings = {"reconstruction": {"sync_c": 0.2}, "real": {"sync_c": 0.25}}
    return {"check": {"mean": {"sync_c": sync, "id_lite": id_lite, "tva_lite": tva}, "ceilings": ceilings}}


def test_toy_table3_reads_the_results_files(tmp_path):
    humo = {"ID-lite": {"values": [0.75, 0.76, 0.77]}, "TVA-lite (TI)": {"values": [0.96] * 3}}
    full = {"ID-lite": {"values": [0.80, 0.81, 0.83]}, "TVA-lite (TI)": {"values": [0.99, 1.0, 0.99]}}
    stage1 = {"summary": {"self-attention only (HuMo)": humo, "full fine-tuning": full}}
    runs = {"progressive, focus (HuMo)": {str(s): _stage2_run(0.16 + 0.01 * s, 0.70) for s in range(3)},
            "progressive, no focus": {str(s): _stage2_run(0.15 + 0.01 * s, 0.70) for s in range(3)},
            "joint, focus": {str(s): _stage2_run(0.16 + 0.01 * s, 0.65 + 0.001 * s) for s in range(3)}}
    (tmp_path / "stage1.json").write_text(json.dumps(stage1))
    (tmp_path / "stage2.json").write_text(json.dumps({"runs": runs}))
    table = toy_table3(tmp_path)
    assert set(table) == {"full fine-tuning", "without progressive training", "without focus-by-predicting"}
    focus = table["without focus-by-predicting"]["Sync-C-lite"]
    assert focus["difference"] == pytest.approx(-0.01) and focus["verdict"] == "same direction, not significant"
    assert table["without focus-by-predicting"]["Sync-C-lite / recon"]["variant"][0] == pytest.approx(0.75)  # 0.15/0.2
    assert table["without progressive training"]["ID-lite"]["verdict"] == "reproduces"  # lower ID, every seed
    assert table["full fine-tuning"]["TVA-lite"]["verdict"].startswith("opposite")  # the paper: lower TVA
    assert table["full fine-tuning"]["TVA-lite"]["paper_relative"] == pytest.approx(
        PAPER["full fine-tuning"]["TVA"] / PAPER["HuMo-17B"]["TVA"] - 1)
    with pytest.raises(FileNotFoundError, match="no ablation results"):
        toy_table3(tmp_path / "empty")


def _guidance_row(tva, id_lite, sync):
    return {"per_seed": {str(s): {"tva_lite": tva[s], "id_lite": id_lite[s], "sync_c": sync[s]} for s in range(3)}}


def test_toy_table3_static_guidance_carries_the_papers_direction_without_a_number(tmp_path):
    rows = {"adaptive (paper)": _guidance_row([0.98, 0.99, 1.0], [0.75, 0.76, 0.77], [0.16, 0.16, 0.15]),
            "static A": _guidance_row([1.0, 1.0, 1.0], [0.70, 0.71, 0.73], [0.10, 0.10, 0.09]),
            "static B": _guidance_row([0.99, 0.99, 0.99], [0.75, 0.76, 0.77], [0.16, 0.16, 0.16])}
    results = {"rows": rows, "ceilings": {"reconstruction": {"sync_c": 0.2}, "real": {"sync_c": 0.25}}}
    (tmp_path / "stage2_guidance_schedules.json").write_text(json.dumps(results))
    table = toy_table3(tmp_path)
    assert set(table) == {"static guidance, weights A", "static guidance, weights B"}
    a, b = table["static guidance, weights A"], table["static guidance, weights B"]
    assert a["ID-lite"]["verdict"] == "reproduces" and a["ID-lite"]["paper_direction"] == -1  # A loses identity
    assert "paper_relative" not in a["ID-lite"] and "verdict" not in a["TVA-lite"]  # Fig. 4 names ID only for A
    assert b["TVA-lite"]["verdict"] == "no difference in the toy"  # B's text adherence: unchanged here
    assert a["Sync-C-lite / recon"]["variant"][0] == pytest.approx(0.5)  # 0.10 / 0.2


def test_table3_defaults_to_what_reproduce_ablations_shipped(tmp_path, monkeypatch):
    monkeypatch.setenv("HUMO_LITE_DATA_SAMPLES", str(tmp_path))
    assert default_folder() == tmp_path / "ablations"  # nothing reproduced: the chapter scripts' files
    rows = {name: _guidance_row([1.0] * 3, [0.7, 0.71, 0.72], [0.1] * 3) for name in ("adaptive (paper)", "static A")}
    shipped = tmp_path / "results" / "ablations-humo-micro"
    shipped.mkdir(parents=True)
    results = {"rows": rows, "ceilings": {"reconstruction": {"sync_c": 0.2}, "real": {"sync_c": 0.25}}}
    (shipped / "stage2_guidance_schedules.json").write_text(json.dumps(results))
    assert default_folder() == shipped and set(toy_table3()) == {"static guidance, weights A"}

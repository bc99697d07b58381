"""Is a reproduced number back? Each stage's key number against the spread of its recipe's training seeds
(``humo_lite.reproduce_spread``), and ``reproduce --seed/--until`` that measures another seed. No training here: the
reproductions are folders of hand-written manifests."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from humo_lite.io import read_json, write_json
from humo_lite.reproduce import (
    STAGES,
    Limits,
    key_number,
    plan,
    recorded_manifest,
    reproduce,
    result_folder,
    ship_results,
)
from humo_lite.reproduce_spread import RESCORED_FILE, is_back, seed_values, spread_rows, stage_numbers, write_record

SHIPPED = {stage: key_number(recorded_manifest("humo-micro", stage), stage, None) for stage in STAGES}


def fake_run(folder, numbers: dict, seed=None):
    """A finished reproduction of ``humo-micro`` in ``folder`` whose stages' key numbers are ``numbers``."""
    paths = {"judge": ("validation", "attribute_accuracy_mean"), "vae": ("metrics", "psnr_db"),
             "stage0": ("metrics", "judge", "tva_lite"), "stage1": ("metrics", "TI", "id_lite"),
             "stage2": ("metrics", "summary", "sync_c_over_reconstruction")}
    stages = {}
    for stage, value in numbers.items():
        manifest = value
        for key in reversed(paths[stage]):
            manifest = {key: manifest}
        extra = {"reconstruction_ceiling": {}} if stage == "vae" else {}  # measured: nothing to finish
        write_json(result_folder(folder, stage) / "manifest.json", manifest | extra | {"wall_time_s": 1.0})
        stages[stage] = {"status": "done", "wall_time_s": 1.0, "reproduces": "/somewhere/absolute"}
    state = {"preset": "humo-micro", "out": str(folder), "limits": asdict(Limits()), "seed": seed,
             "command": "humo-lite reproduce (test)", "stages": stages, "wall_time_s_this_run": 5.0}
    write_json(folder / "reproduce.json", state)
    return state


def test_back_means_no_further_from_the_shipped_number_than_seeds_are_from_each_other():
    seeds = {0: 0.754, 1: 0.760, 2: 0.764}  # range 0.010
    assert is_back(0.760, 0.754, seeds) is True
    assert is_back(0.744, 0.754, seeds) is True  # below as well as above
    assert is_back(0.743, 0.754, seeds) is False
    assert is_back(0.754, 0.754, {0: 0.754}) is None  # one seed: no spread measured, no verdict


def test_the_shipped_records_give_stage_1_three_seeds_and_stage_2_two():
    stage1 = seed_values("humo-micro", "stage1")
    assert list(stage1) == ["seed 0, shipped", "seed 1, stage 1 only", "seed 2, stage 1 only"]
    assert stage1["seed 0, shipped"] == SHIPPED["stage1"]  # the shipped checkpoint's own, not chapter 03's copy
    stage2 = seed_values("humo-micro", "stage2")
    assert list(stage2) == ["seed 0, shipped", "seed 1, stage 2 only"]
    assert stage2["seed 1, stage 2 only"] != stage2["seed 0, shipped"] == SHIPPED["stage2"]
    assert seed_values("humo-micro", "vae") == {"seed 0, shipped": SHIPPED["vae"]}
    assert seed_values("humo-nano", "stage2") == {
        "seed 0, shipped": key_number(recorded_manifest("humo-nano", "stage2"), "stage2", None)}


def test_a_run_with_another_seed_joins_the_spread_and_a_run_without_one_is_refused(tmp_path):
    fake_run(tmp_path / "seed1", {"judge": 0.99, "vae": SHIPPED["vae"] - 0.4, "stage1": 0.5}, seed=1)
    assert seed_values("humo-micro", "vae", [tmp_path / "seed1"]) == {"seed 0, shipped": SHIPPED["vae"],
                                                                      "seed 1, whole chain": SHIPPED["vae"] - 0.4}
    assert seed_values("humo-micro", "stage0", [tmp_path / "seed1"]) == {"seed 0, shipped": SHIPPED["stage0"]}
    # a whole chain of seed 1 and chapter 03's stage 1 of seed 1 are two trainings: both count
    stage1 = seed_values("humo-micro", "stage1", [tmp_path / "seed1"])
    assert stage1["seed 1, whole chain"] == 0.5 and stage1["seed 1, stage 1 only"] != 0.5 and len(stage1) == 4
    write_json(result_folder(tmp_path / "seed1", "stage1").parent / RESCORED_FILE, {"key_number": 0.6})
    assert seed_values("humo-micro", "stage1", [tmp_path / "seed1"])["seed 1, whole chain"] == 0.6  # shipped judge's
    fake_run(tmp_path / "recorded", {"judge": 0.99})
    with pytest.raises(ValueError, match="is not a reproduction of humo-micro with --seed"):
        seed_values("humo-micro", "judge", [tmp_path / "recorded"])


def test_spread_rows_give_each_stage_its_verdict_and_the_record_keeps_them(tmp_path):
    fake_run(tmp_path / "seed1", {"judge": SHIPPED["judge"] - 0.01, "vae": SHIPPED["vae"] - 0.4}, seed=1)
    state = fake_run(tmp_path / "run", {"judge": SHIPPED["judge"], "vae": SHIPPED["vae"] + 0.5,
                                        "stage0": SHIPPED["stage0"], "stage1": SHIPPED["stage1"] + 0.005,
                                        "stage2": SHIPPED["stage2"] + 0.05})
    rows = {r["stage"]: r for r in spread_rows(state, [tmp_path / "seed1"])}
    assert rows["judge"]["back"] == "yes" and rows["vae"]["back"] == "no"  # 0.5 dB away, seeds 0.4 apart
    assert rows["stage0"]["back"] == "no other seed" and rows["stage0"]["seed range"] == "—"
    assert rows["stage1"]["back"] == "yes" and rows["stage2"]["back"] == "no"
    assert rows["vae"]["seed range"] == pytest.approx(0.4, abs=1e-4)
    path = write_record(state, tmp_path / "results" / "reproduce-humo-micro.json", [tmp_path / "seed1"])
    record = read_json(path)
    assert [r["back"] for r in record["rows"]] == ["yes", "no", "no other seed", "yes", "no"]
    assert "reproduces" not in record["stages"]["judge"]  # no machine's absolute paths in a shipped record
    assert record["spread_runs"] == [str(tmp_path / "seed1")] and record["wall_time_s"] == 5.0  # 5 stages, 1 s each
    assert record["any_stage_resumed"] is False


def test_another_seed_changes_every_training_seed_and_nothing_else():
    recorded, seeded = plan("humo-nano"), plan("humo-nano", seed=7, until="stage1")
    assert list(seeded) == ["judge", "vae", "stage0", "stage1"]
    assert seeded["judge"]["seed"] == 7 and seeded["vae"]["config"].seed == 7
    for stage in ("stage0", "stage1"):
        assert seeded[stage]["config"].train.seed == 7 != recorded[stage]["config"].train.seed
        assert seeded[stage]["config"].eval_clips == recorded[stage]["config"].eval_clips
    assert asdict(seeded["vae"]["config"]) | {"seed": 0} == asdict(recorded["vae"]["config"])
    with pytest.raises(ValueError, match="until must be one of judge, vae, stage0, stage1, stage2, got 'stage3'"):
        plan("humo-nano", until="stage3")


def test_a_folder_of_another_seed_is_not_resumed_and_a_seeded_run_does_not_ship(tmp_path, cli_status, capsys):
    write_json(tmp_path / "r" / "reproduce.json", {"preset": "humo-nano", "limits": asdict(Limits()), "seed": None,
                                                   "stages": {}})
    with pytest.raises(ValueError, match=r"seed None \(None: the recorded ones\).*same --preset, caps and --seed"):
        reproduce("humo-nano", tmp_path / "r", seed=1, progress=False)
    assert cli_status(["reproduce", "--preset", "humo-nano", "--seed", "1", "--ship", "--out",
                       str(tmp_path / "s")]) == 2
    assert "--ship ships a whole reproduction with the recorded seeds" in capsys.readouterr().err
    assert cli_status(["reproduce", "--until", "stage9", "--out", str(tmp_path / "s")]) == 2
    assert "invalid choice: 'stage9'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    fake_run(tmp_path / "seeded", {}, seed=1)
    with pytest.raises(ValueError, match="was trained with --seed: another seed measures the spread, it does not"):
        ship_results(tmp_path / "seeded", "humo-micro", dest=tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_the_command_line_names_the_stages_reproduce_runs():
    from humo_lite.cli import REPRODUCE_STAGES

    assert REPRODUCE_STAGES == STAGES


def test_the_command_prints_the_verdicts_and_writes_the_record_it_is_asked_for(tmp_path, capsys):
    from humo_lite.cli import main

    fake_run(tmp_path / "seed1", {"judge": SHIPPED["judge"] - 0.01}, seed=1)
    fake_run(tmp_path / "run", {"judge": SHIPPED["judge"], "vae": SHIPPED["vae"], "stage0": SHIPPED["stage0"],
                                "stage1": SHIPPED["stage1"] + 0.02, "stage2": SHIPPED["stage2"]})
    record = tmp_path / "record.json"
    assert main(["reproduce", "--out", str(tmp_path / "run"), "--spread", str(tmp_path / "seed1"),
                 "--record", str(record)]) == 0
    printed = capsys.readouterr().out
    assert "[1/5] judge: done before, kept" in printed and "every stage up to stage2 done" in printed
    assert "no other seed" in printed and f"wrote {record}" in printed
    rows = {r["stage"]: r["back"] for r in read_json(record)["rows"]}
    assert rows == {"judge": "yes", "vae": "no other seed", "stage0": "no other seed", "stage1": "no",
                    "stage2": "yes"}


def test_same_judge_scores_the_run_and_every_spread_run_again(tmp_path, monkeypatch, capsys):
    """``--same-judge`` reads the other seeds' chains with the shipped judge too: their stage 0-2 numbers came from
    the judge each chain rebuilt."""
    import humo_lite.reproduce_spread as spread
    from humo_lite.cli import main

    fake_run(tmp_path / "seed1", {"judge": SHIPPED["judge"] - 0.01}, seed=1)
    fake_run(tmp_path / "run", dict(SHIPPED))
    scored = []

    def rescore(folder, stage):
        scored.append((str(folder), stage))
        return 0.5 if stage == "stage1" else None

    monkeypatch.setattr(spread, "rescore_with_shipped_judge", rescore)
    assert main(["reproduce", "--out", str(tmp_path / "run"), "--spread", str(tmp_path / "seed1"),
                 "--same-judge"]) == 0
    assert scored == [(str(tmp_path / folder), stage) for folder in ("run", "seed1") for stage in spread.JUDGED_STAGES]
    printed = capsys.readouterr().out
    assert f"{tmp_path / 'seed1'} stage1: scored again with the shipped judge: 0.5" in printed
    assert "stage0: scored again" not in printed  # nothing to score is not reported as a score


def test_back_reads_the_shipped_judges_score_when_the_rebuilt_stage_was_scored_again(tmp_path):
    """Its own judge read the rebuilt stage 1 outside the seed range; the shipped judge, the seeds' ruler, inside."""
    state = fake_run(tmp_path / "run", {"stage1": SHIPPED["stage1"] + 0.03, "vae": SHIPPED["vae"]})
    assert stage_numbers(state, "stage1")["back"] is False
    write_json(result_folder(tmp_path / "run", "stage1").parent / RESCORED_FILE,
               {"key_number": SHIPPED["stage1"] + 0.001})
    numbers = stage_numbers(state, "stage1")
    assert numbers["back"] is True and numbers["reproduced"] == pytest.approx(SHIPPED["stage1"] + 0.03)
    assert numbers["reproduced_shipped_judge"] == pytest.approx(SHIPPED["stage1"] + 0.001)
    write_json(result_folder(tmp_path / "run", "vae").parent / RESCORED_FILE, {"key_number": 0.0})
    assert stage_numbers(state, "vae")["reproduced_shipped_judge"] is None  # no judge reads the VAE's PSNR


def test_the_plot_draws_a_band_only_where_seeds_were_measured(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from humo_lite.viz.ablations import plot_reproduction

    state = fake_run(tmp_path / "run", {"judge": SHIPPED["judge"], "vae": SHIPPED["vae"], "stage0": SHIPPED["stage0"],
                                        "stage1": SHIPPED["stage1"], "stage2": SHIPPED["stage2"]})
    numbers = read_json(write_record(state, tmp_path / "record.json"))["numbers"]  # as the chapter reads it (JSON)
    fig = plot_reproduction(numbers, {stage: "its key number" for stage in STAGES})  # the panels' order
    bands = [len(ax.patches) for ax in fig.axes]
    assert bands == [0, 0, 0, 1, 1], bands  # stage 1 and stage 2 have other seeds' records
    fake_run(tmp_path / "seed1", {"judge": 0.99, "vae": SHIPPED["vae"] - 0.4}, seed=1)
    numbers = read_json(write_record(state, tmp_path / "record.json", [tmp_path / "seed1"]))["numbers"]
    fig = plot_reproduction(numbers, {"vae": "PSNR", "stage1": "ID-lite"})
    markers = [[line.get_marker() for line in ax.lines] for ax in fig.axes]
    assert markers[0] == ["o", "s", "x"] and markers[1] == ["o", "o", "o", "x"], markers  # square: a whole chain

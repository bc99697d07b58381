"""``humo-lite reproduce``: every shipped checkpoint rebuilt in order from its recorded recipe, resuming at the stage
a stopped run was in; ``--ship`` ships the results; ``--ablations`` writes one results file.

The runs are ``humo-nano`` with every stage capped at 20 steps and 16 clips (``--max-steps``, ``--max-clips``): the
chain, the manifests, the resume and the shipping are what is checked, not the models' quality.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from humo_lite.eval.judge_training import JudgeTrainConfig
from humo_lite.io import read_json
from humo_lite.recipes import Stage0Config, Stage1Config, Stage2Config
from humo_lite.reproduce import (
    STAGES,
    Limits,
    is_done,
    plan,
    recorded_manifest,
    recorded_recipe,
    result_folder,
    ship_results,
    ship_target,
    summary_rows,
)
from humo_lite.shipped import data_samples_dir
from humo_lite.training.vae_training import VAETrainConfig

CAPS = ["--max-steps", "20", "--max-clips", "16"]
WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def nano_run(tmp_path_factory):
    """One capped ``humo-nano`` reproduction through the command line: (out folder, its stdout)."""
    import contextlib
    import io

    from humo_lite.cli import main

    out = tmp_path_factory.mktemp("reproduce") / "nano"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["reproduce", "--preset", "humo-nano", "--out", str(out), *CAPS])
    assert status == 0, printed.getvalue()
    return out, printed.getvalue()


@pytest.mark.slow
def test_nano_reproduction_rebuilds_the_chain_from_the_recorded_recipes(nano_run):
    out, printed = nano_run
    state = read_json(out / "reproduce.json")
    assert [s for s in STAGES if state["stages"][s]["status"] == "done"] == list(STAGES), state["stages"]
    assert all(is_done(out, stage) for stage in STAGES)
    for line in ("[1/5] judge: training", "[5/5] stage2: done", "Sync-C-lite / recon", "every stage up to stage2 done"):
        assert line in printed, printed
    manifests = {stage: read_json(result_folder(out, stage) / "manifest.json") for stage in STAGES}
    for stage, manifest in manifests.items():
        assert manifest["command"].startswith("humo-lite reproduce --preset humo-nano") and stage in manifest[
            "command"], manifest["command"]
        shipped = recorded_manifest("humo-nano", stage)
        assert manifest["seed"] == shipped["seed"], stage
    # each stage trained from the one before it, not from a shipped folder
    assert Path(manifests["stage1"]["stage0"]).resolve() == result_folder(out, "stage0").resolve()
    assert Path(manifests["stage2"]["stage1"]).resolve() == result_folder(out, "stage1").resolve()
    vae_in_stage0 = read_json(result_folder(out, "stage0") / "vae" / "manifest.json")
    assert vae_in_stage0["wall_time_s"] == manifests["vae"]["wall_time_s"]  # stage 0 carries the VAE it trained on
    # the recorded recipe, capped: the shipped nano settings where no cap applies
    for stage in ("stage0", "stage1", "stage2"):
        recorded, got = recorded_manifest("humo-nano", stage)["config"], manifests[stage]["config"]
        assert got["steps"] == min(20, recorded["steps"]) and got["lr"] == recorded["lr"], stage
        assert got["batch_size"] == recorded["batch_size"], stage
    shipped_task = recorded_manifest("humo-nano", "stage2")["task"]
    for key in ("share_start", "share_end", "text_dropout", "image_dropout", "audio_dropout", "shift"):
        assert manifests["stage2"]["task"][key] == shipped_task[key], key
    assert manifests["stage2"]["metrics"]["summary"]["sync_c_over_reconstruction"] > 0
    assert manifests["judge"]["preset"] == "humo-micro"  # one judge scores every preset, as shipped
    rows = summary_rows(state)  # the table printed at the end: each key number beside the shipped one's
    assert [r["stage"] for r in rows] == list(STAGES) and all(r["reproduced"] is not None for r in rows), rows
    assert all(r["shipped"] is not None for r in rows), rows


@pytest.mark.slow
def test_a_rebuilt_stage_is_scored_again_with_the_shipped_judge_once(nano_run, monkeypatch):
    """``--same-judge``: the rebuilt stage's recorded check, with the shipped judge instead of the rebuilt one; kept
    beside the stage, so asking again runs nothing."""
    from humo_lite import ship
    from humo_lite.reproduce_spread import RESCORED_FILE, rescore_with_shipped_judge

    out, _ = nano_run
    value = rescore_with_shipped_judge(out, "stage0")
    kept = read_json(out / "stage0" / RESCORED_FILE)
    assert value == kept["key_number"] and 0.0 <= value <= 1.0 and kept["metrics"]["num_clips"] == 16
    assert kept["judge_sha256"] == read_json(data_samples_dir() / "checkpoints" / "judge" / "manifest.json")["sha256"]
    monkeypatch.setattr(ship, "rescore", lambda *a, **k: pytest.fail("scored twice"))
    assert rescore_with_shipped_judge(out, "stage0") == value
    assert rescore_with_shipped_judge(out, "vae") is None and rescore_with_shipped_judge(out, "judge") is None


@pytest.mark.slow
def test_a_stopped_run_resumes_at_the_stage_it_was_in(nano_run, tmp_path, monkeypatch, capsys):
    """Stopped half way through stage 1 (Ctrl-C after its checkpoint at step 10): the judge, VAE and stage 0 are
    kept, stage 1 resumes from step 10, and its weights are those of the run that was never stopped."""
    from humo_lite.cli import main
    from humo_lite.training import trainer

    done, _ = nano_run
    out = tmp_path / "nano"
    shutil.copytree(done, out)
    for stage in ("stage1", "stage2"):
        shutil.rmtree(out / stage)
    kept = {stage: (result_folder(out, stage) / "manifest.json").stat().st_mtime_ns for stage in STAGES[:3]}
    save = trainer.Trainer.save_checkpoint

    def save_then_stop(self, folder):
        path = save(self, folder)
        if self.out_dir.name == "stage1" and self.step == 10:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(trainer.Trainer, "save_checkpoint", save_then_stop)
    argv = ["reproduce", "--preset", "humo-nano", "--out", str(out), *CAPS]
    assert main(argv) == 130
    state = read_json(out / "reproduce.json")
    assert state["stages"]["stage1"]["status"] == "running" and not is_done(out, "stage1")
    assert read_json(out / "stage1" / "checkpoint" / "trainer_state.json")["step"] == 10
    monkeypatch.setattr(trainer.Trainer, "save_checkpoint", save)
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr()
    for stage in STAGES[:3]:
        assert f"{stage}: done before, kept" in printed.out
    assert "[4/5] stage1: resuming" in printed.out and "at step 10 of 20" in printed.err, printed
    assert {s: (result_folder(out, s) / "manifest.json").stat().st_mtime_ns for s in STAGES[:3]} == kept
    state = read_json(out / "reproduce.json")
    assert state["stages"]["stage1"]["resumed"] is True and state["stages"]["stage2"]["status"] == "done"
    resumed = read_json(result_folder(out, "stage1") / "manifest.json")["sha256"][WEIGHTS]
    assert resumed == read_json(result_folder(done, "stage1") / "manifest.json")["sha256"][WEIGHTS]


@pytest.mark.slow
def test_ship_writes_float16_checkpoints_checked_again(nano_run, tmp_path, monkeypatch):
    """``--ship``'s logic into a copy of the shipped data: judge, stage 0 (with its VAE), 1 and 2, each loadable,
    float16, re-scored, and saying what shipped it."""
    from humo_lite.pipeline import HuMoLitePipeline

    out, _ = nano_run
    data = tmp_path / "data_samples"
    (data / "checkpoints").mkdir(parents=True)
    (data / "speech_bank").symlink_to(data_samples_dir() / "speech_bank")
    monkeypatch.setenv("HUMO_LITE_DATA_SAMPLES", str(data))
    lines = ship_results(out, "humo-nano", command="humo-lite reproduce --ship (test)")
    assert len(lines) == 4 and (data / "checkpoints" / "judge" / "real_stats.safetensors").is_file()
    for stage in ("stage0", "stage1", "stage2"):
        folder = ship_target(data / "checkpoints", "humo-nano", stage)
        manifest = read_json(folder / "manifest.json")
        assert manifest["stored_dtype"]["transformer"] == "float16" and manifest["shipped_with"].endswith("(test)")
        assert manifest["metrics"] and manifest["metrics_float32"], stage
    stage0 = ship_target(data / "checkpoints", "humo-nano", "stage0")
    assert (stage0 / "vae" / "manifest.json").is_file()
    pipe = HuMoLitePipeline.from_pretrained(ship_target(data / "checkpoints", "humo-nano", "stage2"))
    assert pipe.transformer.dtype.is_floating_point


def test_ship_refuses_an_unfinished_reproduction(tmp_path):
    with pytest.raises(ValueError, match="has not finished judge, vae, stage0, stage1, stage2: run humo-lite "
                                         "reproduce with the same --out"):
        ship_results(tmp_path / "nothing", "humo-nano", dest=tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_the_recipes_are_the_shipped_manifests(monkeypatch):
    """Each stage's recipe is read from its shipped manifest: ``humo-nano``'s recorded settings (not the code's
    ``humo-micro`` defaults), and a setting the code has since changed is reproduced as it was recorded."""
    nano = plan("humo-nano")
    shipped = {stage: recorded_manifest("humo-nano", stage) for stage in STAGES}
    assert asdict(nano["stage1"]["config"].train)["lr"] == shipped["stage1"]["config"]["lr"] != Stage1Config().train.lr
    assert nano["stage0"]["config"].num_clips == shipped["stage0"]["num_clips"] != Stage0Config().num_clips
    assert nano["vae"]["config"].steps == shipped["vae"]["steps"] != VAETrainConfig().steps
    assert nano["stage2"]["config"].num_clips == shipped["stage2"]["num_clips"]["audio"]
    assert nano["stage2"]["config"].eval_clips == shipped["stage2"]["metrics"]["checks"]["TIA"]["num_clips"]
    assert nano["judge"]["config"] == JudgeTrainConfig(**shipped["judge"]["config"])
    assert nano["stage2"]["config"].focus_weight == shipped["stage2"]["task"]["focus_weight"] > 0  # the mask head
    # a manifest written before ``settings`` (the task's keys), and one written before focus-by-predicting
    old = json.loads(json.dumps(shipped["stage2"]))
    del old["settings"]
    old["task"].update(focus_weight=0.5, focus_blocks=1)
    monkeypatch.setattr("humo_lite.reproduce.recorded_manifest", lambda preset, stage: old)
    config = recorded_recipe("humo-nano", "stage2")["config"]
    assert (config.focus_weight, config.focus_blocks, config.num_clips) == (0.5, 1, old["num_clips"]["audio"])
    del old["task"]["focus_weight"], old["task"]["focus_blocks"]
    assert recorded_recipe("humo-nano", "stage2")["config"].focus_weight == 0.0  # no head to rebuild


def test_humo_micro_recipes_are_the_code_defaults():
    """The shipped ``humo-micro`` checkpoints are what the config dataclasses' defaults train (README, recipes)."""
    micro = plan("humo-micro")
    judge = micro["judge"]["config"]
    assert judge == JudgeTrainConfig().for_preset("humo-micro"), judge
    assert micro["vae"]["config"] == VAETrainConfig().for_preset("humo-micro")
    assert micro["stage0"]["config"] == Stage0Config()
    assert micro["stage1"]["config"] == Stage1Config()

    def ramp(config):  # None: two thirds of the steps (a manifest from before ``settings`` records the number)
        steps = 2 * config.train.steps // 3 if config.ramp_steps is None else config.ramp_steps
        return replace(config, ramp_steps=steps)

    assert ramp(micro["stage2"]["config"]) == ramp(Stage2Config()), micro["stage2"]["config"]


def test_caps_apply_everywhere_and_bad_caps_say_what_is_expected():
    capped = plan("humo-nano", Limits(max_steps=20, max_clips=16))
    assert capped["stage2"]["config"].train.steps == 20 and (capped["stage2"]["config"].ramp_steps or 0) <= 20
    assert capped["stage1"]["config"].train.checkpoint_every == 10  # half way: a stopped quick run resumes mid-stage
    assert capped["vae"]["config"].image_steps == 20 and capped["judge"]["config"].motion_steps == 20
    assert capped["stage0"]["config"].num_clips == 16 and capped["judge"]["config"].num_val_clips == 16
    with pytest.raises(ValueError, match=r"max_steps must be a whole number in 20\.\..*one-cycle schedule needs 20"):
        Limits(max_steps=5)
    with pytest.raises(ValueError, match=r"max_clips must be a whole number in 8\.\."):
        Limits(max_clips=2)


def test_the_command_line_rejects_bad_values_before_any_work(tmp_path, cli_status, capsys):
    assert cli_status(["reproduce", "--preset", "humo-nano", "--out", str(tmp_path / "r"), "--max-steps", "5"]) == 2
    assert "expected a whole number >= 20, got 5" in capsys.readouterr().err
    assert cli_status(["reproduce", "--ablations", "--seeds", "0", "--out", str(tmp_path / "r")]) == 2
    assert "expected a whole number in 2..100, got 0" in capsys.readouterr().err
    assert cli_status(["reproduce", "--world-seed", "3", "--out", str(tmp_path / "r")]) == 2
    assert "--world-seed must be 0 for reproduce" in capsys.readouterr().err
    assert cli_status(["reproduce", "--preset", "humo-mini", "--out", str(tmp_path / "r")]) == 2
    assert "humo-mini/vae/manifest.json is missing: reproduce reads each stage's recipe" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_another_preset_in_the_same_folder_is_an_error(tmp_path):
    from humo_lite.io import write_json
    from humo_lite.reproduce import reproduce

    write_json(tmp_path / "reproduce.json", {"preset": "humo-micro", "limits": asdict(Limits()), "stages": {}})
    with pytest.raises(ValueError, match="holds a reproduction of humo-micro.*same --preset, caps and --seed"):
        reproduce("humo-nano", tmp_path, progress=False)
    assert not any(p.name != "reproduce.json" for p in tmp_path.iterdir())


@pytest.mark.slow
def test_ablations_write_one_results_file_with_every_runs_manifest(tmp_path):
    """``--ablations`` at ``humo-nano``, 2 seeds, tiny caps: chapters 03, 05–06 and 07 in one JSON + markdown table,
    each run's manifest named; a second call reads every run back instead of training it."""
    from humo_lite.cli import main

    results = tmp_path / "results" / "ablations-nano.json"
    argv = ["reproduce", "--ablations", "--preset", "humo-nano", "--seeds", "2", "--out", str(tmp_path / "r"),
            "--results", str(results), "--max-steps", "20", "--max-clips", "8"]
    assert main(argv) == 0
    record = read_json(results)
    assert record["seeds"] == [0, 1] and record["settings"]["stage1_steps"] == 20
    ch03, ch56, ch07 = record["chapter 03"], record["chapters 05-06"], record["chapter 07"]
    assert ch03["summary"]["full fine-tuning"]["seeds"] == [0, 1]
    assert ch03["summary"]["reference first"]["seeds"] == [0]  # the first seed only, as chapter 03
    assert set(ch56["summary"]) == {"progressive, focus (HuMo)", "progressive, no focus", "joint, focus"}
    assert ch56["comparisons"]["focus-by-predicting"]["seeds"] == [0, 1]
    assert {"static A", "static B", "adaptive (paper)"} <= set(ch07["summary"])
    for part in (ch03, ch56):  # each run's manifest copied beside the results, where it ships
        for run, path in part["manifests"].items():
            assert Path(path).is_file() and Path(path).is_relative_to(results.with_suffix("") / "manifests"), path
            assert read_json(path) == read_json(Path(part["run_folders"][run]) / "pipeline" / "manifest.json")
    for path in ch07["manifests"].values():  # the shipped stage 2's, where it is
        assert (Path(os.getcwd()) / path).is_file() or Path(path).is_file(), path
    assert len(ch03["manifests"]) == 5 and len(ch56["manifests"]) == 8  # 2 seeds: 2 + 2 + 1; 4 runs each
    table = results.with_suffix(".md").read_text()
    for heading in ("## Chapter 03", "## Chapters 05–06", "## Chapter 07", "## Manifests"):
        assert heading in table
    assert "| full fine-tuning |" in table and "| static A |" in table
    compute = record["compute_time_s"]
    assert min(compute[p] for p in ("chapter 03", "chapters 05-06", "chapter 07")) > 0
    assert compute["total"] == pytest.approx(compute["chapter 03"] + compute["chapters 05-06"] + compute["chapter 07"])
    assert "core-hours" in table
    from humo_lite.table3 import toy_table3  # the toy's Table 3 reads the command's run folder
    assert {"full fine-tuning", "without focus-by-predicting", "static guidance, weights A"} <= set(
        toy_table3(results.with_suffix("")))  # the part files beside the results JSON
    first = record["wall_time_s"]
    assert main(argv) == 0
    again = read_json(results)
    assert again["wall_time_s"] < first / 2  # every run read back, only chapter 07's rows rescored
    for part in ("chapter 03", "chapters 05-06"):  # read back: each run's own time, counted once
        assert again["compute_time_s"][part] == compute[part]

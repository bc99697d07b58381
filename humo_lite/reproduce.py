"""``humo-lite reproduce``: every shipped checkpoint of a preset retrained from scratch, in order, with manifests.

The order (:data:`STAGES`) is the chain the shipped models form, the judge first: every later stage is scored
with it (the VAE's reconstruction ceiling, stage 0's scene check, the lip-sync checks), so the rebuilt chain
depends on no shipped file but the speech bank and the shipped manifests it reads its recipes from.

=========  =====================================================================  ==========================
stage      what trains (recipe)                                                   shipped as
=========  =====================================================================  ==========================
judge      :func:`~humo_lite.eval.judge_training.train_judge` (chapter 08)        ``checkpoints/judge``
vae        :func:`~humo_lite.recipes.train_vae` (chapter 02)                      ``checkpoints/<preset>/vae``
stage0     :func:`~humo_lite.recipes.train_stage0` from that VAE (chapter 02)     ``checkpoints/<preset>``
stage1     :func:`~humo_lite.recipes.train_stage1` from that stage 0 (chapter 03)  ``<preset>-stage1``
stage2     :func:`~humo_lite.recipes.train_stage2` from that stage 1, with the     ``<preset>-stage2``
           mask head of focus-by-predicting (chapters 04–05)
=========  =====================================================================  ==========================

Long clips (chapter 09) need no training: they are made by the stage-2 pipeline in windows.

**Each recipe is the one its shipped manifest records** (:func:`recorded_recipe`): the trainer's config, clip
counts, dropout rates, loss weights and check sizes as the shipped run used them, so a setting whose default
changed since is still reproduced (``humo-nano``'s recipes are the shipped nano manifests'; ``humo-micro``'s are
the config dataclasses' defaults). :class:`Limits` caps steps and clip counts for a quick look; the plan and
every manifest record the caps.

**Resume.** Each stage writes into its own folder under ``out``; a stage whose folder holds its finished
manifest is done and is not run again; the stage that was running when the run stopped starts again and its
trainer resumes from its own checkpoint (``<stage>/checkpoint``). ``out/reproduce.json`` records the plan and,
per stage, its status and time, after every stage.

**Another seed.** ``seed=`` (``--seed``) trains every stage with that seed instead of the recorded one and changes
nothing else; ``until=`` (``--until``) stops after a stage. Such a run measures how far a seed moves each stage's
number, against which :mod:`humo_lite.reproduce_spread` judges whether a rebuilt number is back; it never ships.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from .eval.ceilings import write_reconstruction_ceiling
from .eval.judge import load_judge
from .eval.judge_training import JudgeTrainConfig, train_judge
from .io import atomic_dir, check_count, read_json, write_json
from .presets import get_preset
from .recipes import Stage0Config, Stage1Config, Stage2Config, train_stage0, train_stage1, train_stage2, train_vae
from .shipped import data_samples_dir, default_checkpoint
from .training.trainer import TrainConfig
from .training.vae_training import VAETrainConfig

STAGES = ("judge", "vae", "stage0", "stage1", "stage2")
"""The shipped checkpoints in the order they are rebuilt (the module docstring)."""
STATE_FILE = "reproduce.json"
MIN_STEPS, MIN_CLIPS = 20, 8  # the smallest caps (:class:`Limits`)


@dataclass(frozen=True)
class Limits:
    """Caps for a quick run (the tests use them): every step count at most ``max_steps``, every clip count (training
    and checks) at most ``max_clips``; None: the recorded recipe as it is."""

    max_steps: int | None = None
    max_clips: int | None = None

    def __post_init__(self):
        if self.max_steps is not None:
            check_count(self.max_steps, "max_steps", MIN_STEPS, 10**9,
                        what=f"a cap on every stage's steps; the judge's one-cycle schedule needs {MIN_STEPS}")
        if self.max_clips is not None:
            check_count(self.max_clips, "max_clips", MIN_CLIPS, 10**9,
                        what=f"a cap on every clip count; the checks need {MIN_CLIPS} clips")

    def steps(self, value: int) -> int:
        return value if self.max_steps is None else min(value, self.max_steps)

    def clips(self, value: int) -> int:
        return value if self.max_clips is None else min(value, self.max_clips)


def shipped_folder(preset: str, stage: str) -> Path:
    """Where a stage's checkpoint is shipped (the table in the module docstring)."""
    name = get_preset(preset).name
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    if stage == "judge":
        return default_checkpoint("judge")
    if stage == "vae":
        return default_checkpoint(name) / "vae"
    return default_checkpoint(name, int(stage[-1]))


def recorded_manifest(preset: str, stage: str) -> dict:
    """The shipped manifest of a stage, which holds its recipe."""
    path = shipped_folder(preset, stage) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reproduce reads each stage's recipe from its shipped manifest")
    return read_json(path)


def _train_config(manifest: dict) -> TrainConfig:
    return TrainConfig(**{**manifest["config"], "betas": tuple(manifest["config"]["betas"])})


def _from_settings(kind: type, settings: dict):
    """A stage config from a manifest's ``settings`` (the config recorded whole)."""
    rest = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items() if k != "train"}
    return kind(train=_train_config({"config": settings["train"]}), **rest)


def _judge_config(m: dict) -> JudgeTrainConfig:
    return JudgeTrainConfig(**m["config"])


def _vae_config(m: dict) -> VAETrainConfig:
    return VAETrainConfig(**{f.name: m[f.name] for f in fields(VAETrainConfig) if f.name in m})


def _stage0_config(m: dict) -> Stage0Config:
    if "settings" in m:
        return _from_settings(Stage0Config, m["settings"])
    return Stage0Config(_train_config(m), num_clips=m["num_clips"], text_dropout=m["text_dropout"],
                        role_weight=m["role_weight"], sigma_shift=m["sigma_shift"],
                        eval_clips=(m["metrics"] or {}).get("num_clips", 0))


def _stage1_config(m: dict) -> Stage1Config:
    """Manifests written before ``settings``: the task's hyper-parameters; a field they predate (the face weight,
    the curve) is recorded absent, which is off."""
    if "settings" in m:
        return _from_settings(Stage1Config, m["settings"])
    task, curve = m["task"], m.get("curve") or []
    return Stage1Config(_train_config(m), num_clips=m["num_clips"], text_dropout=task["text_dropout"],
                        image_dropout=task["image_dropout"], stage=task["stage"],
                        reference_position=task["reference_position"], sigma_shift=task["shift"],
                        face_weight=task.get("face_weight", 0.0),
                        eval_clips=m["metrics"]["TI"]["num_clips"] if m["metrics"] else 0,
                        curve_every=curve[0]["step"] if curve else 0)


def _stage2_config(m: dict) -> Stage2Config:
    """As :func:`_stage1_config`; a stage 2 shipped before focus-by-predicting records no focus weight: no head."""
    if "settings" in m:
        return _from_settings(Stage2Config, m["settings"])
    task, tia, curve = m["task"], (m["metrics"] or {}).get("checks", {}).get("TIA"), m.get("curve") or []
    return Stage2Config(
        _train_config(m), num_clips=m["num_clips"]["audio"], num_plain_clips=m["num_clips"]["plain"],
        share_start=task["share_start"], share_end=task["share_end"], ramp_steps=task["ramp_steps"],
        text_dropout=task["text_dropout"], image_dropout=task["image_dropout"], audio_dropout=task["audio_dropout"],
        audio_tokens=m["audio_projector"]["num_tokens"], sigma_shift=task["shift"],
        face_weight=task.get("face_weight", 0.0), focus_weight=task.get("focus_weight", 0.0),
        focus_blocks=task.get("focus_blocks"), eval_clips=tia["num_clips"] if tia else 0,
        eval_seeds=tuple(tia["seeds"]) if tia else (0,), curve=bool(curve),
        curve_every=curve[0]["step"] if curve else Stage2Config.curve_every)


_CONFIGS = {"judge": _judge_config, "vae": _vae_config, "stage0": _stage0_config, "stage1": _stage1_config,
            "stage2": _stage2_config}
STEP_FIELDS = ("steps", "image_steps", "motion_steps", "curve_every")
CLIP_FIELDS = ("num_clips", "num_plain_clips", "eval_clips", "num_train_clips", "num_val_clips", "num_eval_clips",
               "num_stat_clips")


def _capped(config, limits: Limits):
    """``config`` with every step count (:data:`STEP_FIELDS`, the trainer's steps) and clip count
    (:data:`CLIP_FIELDS`) capped by ``limits``; warm-ups and the audio ramp no longer than the steps, and with a step
    cap a checkpoint half way, so a stopped quick run resumes mid-stage (checkpoints change no weight)."""
    if limits == Limits():
        return config
    names = {f.name for f in fields(config)}
    changes = {f: limits.steps(getattr(config, f)) for f in STEP_FIELDS if f in names}
    changes |= {f: limits.clips(getattr(config, f)) for f in CLIP_FIELDS if f in names}
    if "warmup" in names:  # the VAE's
        changes["warmup"] = min(config.warmup, changes["steps"])
    if "train" in names:
        steps = limits.steps(config.train.steps)
        every = min(config.train.checkpoint_every, steps if limits.max_steps is None else max(1, steps // 2))
        changes["train"] = replace(config.train, steps=steps, warmup_steps=min(config.train.warmup_steps, steps),
                                   checkpoint_every=every)
        if getattr(config, "ramp_steps", None) is not None:
            changes["ramp_steps"] = min(config.ramp_steps, steps)
    return replace(config, **changes)


def _reseeded(config, seed: int):
    """``config`` with training seed ``seed`` (the VAE's own field, stages 0–2 their trainer's); the checks' sampling
    seeds stay as recorded, so two seeds' numbers are scored on the same noise."""
    if hasattr(config, "train"):
        return replace(config, train=replace(config.train, seed=seed))
    return replace(config, seed=seed)


def recorded_recipe(preset: str, stage: str, limits: Limits = Limits(), seed: int | None = None) -> dict:
    """The recipe of a stage as its shipped manifest records it (capped by ``limits``): ``{"config": ...}``, and for
    the judge the ``preset`` and ``seed`` it was trained with too. ``seed``: another training seed of the same
    recipe (None: the recorded one)."""
    manifest = recorded_manifest(preset, stage)
    config = _capped(_CONFIGS[stage](manifest), limits)
    if stage == "judge":
        return {"config": config, "preset": manifest["preset"], "seed": manifest["seed"] if seed is None else seed}
    return {"config": config if seed is None else _reseeded(config, seed)}


def result_folder(out: str | os.PathLike, stage: str) -> Path:
    """The folder a stage's result is written to under ``out`` (a pipeline folder for stages 0–2)."""
    return Path(out) / stage / ("pipeline" if stage.startswith("stage") else "")


def is_done(out: str | os.PathLike, stage: str) -> bool:
    """Whether a stage finished: its result folder holds its manifest (written last, atomically)."""
    return (result_folder(out, stage) / "manifest.json").is_file()


def _run_stage(stage: str, preset: str, out: Path, recipe: dict, command: str, progress: bool) -> dict:
    """Train one stage into ``out/<stage>`` with the judge of ``out/judge``; returns its manifest."""
    if stage == "judge":
        return train_judge(recipe["preset"], out / "judge", seed=recipe["seed"], config=recipe["config"],
                           progress=progress, command=command).manifest
    judge = load_judge(out / "judge")
    if stage == "vae":
        return train_vae(preset, out / "vae", recipe["config"], judge=judge, progress=progress, command=command)
    if stage == "stage0":
        return train_stage0(preset, out / "vae", out / "stage0", recipe["config"], command=command,
                            progress=progress, judge=judge)
    upstream = result_folder(out, f"stage{int(stage[-1]) - 1}")
    train = train_stage1 if stage == "stage1" else train_stage2
    return train(preset, upstream, out / stage, recipe["config"], command=command, progress=progress, judge=judge)


def _finish_vae(out: Path) -> None:
    """A VAE folder written before its ceiling was (the run stopped in between): measure the ceiling now."""
    manifest = read_json(out / "vae" / "manifest.json")
    if "reconstruction_ceiling" in manifest:
        return
    judge = load_judge(out / "judge")
    if get_preset(judge.manifest.get("preset", "humo-micro")).world == get_preset(manifest["preset"]).world:
        write_reconstruction_ceiling(out / "vae", judge)


def _describe(recipe: dict) -> dict:
    return {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in recipe.items()}


def plan(preset: str, limits: Limits = Limits(), seed: int | None = None, until: str = STAGES[-1]) -> dict:
    """Every stage's recipe up to ``until``, in order (read before any work, so a missing manifest stops the run at
    once)."""
    if until not in STAGES:
        raise ValueError(f"until must be one of {', '.join(STAGES)}, got {until!r}")
    return {stage: recorded_recipe(preset, stage, limits, seed) for stage in STAGES[:STAGES.index(until) + 1]}


def _start_state(out: Path, preset: str, limits: Limits, seed: int | None, command: str, recipes: dict) -> dict:
    """The state of ``out``: an earlier run's stages kept; a folder of another preset, other caps or another seed is
    an error."""
    path = out / STATE_FILE
    old = read_json(path) if path.is_file() else {}
    if old and (old.get("preset"), old.get("limits"), old.get("seed")) != (preset, asdict(limits), seed):
        raise ValueError(f"{out} holds a reproduction of {old.get('preset')} with limits {old.get('limits')} and "
                         f"seed {old.get('seed')} (None: the recorded ones); resume it with the same --preset, caps "
                         f"and --seed, or choose another --out")
    return {"preset": preset, "out": str(out), "limits": asdict(limits), "seed": seed, "command": command,
            "plan": {s: _describe(r) for s, r in recipes.items()}, "stages": old.get("stages", {})}


def _done_record(stage: str, preset: str, out: Path, manifest: dict, seconds: float, resumed: bool) -> dict:
    return {"status": "done", "resumed": resumed, "wall_time_s": seconds, "result": str(result_folder(out, stage)),
            "manifest_wall_time_s": manifest.get("wall_time_s"), "reproduces": str(shipped_folder(preset, stage)),
            "shipped_wall_time_s": recorded_manifest(preset, stage).get("wall_time_s")}


def reproduce(preset: str = "humo-micro", out: str | os.PathLike = "outputs/reproduce", limits: Limits = Limits(),
              command: str | None = None, progress: bool = True, log=print, seed: int | None = None,
              until: str = STAGES[-1]) -> dict:
    """Rebuild every stage of :data:`STAGES` (up to ``until``) into ``out``, resuming where a stopped run was; returns
    the state written to ``out/reproduce.json``: the plan, and per stage its status, wall time, result folder and
    the shipped folder it reproduces. ``seed``: train every stage with this seed instead of the recorded ones (the
    same recipes; how far another seed moves the numbers is what :mod:`humo_lite.reproduce_spread` measures)."""
    preset, out = get_preset(preset).name, Path(out)
    command = command or f"humo_lite.reproduce.reproduce(preset={preset!r}, out={str(out)!r})"
    recipes = plan(preset, limits, seed, until)
    state = _start_state(out, preset, limits, seed, command, recipes)
    start = time.perf_counter()
    for i, stage in enumerate(recipes, 1):
        head = f"[{i}/{len(recipes)}] {stage}"
        if is_done(out, stage):
            if stage == "vae":
                _finish_vae(out)
            log(f"{head}: done before, kept ({result_folder(out, stage)})")
            state["stages"].setdefault(stage, {"status": "done"})
            continue
        resuming = (out / stage / "checkpoint").is_dir()
        log(f"{head}: {'resuming' if resuming else 'training'} -> {out / stage}")
        state["stages"][stage] = {"status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(out / STATE_FILE, state)
        tick = time.perf_counter()
        manifest = _run_stage(stage, preset, out, recipes[stage], f"{command}  # stage {stage}", progress)
        seconds = round(time.perf_counter() - tick, 1)
        state["stages"][stage] = _done_record(stage, preset, out, manifest, seconds, resuming)
        write_json(out / STATE_FILE, state)
        log(f"{head}: done in {seconds:.0f} s")
    state["wall_time_s_this_run"] = round(time.perf_counter() - start, 1)
    write_json(out / STATE_FILE, state)
    return state


KEY_NUMBERS = {"judge": ("attribute accuracy", ("validation", "attribute_accuracy_mean")),
               "vae": ("PSNR dB", ("metrics", "psnr_db")),
               "stage0": ("TVA-lite", ("metrics", "judge", "tva_lite")),
               "stage1": ("TI ID-lite", ("metrics", "TI", "id_lite")),
               "stage2": ("Sync-C-lite / recon", ("metrics", "summary", "sync_c_over_reconstruction"))}
"""Per stage, the number :func:`summary_rows` sets beside the shipped checkpoint's: (name, where in the manifest)."""


def key_number(manifest: dict, stage: str, digits: int | None = 3) -> float | None:
    """A stage's key number (:data:`KEY_NUMBERS`) in its manifest, rounded to ``digits`` (None: as recorded); None
    where the manifest has none."""
    for key in KEY_NUMBERS[stage][1]:
        if not isinstance(manifest, dict) or key not in manifest:
            return None
        manifest = manifest[key]
    return float(manifest) if digits is None else round(float(manifest), digits)


def summary_rows(state: dict) -> list[dict]:
    """One row per stage of a reproduction's state: its time this run, its training time beside the shipped one,
    and its key number (:data:`KEY_NUMBERS`) beside the shipped one's (scored by the shipped judge)."""
    rows = []
    for stage in STAGES:
        record, name = state["stages"].get(stage, {}), KEY_NUMBERS[stage][0]
        written = result_folder(state["out"], stage) / "manifest.json"
        new = read_json(written) if written.is_file() else {}
        shipped = recorded_manifest(state["preset"], stage)
        rows.append({"stage": stage, "status": record.get("status", "to do"),
                     "this run s": record.get("wall_time_s", "—"), "trained s": new.get("wall_time_s", "—"),
                     "shipped s": shipped.get("wall_time_s", "—"), "number": name,
                     "reproduced": key_number(new, stage), "shipped": key_number(shipped, stage)})
    return rows


def ship_target(dest: str | os.PathLike, preset: str, stage: str) -> Path:
    """Where :func:`ship_results` writes a stage under ``dest`` (the VAE travels inside stage 0's folder)."""
    name = get_preset(preset).name
    return Path(dest) / {"judge": "judge", "stage0": name, "stage1": f"{name}-stage1",
                         "stage2": f"{name}-stage2"}[stage]


def ship_results(out: str | os.PathLike, preset: str, dest: str | os.PathLike | None = None,
                 command: str | None = None) -> list[str]:
    """Ship a finished reproduction into ``dest`` (default: the shipped ``checkpoints/``): the judge as it is, then
    stages 0, 1 and 2 with :func:`humo_lite.ship.ship_checkpoint` (float16 weights, each check run again on them;
    the checks load the shipped judge, which is the reproduced one once ``dest`` is the shipped folder). Returns one
    line per folder written."""
    from .ship import ship_checkpoint

    out, dest = Path(out), Path(dest) if dest is not None else data_samples_dir() / "checkpoints"
    if (out / STATE_FILE).is_file() and read_json(out / STATE_FILE).get("seed") is not None:
        raise ValueError(f"{out} was trained with --seed: another seed measures the spread, it does not ship")
    missing = [stage for stage in STAGES if not is_done(out, stage)]
    if missing:
        raise ValueError(f"{out} has not finished {', '.join(missing)}: run humo-lite reproduce with the same --out "
                         "first (it resumes)")
    with atomic_dir(ship_target(dest, preset, "judge"), overwrite=True) as tmp:
        shutil.copytree(out / "judge", tmp, dirs_exist_ok=True)
    lines = [f"shipped {ship_target(dest, preset, 'judge')} (as trained)"]
    for stage in STAGES[2:]:
        target = ship_target(dest, preset, stage)
        manifest = ship_checkpoint(result_folder(out, stage), target, command)
        lines.append(f"shipped {target}: {manifest['kind']}, checked again on float16 weights")
    return lines


__all__ = ["CLIP_FIELDS", "KEY_NUMBERS", "STAGES", "STATE_FILE", "STEP_FIELDS", "Limits", "is_done", "key_number",
           "plan", "recorded_manifest", "recorded_recipe", "reproduce", "result_folder", "ship_results", "ship_target",
           "shipped_folder", "summary_rows"]

"""Is a reproduced number back? Each stage's key number beside the spread of its recipe's training seeds.

Retraining a recipe with its recorded seed need not give the same bytes: with another thread count or another
version of a library, floating-point sums run in another order, and training carries the difference on. So "the
number came back" cannot mean "equal". It means: **the reproduced number differs from the shipped one by no more
than training seeds of the same recipe differ from one another** (:func:`is_back`: the range of the seeds' values).

The seeds' values of a stage (:func:`seed_values`), each named by the training it comes from:

* ``seed 0, shipped``: the shipped checkpoint (its recorded seed);
* ``seed N, whole chain``: a reproduction run with another seed (``humo-lite reproduce --seed 1 --until stage1 --out
  …``, given to the command as ``--spread FOLDER``): the same recipes, every stage, the VAE and the judge included,
  trained again with that seed. This is how far a whole rebuild can move a number, which is the question a
  reproduction asks;
* ``seed N, stage 1 only`` / ``seed N, stage 2 only``: shipped records that trained one stage's recipe with other
  seeds on the shipped stages below it (:data:`SEED_RECORDS`): chapter 03's ablation (stage 1, self-attention only,
  three seeds) and stage 2's second training (chapter 04 §6). They move less than a whole chain can.

A stage no other seed has been measured for gets no verdict (``None``), never a made-up one.
"""

from __future__ import annotations

import os
from pathlib import Path

from .io import machine_info, read_json, write_json
from .reproduce import STAGES, STATE_FILE, key_number, recorded_manifest, result_folder, summary_rows
from .shipped import data_samples_dir


def _chapter03_seeds(preset: str) -> dict[int, float]:
    """Stage 1 as shipped (self-attention only) trained with seeds 0..N-1 by ``reproduce --ablations``."""
    path = data_samples_dir() / "results" / f"ablations-{preset}" / "stage1.json"
    if not path.is_file():
        return {}
    runs = read_json(path)["runs"]
    return {r["seed"]: r["metrics"]["TI"]["id_lite"] for r in runs if r["variant"].startswith("self-attention")}


def _second_stage2(preset: str) -> dict[int, float]:
    """The shipped stage-2 recipe trained again with another seed from the same stage 1 (``humo-micro`` only)."""
    path = data_samples_dir() / "ablations" / "stage2_second_training.json"
    if preset != "humo-micro" or not path.is_file():
        return {}
    record = read_json(path)
    return {record["training_seed"]: record["summary"]["sync_c_over_reconstruction"]}


RESCORED_FILE = "rescored_by_shipped_judge.json"
"""Where :func:`rescore_with_shipped_judge` keeps a rebuilt stage's check, beside its pipeline folder."""
JUDGED_STAGES = ("stage0", "stage1", "stage2")
"""The stages whose key number a judge reads (the judge is the ruler itself; the VAE's PSNR reads no judge)."""

SEED_RECORDS = {"stage1": _chapter03_seeds, "stage2": _second_stage2}
"""Per stage, a reader of shipped records holding the shipped recipe trained with other seeds."""


SHIPPED_LABEL = "seed {seed}, shipped"
CHAIN_LABEL = "seed {seed}, whole chain"
RECORD_LABEL = {"stage1": "seed {seed}, stage 1 only", "stage2": "seed {seed}, stage 2 only"}
"""How :func:`seed_values` names each training: the shipped one, a whole chain rebuilt with another seed, one
stage's recipe trained again with another seed on the shipped stages below it."""


def _shipped_judge_reading(folder: str | os.PathLike, stage: str) -> float | None:
    """The key number :func:`rescore_with_shipped_judge` kept for ``stage`` of the run in ``folder``, if it ran."""
    cache = result_folder(folder, stage).parent / RESCORED_FILE
    return read_json(cache)["key_number"] if stage in JUDGED_STAGES and cache.is_file() else None


def _own_reading(folder: str | os.PathLike, stage: str) -> float | None:
    """The key number the run in ``folder`` recorded for ``stage`` (read by its own judge); None until it is done."""
    written = result_folder(folder, stage) / "manifest.json"
    return key_number(read_json(written), stage, None) if written.is_file() else None


def _spread_run_number(folder: Path, stage: str) -> float | None:
    """A ``reproduce --seed`` folder's key number for ``stage``: read by the shipped judge when
    :func:`rescore_with_shipped_judge` ran on it (the ruler the shipped number was read with), else by its own."""
    same_judge = _shipped_judge_reading(folder, stage)
    return same_judge if same_judge is not None else _own_reading(folder, stage)


def seed_values(preset: str, stage: str, spread_runs=()) -> dict[str, float]:
    """The stage's key number (:data:`~humo_lite.reproduce.KEY_NUMBERS`) for each training of its recipe, named as
    :data:`SHIPPED_LABEL`, :data:`CHAIN_LABEL` (the reproductions in ``spread_runs``, folders of ``reproduce --seed``)
    and :data:`RECORD_LABEL` (:data:`SEED_RECORDS`; a record of the shipped seed is the shipped training itself)."""
    shipped = recorded_manifest(preset, stage)
    shipped_seed = int(shipped.get("seed", 0))
    values = {SHIPPED_LABEL.format(seed=shipped_seed): key_number(shipped, stage, None)}
    for folder in map(Path, spread_runs):
        state = read_json(folder / STATE_FILE)
        if state["preset"] != preset or state.get("seed") is None:
            raise ValueError(f"{folder} is not a reproduction of {preset} with --seed (seed {state.get('seed')}, "
                             f"preset {state['preset']})")
        values[CHAIN_LABEL.format(seed=int(state["seed"]))] = _spread_run_number(folder, stage)
    for seed, value in SEED_RECORDS.get(stage, lambda p: {})(preset).items():
        if int(seed) != shipped_seed:
            values[RECORD_LABEL[stage].format(seed=int(seed))] = float(value)
    return {label: value for label, value in values.items() if value is not None}


def is_back(reproduced: float, shipped: float, seeds: dict[str, float]) -> bool | None:
    """Whether ``reproduced`` lies as close to ``shipped`` as the seeds' values lie to each other (their range);
    None when fewer than two seeds were measured."""
    if len(seeds) < 2:
        return None
    return abs(reproduced - shipped) <= max(seeds.values()) - min(seeds.values())


def rescore_with_shipped_judge(out: str | os.PathLike, stage: str) -> float | None:
    """A rebuilt stage's check run again on its weights with the **shipped** judge, the ruler the shipped number and
    the seeds' records were read with (the run's own numbers are read by the judge it rebuilt, whose identity
    embedding, say, is another network's). Same clips and sampling seeds as the recorded check; stage 2 without
    its mask head (no key number reads it). Kept in ``out/<stage>/``:data:`RESCORED_FILE`, so it runs once.
    Returns the key number, or None for a stage no judge reads or that is not done."""
    from .eval.judge import default_judge_dir
    from .pipeline import HuMoLitePipeline
    from .ship import rescore

    folder = result_folder(out, stage)
    cache = folder.parent / RESCORED_FILE
    if stage not in JUDGED_STAGES or not (folder / "manifest.json").is_file():
        return None
    if not cache.is_file():
        pipe = HuMoLitePipeline.from_pretrained(folder)
        pipe.set_progress_bar_config(disable=True)
        metrics = rescore(pipe, read_json(folder / "manifest.json"))
        judge = read_json(default_judge_dir() / "manifest.json")["sha256"]
        write_json(cache, {"judge_sha256": judge, "metrics": metrics,
                           "key_number": key_number({"metrics": metrics}, stage, None)})
    return read_json(cache)["key_number"]


def stage_numbers(state: dict, stage: str, spread_runs=()) -> dict:
    """A stage's key number as recorded (unrounded): ``shipped``, ``reproduced`` (None until the stage is done),
    ``reproduced_shipped_judge`` (:func:`rescore_with_shipped_judge`'s, when it ran), ``seeds``
    (:func:`seed_values`) and ``back`` (:func:`is_back`, on the shipped judge's reading where there is one)."""
    new, same_judge = _own_reading(state["out"], stage), _shipped_judge_reading(state["out"], stage)
    shipped = key_number(recorded_manifest(state["preset"], stage), stage, None)
    seeds = seed_values(state["preset"], stage, spread_runs)
    compared = same_judge if same_judge is not None else new
    back = None if compared is None or shipped is None else is_back(compared, shipped, seeds)
    return {"shipped": shipped, "reproduced": new, "reproduced_shipped_judge": same_judge, "seeds": seeds,
            "back": back}


def spread_rows(state: dict, spread_runs=()) -> list[dict]:
    """:func:`~humo_lite.reproduce.summary_rows` with each stage's seeds' values, their range and the verdict."""
    rows = summary_rows(state)
    for row in rows:
        numbers = stage_numbers(state, row["stage"], spread_runs)
        seeds = numbers["seeds"]
        spread = max(seeds.values()) - min(seeds.values()) if len(seeds) > 1 else None
        same_judge = numbers["reproduced_shipped_judge"]
        row |= {"rebuilt, shipped judge": "—" if same_judge is None else round(same_judge, 3),
                "seeds": ", ".join(f"{v:.3f} ({label})" for label, v in seeds.items()),
                "seed range": "—" if spread is None else round(spread, 4),
                "back": {None: "no other seed", True: "yes", False: "no"}[numbers["back"]]}
    return rows


def write_record(state: dict, path: str | os.PathLike, spread_runs=()) -> Path:
    """The reproduction's record (``data_samples/results/reproduce-<preset>.json`` when shipped): its command,
    per-stage times and each key number beside the shipped one's and the seeds'. Written before ``--ship``
    replaces the shipped manifests, so "shipped" is the checkpoint the run reproduced. ``wall_time_s`` sums the
    stages' times, each in the invocation that finished it (a run resumed mid-stage counts only the resumed part of
    that stage; ``resumed`` says so), so an invocation that only reads finished stages back adds nothing."""
    path = Path(path)
    stages = {stage: {k: v for k, v in done.items() if k != "reproduces"} for stage, done in state["stages"].items()}
    record = {"command": state["command"], "preset": state["preset"], "limits": state["limits"],
              "wall_time_s": round(sum(done.get("wall_time_s", 0.0) for done in stages.values()), 1),
              "any_stage_resumed": any(done.get("resumed", False) for done in stages.values()), "stages": stages,
              "machine": machine_info(),
              "spread_runs": [str(f) for f in spread_runs], "rows": spread_rows(state, spread_runs),
              "numbers": {stage: stage_numbers(state, stage, spread_runs) for stage in STAGES}}
    write_json(path, record)
    return path


__all__ = ["CHAIN_LABEL", "JUDGED_STAGES", "RECORD_LABEL", "RESCORED_FILE", "SEED_RECORDS", "SHIPPED_LABEL", "is_back",
           "rescore_with_shipped_judge", "seed_values", "spread_rows", "stage_numbers", "write_record"]

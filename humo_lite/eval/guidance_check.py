"""Which guidance schedule? Static A, static B, time-adaptive, and the released forms, measured (chapter 07).

HuMo §3.4 (``docs/paper_notes.md`` §7) claims that switching at σ = 0.98 from text/image-dominant weights (A) to
audio/image-dominant ones (B) keeps text alignment near A's and identity and sync near B's; the paper shows it as
pictures only. This module measures it on the talking model (stage 2):

1. **Choose A and B on the validation pool** (:func:`choose_static`): 60 people that neither train nor test the
   model, speaking recordings of their own (``humo_lite.data.pools``). A is the text-heavy Eq. 4 candidate
   (:data:`STATIC_A_CANDIDATES`, audio not amplified) with the highest TVA-lite; B the audio/image-heavy one
   (:data:`STATIC_B_CANDIDATES`) with the highest mean of its ID-lite and Sync-C-lite ratios to the reconstruction
   ceiling. The test clips play no part in the choice. Then, on the same pool and by B's rule, which of the two
   is the pipeline's default in TIA mode (:func:`choose_default`): A above σ 0.98 and B below (the talking
   schedule), or one text and one image scale throughout.
2. **Score every row on the test clips** (:func:`score_row`, one sampling seed at a time): ``heldout_voice``
   (people and voices no training pool has), through :func:`humo_lite.eval.sync_check.heldout_sync_check`.
   :func:`schedule_rows` names the rows: static A, static B, adaptive (A above the switch, B below), the released
   17B and 1.7B forms, a sweep of the switch σ, and the library's default guidance in T, TI, TA and TIA.
3. **Report ratios to the reconstruction ceiling** (:func:`ratio_summary`): TVA-lite, ID-lite, Sync-C-lite and
   Sync-D-lite of the generated clips over the same numbers on the VAE's reconstructions of the real clips,
   mean ± std over sampling seeds. TA has no ID-lite (no reference); T and TI get no Sync (no audio).

:func:`evaluate` runs all three into a results dict that can resume; :func:`summarise` tabulates it. The same rule
on the same pool also chooses between trained models (:func:`choose_checkpoint`: the stage-2 recipe's voices).
``scripts/stage2_guidance_schedules.py`` is the command line and keeps the results file.
"""

from __future__ import annotations

import time

import numpy as np

from ..guidance import MODES, PRESETS, GuidanceSchedule, adaptive, default_schedule, eq4, humo_lite_schedule, single
from .ceilings import reconstruct
from .judge import load_judge
from .sync_check import heldout_sync_check, heldout_voice_clips, margin_shares, score_frames

STATIC_A_CANDIDATES = {"A: text 5, image 3": (5.0, 3.0, 1.0), "A: text 7.5, image 3": (7.5, 3.0, 1.0),
                       "A: text 7.5, image 5": (7.5, 5.0, 1.0)}
"""Text-heavy Eq. 4 scales ``(text, image, audio)``: the audio is given but not amplified (the paper's early phase)."""
STATIC_B_CANDIDATES = {"B: text 3, image 5, audio 5.5": (3.0, 5.0, 5.5), "B: text 3, image 7.5, audio 5.5":
                       (3.0, 7.5, 5.5), "B: text 3, image 5, audio 7.5": (3.0, 5.0, 7.5)}
"""Audio/image-heavy Eq. 4 scales ``(text, image, audio)``: less text, more image and audio (the late phase)."""
CHOICE_POOL = "validation_voice"
"""The pool chapter 07 chooses A, B and the TIA default on: the validation people speaking in voices no other pool
has, as the test's (``heldout_voice``) speakers do. ``"validation"`` (training voices) is the other option."""
SWITCH_SWEEP = (0.99, 0.9, 0.75)
"""Switch σ of the sweep besides the paper's 0.98; static B is a switch at σ = 1, static A one at σ = 0."""
RATIO_METRICS = {"TVA-lite": "tva_lite", "ID-lite": "id_lite", "Sync-C-lite": "sync_c", "Sync-D-lite": "sync_d"}
"""Table name → the key of a scored row (:func:`humo_lite.eval.sync_check.score_frames`)."""
MODE_METRICS = {"T": ("TVA-lite",), "TI": ("TVA-lite", "ID-lite"), "TA": ("TVA-lite", "Sync-C-lite", "Sync-D-lite"),
                "TIA": tuple(RATIO_METRICS)}
"""The metrics that mean something in each mode: no ID-lite without a reference, no sync without audio."""


def static(scales: tuple[float, float, float], name: str) -> GuidanceSchedule:
    """Eq. 4 with ``scales = (text, image, audio)`` for the whole run."""
    return single(eq4(*scales), name, "Eq. 4, scales (text, image, audio) = " + ", ".join(f"{s:g}" for s in scales))


def schedule_rows(a: tuple, b: tuple) -> dict[str, tuple[str, GuidanceSchedule | None]]:
    """Every row of the comparison: name → ``(mode, schedule)``; ``None``: the pipeline's default guidance. In the
    order they are scored: the five schedules, the four modes, then the switch sweep."""
    rows = {"static A": ("TIA", static(a, "static A")), "static B": ("TIA", static(b, "static B")),
            "adaptive (paper)": ("TIA", adaptive(a, b)), "released 17B": ("TIA", PRESETS["humo-17b"]),
            "released 1.7B": ("TIA", PRESETS["humo-1.7b"])}
    rows |= {f"{mode}, default guidance": (mode, None) for mode in ("T", "TI", "TA", "TIA")}
    return rows | {f"switch at {s:g}": ("TIA", adaptive(a, b, s)) for s in SWITCH_SWEEP}  # last: the sweep


def row_names() -> list[str]:
    """The names of :func:`schedule_rows`, in order (they do not depend on A's and B's scales)."""
    return list(schedule_rows((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)))


def ceiling(vae, clips: list, judge=None) -> dict:
    """Every number of :func:`~humo_lite.eval.sync_check.score_frames` on the real clips and on the VAE's
    reconstructions of them (the reconstruction ceiling the ratios divide by)."""
    judge = load_judge(judge)
    real, lips = np.stack([c.video for c in clips]), np.stack([c.mouth for c in clips])
    return {"real": score_frames(judge, real, clips, lips, True),
            "reconstruction": score_frames(judge, reconstruct(vae, real), clips, lips, True)}


def score_row(pipe, mode: str, schedule: GuidanceSchedule | None, seed: int, num_clips: int, ceilings: dict,
              judge, preset: str, pool: str = "heldout_voice", num_inference_steps: int = 20) -> dict:
    """One row, one sampling seed: the scored clips' numbers (``per_seed`` of ``heldout_sync_check``)."""
    guidance = {} if schedule is None else {"guidance": schedule}
    check = heldout_sync_check(pipe, num_clips, seeds=(seed,), mode=mode, num_inference_steps=num_inference_steps,
                               progress=False, judge=judge, preset=preset, ceilings=ceilings, pool=pool, **guidance)
    return check["per_seed"][0]


def _b_score(row: dict, recon: dict) -> float:
    return (row["id_lite"] / recon["id_lite"] + row["sync_c"] / recon["sync_c"]) / 2


def validation_ceilings(vae, num_clips: int = 32, preset: str = "humo-micro", judge=None,
                        pool: str = "validation") -> dict:
    """:func:`ceiling` of the first ``num_clips`` clips of the ``validation`` pool (or ``pool``, e.g.
    ``"validation_voice"``): what every choice divides by."""
    return ceiling(vae, heldout_voice_clips(num_clips, preset, pool), judge)


def choose_static(pipe, num_clips: int = 32, seed: int = 0, preset: str = "humo-micro", judge=None,
                  num_inference_steps: int = 20, pool: str = "validation") -> dict:
    """Score every A and B candidate on the ``validation`` pool (or ``pool``: ``"validation_voice"``, speakers no
    other pool has) in TIA, one seed, and choose by the module's rules. Returns the candidates' numbers, the ceiling
    there, and ``chosen`` ``{"A": name, "B": name}``."""
    judge = load_judge(judge)
    ceilings = validation_ceilings(pipe.vae, num_clips, preset, judge, pool)
    recon = ceilings["reconstruction"]
    rows = {}
    for name, scales in {**STATIC_A_CANDIDATES, **STATIC_B_CANDIDATES}.items():
        row = score_row(pipe, "TIA", static(scales, name), seed, num_clips, ceilings, judge, preset, pool,
                        num_inference_steps)
        rows[name] = {"scales": list(scales), **row, "b_score": _b_score(row, recon)}
    best_a = max(STATIC_A_CANDIDATES, key=lambda n: (rows[n]["tva_lite"], rows[n]["id_lite"]))
    best_b = max(STATIC_B_CANDIDATES, key=lambda n: rows[n]["b_score"])
    return {"pool": pool, "num_clips": num_clips, "seed": seed, "candidates": rows, "ceilings": ceilings,
            "rules": {"A": "highest TVA-lite (ties: higher ID-lite)",
                      "B": "highest mean of ID-lite / reconstruction and Sync-C-lite / reconstruction"},
            "chosen": {"A": best_a, "B": best_b}}


def validation_rows(pipe, schedule: GuidanceSchedule, ceilings: dict, num_clips: int = 32, seeds=(0, 1, 2),
                    preset: str = "humo-micro", judge=None, num_inference_steps: int = 20,
                    pool: str = "validation") -> dict:
    """TIA with ``schedule`` on the first ``num_clips`` clips of ``pool`` (a validation pool), per sampling seed: the
    scored rows, B's score (mean ± std over ``seeds``) and the Sync-C margin share over the ``ceilings``'
    reconstruction (``ceilings``: those of the same clips)."""
    recon = ceilings["reconstruction"]
    per_seed = [score_row(pipe, "TIA", schedule, seed, num_clips, ceilings, judge, preset, pool,
                          num_inference_steps) for seed in seeds]
    scores = np.array([_b_score(row, recon) for row in per_seed])
    shares = np.array([margin_shares(row, recon)["sync_c_margin_share"] for row in per_seed])
    return {"formula": str(schedule), "per_seed": per_seed, "score": float(scores.mean()),
            "score_std": float(scores.std()), "sync_c_margin_share": float(shares.mean()),
            "sync_c_margin_share_std": float(shares.std())}


def choose_default(pipe, a: tuple, b: tuple, ceilings: dict, num_clips: int = 32, seeds=(0, 1, 2),
                   preset: str = "humo-micro", judge=None, num_inference_steps: int = 20,
                   pool: str = "validation") -> dict:
    """The TIA default, chosen on the ``validation`` pool (or ``pool``) over ``seeds``: one text and one image scale
    throughout
    (:func:`~humo_lite.guidance.humo_lite_schedule` at :data:`~humo_lite.guidance.TOY_SCALES`) or A above the switch
    and B below (the talking schedule). Rule: B's, the higher mean of ID-lite and Sync-C-lite over the reconstruction
    ceiling. ``ceilings``: those of the first ``num_clips`` clips of ``pool``, as :func:`choose_static` measured them.
    Returns both candidates' per-seed numbers and scores, and ``chosen``."""
    judge = load_judge(judge)
    candidates = {"one scale throughout": humo_lite_schedule(), "A then B": adaptive(a, b, name="talking (A/B)")}
    rows = {name: validation_rows(pipe, schedule, ceilings, num_clips, seeds, preset, judge, num_inference_steps,
                                  pool) for name, schedule in candidates.items()}
    return {"pool": pool, "num_clips": num_clips, "seeds": [int(s) for s in seeds], "candidates": rows,
            "rule": "highest mean of ID-lite / reconstruction and Sync-C-lite / reconstruction",
            "chosen": max(rows, key=lambda n: rows[n]["score"])}


def choose_checkpoint(pipes: dict, num_clips: int = 32, seeds=(0, 1, 2), preset: str = "humo-micro", judge=None,
                      num_inference_steps: int = 20, pool: str = "validation") -> dict:
    """Which of several trained models (``{name: pipeline}``, one VAE between them) talks best on the ``validation``
    pool (or ``pool``: ``"validation_voice"`` for questions about voices), each at the library's default guidance:
    B's rule, over ``seeds``. Returns each one's :func:`validation_rows`, the ceilings there, and ``chosen``."""
    judge = load_judge(judge)
    ceilings = validation_ceilings(next(iter(pipes.values())).vae, num_clips, preset, judge, pool)
    schedule = default_schedule().for_mode(MODES["TIA"])  # what a TIA call without guidance gets
    rows = {name: validation_rows(pipe, schedule, ceilings, num_clips, seeds, preset, judge, num_inference_steps,
                                  pool) for name, pipe in pipes.items()}
    recipes = recipe_scores({name: row["score"] for name, row in rows.items()})
    return {"pool": pool, "num_clips": num_clips, "seeds": [int(s) for s in seeds], "ceilings": ceilings,
            "candidates": rows, "rule": "highest mean of ID-lite / reconstruction and Sync-C-lite / reconstruction",
            "chosen": max(rows, key=lambda n: rows[n]["score"]), "recipes": recipes,
            "chosen_recipe": max(recipes, key=lambda n: recipes[n]["score"])}


def recipe_scores(scores: dict[str, float]) -> dict[str, dict]:
    """Candidates named ``"<recipe>, seed <n>"`` grouped by recipe: the mean and std of their scores over the training
    seeds (a name without ``", seed"`` is a recipe of its own)."""
    groups: dict[str, list[str]] = {}
    for name in scores:
        recipe, sep, seed = name.rpartition(", seed ")
        groups.setdefault(recipe if sep and seed.split()[0].isdigit() else name, []).append(name)
    return {recipe: {"score": float(np.mean([scores[n] for n in names])),
                     "score_std": float(np.std([scores[n] for n in names])), "candidates": names}
            for recipe, names in groups.items()}


def ratio_summary(per_seed: list[dict], mode: str, recon: dict) -> dict[str, dict[str, float]]:
    """The metrics of ``mode`` (:data:`MODE_METRICS`) as ratios to the reconstruction ceiling: mean and std over
    the sampling seeds' rows."""
    out = {}
    for name in MODE_METRICS[mode]:
        ratios = np.array([row[RATIO_METRICS[name]] / recon[RATIO_METRICS[name]] for row in per_seed])
        out[name] = {"mean": float(ratios.mean()), "std": float(ratios.std()), "seeds": len(ratios)}
    return out


def _timed(fn, *args, **kwargs) -> dict:
    """``fn(*args, **kwargs)`` (a dict) with its wall time added as ``wall_s``."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return {**out, "wall_s": round(time.perf_counter() - start, 1)}


def wall_time(results: dict) -> float:
    """Seconds the results took: the validation choices, the ceiling and every (row, seed), each counted once (files
    merged from several processes share their first pieces)."""
    validation = results.get("validation", {})
    pieces = [validation, validation.get("default", {}), results.get("ceilings", {})]
    pieces += [r for row in results.get("rows", {}).values() for r in row["per_seed"].values()]
    return round(sum(p.get("wall_s", 0.0) for p in pieces), 1)


def evaluate(pipe, results: dict, seeds, rows=None, judge=None, save=None, log=print, choose_only=False) -> dict:
    """Fill ``results`` (``setup``: ``preset``, ``num_clips``, ``validation_clips``, ``num_inference_steps`` and
    optionally ``validation_pool``, default :data:`CHOICE_POOL`): choose A and B on that validation pool, measure the
    test clips' ceiling, and score every (row, seed) not yet there (a row whose formula changed is scored again).
    ``rows``: names of :func:`schedule_rows` (default all). ``save(results)`` after each piece of work, so a stopped
    run resumes. ``choose_only``: stop after the validation choice (no test clip is generated). Returns ``results``."""
    setup, judge, save = results["setup"], load_judge(judge), save or (lambda r: None)
    steps, preset, pool = setup["num_inference_steps"], setup["preset"], setup.get("validation_pool", CHOICE_POOL)
    if "validation" not in results:
        results["validation"] = _timed(choose_static, pipe, setup["validation_clips"], 0, preset, judge, steps, pool)
        save(results)
    chosen = results["validation"]["chosen"]
    scales = {k: tuple(results["validation"]["candidates"][chosen[k]]["scales"]) for k in "AB"}
    if "default" not in results["validation"]:
        results["validation"]["default"] = _timed(choose_default, pipe, scales["A"], scales["B"],
                                                  results["validation"]["ceilings"], setup["validation_clips"], seeds,
                                                  preset, judge, steps, pool)
        save(results)
    if choose_only:
        results["wall_time_s"] = wall_time(results)
        return results
    if "ceilings" not in results:
        clips = heldout_voice_clips(setup["num_clips"], preset)
        results["ceilings"] = _timed(ceiling, pipe.vae, clips, judge)
        save(results)
    table = schedule_rows(scales["A"], scales["B"])
    for name in rows or table:
        mode, schedule = table[name]
        formula = str(schedule) if schedule is not None else (
            "the pipeline's default guidance:\n" + default_schedule().formula(mode))
        row = results.setdefault("rows", {}).setdefault(name, {"mode": mode, "formula": formula, "per_seed": {}})
        if row["formula"] != formula:
            row.update(formula=formula, per_seed={})  # another schedule under this name: score it again
        for seed in (s for s in seeds if str(s) not in row["per_seed"]):
            row["per_seed"][str(seed)] = scored = _timed(score_row, pipe, mode, schedule, seed, setup["num_clips"],
                                                         results["ceilings"], judge, preset, num_inference_steps=steps)
            log(f"{name}, seed {seed}: {scored['wall_s']:.0f} s")
            results["wall_time_s"] = wall_time(results)
            save(results)
    results["wall_time_s"] = wall_time(results)
    return results


def sync_summary(per_seed: list[dict], recon: dict) -> dict[str, dict[str, float]]:
    """The lip-sync targets of the sampling seeds' rows, mean and std: the Sync-C-lite and Sync-D-lite margins over
    chance as shares of the reconstruction's (:func:`~humo_lite.eval.sync_check.margin_shares`) and r of mouth vs lip
    law within a clip."""
    shares = [margin_shares(row, recon) for row in per_seed]
    values = {key: [share[key] for share in shares] for key in ("sync_c_margin_share", "sync_d_margin_share")}
    values["r_within_clip"] = [row["r_within_clip"] for row in per_seed]
    return {key: {"mean": float(np.mean(v)), "std": float(np.std(v))} for key, v in values.items()}


def summarise(results: dict, seeds) -> dict:
    """Each row scored for every seed: its mode, ratios to the reconstruction ceiling and, where there is audio,
    :func:`sync_summary` (mean ± std); ``{}`` before any test clip is scored (a ``choose_only`` run)."""
    if not results.get("rows"):
        return {}
    recon = results["ceilings"]["reconstruction"]
    out = {}
    for name, row in results["rows"].items():
        per_seed = [row["per_seed"][str(s)] for s in seeds if str(s) in row["per_seed"]]
        if len(per_seed) == len(list(seeds)):
            out[name] = {"mode": row["mode"], "ratios": ratio_summary(per_seed, row["mode"], recon)}
            if "Sync-C-lite" in MODE_METRICS[row["mode"]]:
                out[name]["sync"] = sync_summary(per_seed, recon)
    return out


__all__ = ["CHOICE_POOL", "MODE_METRICS", "RATIO_METRICS", "STATIC_A_CANDIDATES", "STATIC_B_CANDIDATES", "SWITCH_SWEEP",
           "ceiling", "choose_checkpoint", "choose_default", "choose_static", "evaluate", "ratio_summary",
           "recipe_scores", "row_names", "schedule_rows", "score_row", "static", "summarise", "sync_summary",
           "validation_ceilings",
           "validation_rows", "wall_time"]

"""``humo-lite reproduce --ablations``: the ablations of chapters 03 and 05–06 and chapter 07's guidance schedules,
trained and scored for N seeds, written as one results file (JSON + a markdown table).

Each part is the library the chapter's script runs, with the script's defaults (:class:`AblationSettings`):

- chapter 03 (:mod:`humo_lite.ablations`, ``scripts/stage1_ablations.py``): stage 1 with self-attention only
  (HuMo), with full fine-tuning, and with the reference first (first seed only), from the shipped stage 0;
- chapters 05–06 (:mod:`humo_lite.stage2_ablations`, ``scripts/stage2_ablations.py``): per seed a stage 1, then
  stage 2 with and without focus-by-predicting, and one joint stage, at the shipped recipe's focus weight;
- chapter 07 (:mod:`humo_lite.eval.guidance_check`, ``scripts/stage2_guidance_schedules.py``): the shipped stage 2
  under every guidance schedule, static A and B chosen on the ``validation_voice`` pool, sampling seeds 0..N-1.

Every run resumes from its folder under ``out/ablations`` (a finished run is read back), so a stopped command
continues with the same arguments. The results file records each run's manifest path beside its numbers, the
command, the caps and the wall time. At ``humo-micro`` this is hours of CPU (each part's time is in the files
under ``data_samples/ablations/``); at ``humo-nano`` with caps it is minutes.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from .ablations import SCORES as STAGE1_SCORES
from .ablations import VARIANTS, train_variants, write_results
from .eval.guidance_check import CHOICE_POOL, evaluate, summarise
from .io import atomic_path, machine_info, read_json, sha256_file, write_json
from .pipeline import HuMoLitePipeline
from .presets import get_preset
from .recipes import Stage2Config
from .reproduce import Limits
from .shipped import data_samples_dir, default_checkpoint, relative_path
from .stage2_ablations import SCORES as STAGE2_SCORES
from .stage2_ablations import summarise as summarise_stage2
from .stage2_ablations import train_runs


@dataclass(frozen=True)
class AblationSettings:
    """The sizes of each part: the chapter scripts' defaults (which made ``data_samples/ablations/``)."""

    stage1_steps: int = 3000  # chapter 03: the stage-1 recipe's steps
    stage1_clips: int = 1500
    stage1_eval_clips: int = 48
    progressive_stage1_steps: int = 600  # chapters 05–06: stage 1, then stage 2, each this long; joint: both
    progressive_stage2_steps: int = 600
    stage2_eval_clips: int = 48
    curve_every: int = 200
    guidance_clips: int = 48  # chapter 07: test clips per sampling seed
    guidance_val_clips: int = 32  # validation clips that choose static A and B
    guidance_steps: int = 20  # denoising steps

    def capped(self, limits: Limits) -> AblationSettings:
        """Every step count capped by ``limits.max_steps`` and every clip count by ``limits.max_clips``."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_steps") and f.name != "guidance_steps" or f.name == "curve_every":
                value = limits.steps(value)
            elif f.name.endswith("_clips"):
                value = limits.clips(value)
            values[f.name] = value
        return AblationSettings(**values)


def default_results(preset: str) -> Path:
    """``data_samples/results/ablations-<preset>.json``."""
    return data_samples_dir() / "results" / f"ablations-{get_preset(preset).name}.json"


def _chapter03(preset: str, out: Path, seeds: list[int], s: AblationSettings, command: str) -> dict:
    runs = train_variants(preset, list(VARIANTS), seeds, out / "stage1", steps=s.stage1_steps,
                          num_clips=s.stage1_clips, eval_clips=s.stage1_eval_clips, command=command)
    summary = write_results(out / "stage1.json", preset, runs, list(VARIANTS), {"command": command})
    manifests = {f"{r['variant']}, seed {r['seed']}": relative_path(Path(r["folder"]) / "pipeline" / "manifest.json")
                 for r in runs}
    return {"summary": summary, "manifests": manifests, "scores": list(STAGE1_SCORES),
            "time_s": round(sum(r["wall_time_s"] for r in runs), 1)}


def _chapters0506(preset: str, out: Path, seeds: list[int], s: AblationSettings, command: str) -> dict:
    folder = out / "stage2"
    train_runs(preset, seeds, folder, s.progressive_stage1_steps, s.progressive_stage2_steps,
               Stage2Config().focus_weight, s.stage2_eval_clips, curve_every=s.curve_every, command=command)
    result = summarise_stage2(folder, out / "stage2.json", preset, {"command": command})
    runs = sorted(p for p in folder.glob("*-seed*") if p.is_dir())
    manifests = {p.name: relative_path(p / "pipeline" / "manifest.json") for p in runs}
    return {"summary": result["table"], "comparisons": result["comparisons"], "manifests": manifests,
            "focus_weight": Stage2Config().focus_weight, "scores": list(STAGE2_SCORES),
            "time_s": read_json(out / "stage2.json")["time_s"]["total"]}


def _chapter07(preset: str, out: Path, seeds: list[int], s: AblationSettings) -> dict:
    checkpoint = default_checkpoint(preset, 2)
    setup = {"preset": get_preset(preset).name, "checkpoint": relative_path(checkpoint),
             "checkpoint_sha256": sha256_file(checkpoint / "transformer" / "diffusion_pytorch_model.safetensors"),
             "num_clips": s.guidance_clips, "validation_clips": s.guidance_val_clips,
             "num_inference_steps": s.guidance_steps, "pool": "heldout_voice", "validation_pool": CHOICE_POOL}
    path = out / "guidance_schedules.json"
    results = read_json(path) if path.is_file() else {}
    if results.get("setup") != setup:  # another checkpoint or size: start afresh
        results = {"setup": setup, "rows": {}, "wall_time_s": 0.0}
    pipe = HuMoLitePipeline.from_pretrained(checkpoint)
    pipe.set_progress_bar_config(disable=True)
    torch.manual_seed(0)
    evaluate(pipe, results, seeds, save=lambda r: write_json(path, r), log=lambda line: print(line, flush=True))
    write_json(path, results)
    return {"summary": summarise(results, seeds), "chosen": results["validation"]["chosen"],
            "manifests": {"stage 2 (every row)": relative_path(checkpoint / "manifest.json")}, "setup": setup,
            "time_s": results["wall_time_s"]}


def _cell(stats: dict | None) -> str:
    if not stats:
        return "—"
    std = stats.get("std")
    return f"{stats['mean']:.3f} ± {std:.3f}" if std is not None else f"{stats['mean']:.3f}"


def _table(rows: dict[str, dict], columns: list[str]) -> list[str]:
    lines = ["| run | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    return lines + [f"| {name} | " + " | ".join(_cell(row.get(c)) for c in columns) + " |"
                    for name, row in rows.items()]


def markdown(results: dict) -> str:
    """The results file as markdown: one table per part (mean ± std over the seeds), the paired comparisons of
    chapters 05–06, and where each run's manifest is."""
    n, machine = len(results["seeds"]), results["machine"]
    lines = [f"# Ablations at {results['preset']}, {n} seeds", "",
             f"`{results['command']}`{'; caps ' + str(results['limits']) if any(results['limits'].values()) else ''}."
             f" The runs' own times add up to {results['compute_time_s']['total'] / 3600:.1f} core-hours "
             f"({results['compute_time_s']['note']}). This invocation took {results['wall_time_s'] / 60:.1f} min on "
             f"{machine['cpu_count']} CPUs ({machine['torch_threads']} torch threads); runs read back from an earlier "
             "invocation add nothing to it.", ""]
    ch03, ch56, ch07 = results["chapter 03"], results["chapters 05-06"], results["chapter 07"]
    lines += ["## Chapter 03: what stage 1 trains", ""] + _table(ch03["summary"], ch03["scores"]) + [""]
    lines += ["## Chapters 05–06: focus-by-predicting, progressive vs joint", ""]
    lines += _table(ch56["summary"], ch56["scores"]) + [""]
    for name, test in ch56["comparisons"].items():
        cells = [f"{k} {v['mean']:+.3f} (p = {v['p_value']:.2g})" if v.get("p_value") is not None
                 else f"{k} {v['mean']:+.3f}" for k, v in test.items() if isinstance(v, dict)]
        lines.append(f"- {name}, {test['runs'][0]} − {test['runs'][1]}, paired by seed: " + "; ".join(cells))
    lines += ["", "## Chapter 07: guidance schedules (ratios to the reconstruction ceiling)", ""]
    columns = list(dict.fromkeys(k for row in ch07["summary"].values() for k in row["ratios"]))
    lines += _table({name: row["ratios"] for name, row in ch07["summary"].items()}, columns) + [""]
    lines += ["## Manifests", ""] + [f"- {part}: {run}: `{path}`" for part in ("chapter 03", "chapters 05-06",
                                                                              "chapter 07")
                                     for run, path in results[part]["manifests"].items()]
    return "\n".join(lines) + "\n"


PART_FILES = {"stage1.json": "stage1.json", "stage2.json": "stage2.json",
              "guidance_schedules.json": "stage2_guidance_schedules.json"}
"""Each part's own results file (per-seed rows) under ``out/ablations`` → its name in the folder beside the results
JSON: the names of the chapter scripts' files in ``data_samples/ablations``, which
:func:`humo_lite.table3.toy_table3` reads either way."""


def run_ablations(preset: str, out: str | os.PathLike, seeds, limits: Limits | None = None,
                  results: str | os.PathLike | None = None, command: str = "") -> tuple[Path, Path]:
    """Train and score every part for ``seeds`` (runs under ``out/ablations``, resuming); write the results JSON
    (default :func:`default_results`), the markdown table beside it, and, in the folder of the same name
    (``ablations-<preset>/``), each part's own file (:data:`PART_FILES`) and a copy of every run's manifest, which the
    results name. Returns the JSON's and the table's paths."""
    seeds, out = list(seeds), Path(out) / "ablations"
    if len(seeds) < 2:
        raise ValueError(f"--seeds must be at least 2 (a spread needs two seeds; the chapters use 3), got {len(seeds)}")
    limits = limits or Limits()
    settings = AblationSettings().capped(limits)
    start = time.perf_counter()
    parts = {"chapter 03": _chapter03(preset, out, seeds, settings, command),
             "chapters 05-06": _chapters0506(preset, out, seeds, settings, command),
             "chapter 07": _chapter07(preset, out, seeds, settings)}
    path = Path(results) if results else default_results(preset)
    _ship_manifests(parts, path.with_suffix(""))
    compute = {part: result["time_s"] for part, result in parts.items()}
    compute = {**compute, "total": round(sum(compute.values()), 1),
               "note": "each run's own time (training, its check or its rows), so a run counts once however many "
                       "invocations it took; each on one core"}
    record = {"preset": get_preset(preset).name, "seeds": seeds, "command": command, "limits": asdict(limits),
              "settings": asdict(settings), "wall_time_s": round(time.perf_counter() - start, 1),
              "wall_time_note": "this command's run; runs read back from an earlier run add no time (compute_time_s "
                                "counts them)", "compute_time_s": compute,
              "machine": machine_info(), **parts}
    write_json(path, record)
    md = path.with_suffix(".md")
    with atomic_path(md) as tmp:
        tmp.write_text(markdown(record))
    for name, shipped in PART_FILES.items():
        write_json(path.with_suffix("") / shipped, read_json(out / name))
    return path, md


def _ship_manifests(parts: dict, folder: Path) -> None:
    """Copy every run's manifest from its run folder (under ``--out``, not shipped) into ``folder/manifests/<part>/``
    and point ``parts`` at the copies (``run_folders`` keeps where each run was trained). A manifest already in the
    shipped data (chapter 07's stage 2) stays where it is."""
    for part, result in parts.items():
        for run, name in list(result["manifests"].items()):
            source = Path(name)
            if name.startswith("data_samples/") or not source.is_file():
                continue
            copy = folder / "manifests" / part.replace(" ", "").replace("-", "") / f"{source.parent.parent.name}.json"
            write_json(copy, read_json(source))
            result.setdefault("run_folders", {})[run] = str(source.parent.parent)
            result["manifests"][run] = relative_path(copy)


__all__ = ["PART_FILES", "AblationSettings", "default_results", "markdown", "run_ablations"]

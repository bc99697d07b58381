"""The toy's Table 3: HuMo's ablations, each measured here over seeds, beside the paper's numbers.

HuMo's Table 3 (HuMo-17B; ``docs/paper_notes.md`` §9.3) removes one ingredient at a time — full fine-tuning
instead of self-attention only, one joint stage instead of progressive training, no focus-by-predicting — and
reports AES, TVA, ID-Cur and Sync-C. Our stand-ins are TVA-lite, ID-lite and Sync-C-lite (chapter 08); each of
our ablations lives in its own results file, written by its script:

=================================  ==================================================  ================================
variant (against HuMo's recipe)     results file (``data_samples/ablations/``)          script (``scripts/``)
=================================  ==================================================  ================================
full fine-tuning                    ``stage1.json`` (stage 1, chapter 03)               ``stage1_ablations.py``
without progressive training        ``stage2.json`` (chapter 06)                        ``stage2_ablations.py``
without focus-by-predicting         ``stage2.json`` (chapter 05)                        ``stage2_ablations.py``
static guidance, weights A or B     ``stage2_guidance_schedules.json`` (chapter 07)     ``stage2_guidance_schedules.py``
=================================  ==================================================  ================================

``humo-lite reproduce --ablations`` writes all three again, from one command, into
``data_samples/results/ablations-<preset>/``, under the same names; where that folder is shipped, the table reads it
(:func:`default_folder`).

:func:`toy_table3` reads them and, per variant and metric, gives the per-seed values of the variant and of HuMo's
recipe trained beside it, the difference paired by seed (mean ± std, paired t-test), the relative difference
beside the paper's, and a verdict on the paper's direction. The training variants pair *training* seeds. The paper
shows static against time-adaptive guidance only as pictures (its Fig. 4: weights A alone keep the text but lose
identity, weights B alone keep identity but lose text), so those rows carry the paper's direction without a number,
and pair the *sampling* seeds of one model (the shipped stage 2) under each schedule.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from scipy import stats

from .shipped import data_samples_dir

PAPER = {"HuMo-17B": {"TVA": 6.508, "ID-Cur": 0.747, "Sync-C": 6.252},
         "full fine-tuning": {"TVA": 6.157, "ID-Cur": 0.749, "Sync-C": 6.250},
         "without progressive training": {"TVA": 6.375, "ID-Cur": 0.724, "Sync-C": 6.106},
         "without focus-by-predicting": {"TVA": 6.507, "ID-Cur": 0.730, "Sync-C": 5.946}}
"""HuMo-17B's Table 3 (the AES column left out: we have no aesthetic stand-in)."""
METRICS = {"TVA": "TVA-lite", "ID-Cur": "ID-lite", "Sync-C": "Sync-C-lite"}
"""Paper metric → our stand-in."""
PAPER_DIRECTIONS = {"static guidance, weights A": {"ID-lite": -1.0}, "static guidance, weights B": {"TVA-lite": -1.0}}
"""What HuMo's Fig. 4 shows of static guidance against the time-adaptive schedule, without numbers: the sign of the
difference on the metric it names (A: weaker identity; B: weaker text adherence)."""
GUIDANCE_ROWS = {"static guidance, weights A": "static A", "static guidance, weights B": "static B"}
"""Table 3's static-guidance variants → chapter 07's rows; each is paired with ``"adaptive (paper)"``."""


def _stage1_rows(path: Path) -> dict:
    """Full fine-tuning vs self-attention only, per seed, from chapter 03's results file (stage 1: no sync)."""
    summary = json.loads(path.read_text())["summary"]
    humo, full = summary["self-attention only (HuMo)"], summary["full fine-tuning"]
    pick = {"TVA-lite": "TVA-lite (TI)", "ID-lite": "ID-lite"}
    return {"full fine-tuning": {ours: (full[key]["values"], humo[key]["values"]) for ours, key in pick.items()}}


def _metric_values(rows: list[tuple[dict, dict]]) -> dict[str, list[float]]:
    """TVA-lite, ID-lite and Sync-C-lite (absolute and as ratios to both ceilings), one value per ``(scores,
    ceilings)`` pair — one per seed."""
    out: dict[str, list[float]] = {}
    for scores, ceilings in rows:
        values = {"TVA-lite": scores["tva_lite"], "ID-lite": scores["id_lite"], "Sync-C-lite": scores["sync_c"],
                  "Sync-C-lite / recon": scores["sync_c"] / ceilings["reconstruction"]["sync_c"],
                  "Sync-C-lite / real": scores["sync_c"] / ceilings["real"]["sync_c"]}
        for key, value in values.items():
            out.setdefault(key, []).append(float(value))
    return out


def _seed_values(runs: dict, run: str) -> dict[str, list[float]]:
    """:func:`_metric_values` of one stage-2 run, per training seed."""
    checks = [runs[run][seed]["check"] for seed in sorted(runs[run], key=int)]
    return _metric_values([(check["mean"], check["ceilings"]) for check in checks])


def _guidance_rows(path: Path) -> dict:
    """Static guidance (weights A, weights B) against the time-adaptive schedule, per sampling seed, from chapter
    07's results file (:func:`_metric_values`; every row shares the test clips' ceilings)."""
    results = json.loads(path.read_text())

    def values(row: str) -> dict[str, list[float]]:
        per_seed = results["rows"][row]["per_seed"]
        return _metric_values([(per_seed[s], results["ceilings"]) for s in sorted(per_seed, key=int)])

    adaptive = values("adaptive (paper)")
    return {variant: {key: (mine, adaptive[key]) for key, mine in values(row).items()}
            for variant, row in GUIDANCE_ROWS.items() if row in results["rows"]}


def _stage2_rows(path: Path) -> dict:
    """Joint training and no focus, each against progressive training with focus, from chapters 05–06's file."""
    runs = json.loads(path.read_text())["runs"]
    humo = _seed_values(runs, "progressive, focus (HuMo)")
    rows = {}
    for variant, run in (("without progressive training", "joint, focus"),
                         ("without focus-by-predicting", "progressive, no focus")):
        if run in runs:
            mine = _seed_values(runs, run)
            rows[variant] = {key: (mine[key], humo[key]) for key in mine}
    return rows


def compare(variant: list[float], humo: list[float]) -> dict:
    """The variant against HuMo's recipe, paired by seed: means, difference (mean ± std), relative difference and
    the paired t-test's p-value (None when every difference is the same)."""
    a, b = np.asarray(variant, float), np.asarray(humo, float)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"need the same seeds for the variant and HuMo's recipe, at least 2; got {len(a)} and "
                         f"{len(b)}")
    diff = a - b
    p = float(stats.ttest_rel(a, b).pvalue) if diff.std() > 0 else None
    return {"variant": a.tolist(), "humo": b.tolist(), "variant_mean": float(a.mean()), "humo_mean": float(b.mean()),
            "difference": float(diff.mean()), "difference_std": float(diff.std(ddof=1)),
            "relative": float(diff.mean() / b.mean()), "p_value": p, "seeds": len(a)}


def verdict(toy: dict, paper_relative: float, alpha: float = 0.05) -> str:
    """Whether the paper's direction (the sign of its relative difference) reproduces in the toy."""
    if abs(paper_relative) < 1e-3:
        return "the paper shows no difference"
    if abs(toy["difference"]) < 1e-9:  # equal up to float rounding (e.g. the same share of clips, seeds swapped)
        return "no difference in the toy"
    same = np.sign(toy["difference"]) == np.sign(paper_relative)
    significant = toy["p_value"] is not None and toy["p_value"] < alpha
    if same:
        return "reproduces" if significant else "same direction, not significant"
    return "opposite direction" + ("" if significant else ", not significant")


def default_folder(preset: str = "humo-micro") -> Path:
    """Where the shipped Table 3 comes from: ``data_samples/results/ablations-<preset>/``, the part files that
    ``humo-lite reproduce --ablations`` wrote, when they are there; else the chapter scripts' files in
    ``data_samples/ablations``."""
    reproduced = data_samples_dir() / "results" / f"ablations-{preset}"
    return reproduced if reproduced.is_dir() else data_samples_dir() / "ablations"


def toy_table3(folder: str | os.PathLike | None = None) -> dict:
    """Every variant the results files in ``folder`` (default: :func:`default_folder`) hold:
    ``{variant: {metric: {..compare.., "paper_relative" or "paper_direction", "verdict"}}}`` plus, per stage-2 and
    guidance variant, Sync-C-lite as ratios to the reconstruction and real ceilings."""
    folder = Path(folder) if folder is not None else default_folder()
    rows = {}
    for name, reader in (("stage1.json", _stage1_rows), ("stage2.json", _stage2_rows),
                         ("stage2_guidance_schedules.json", _guidance_rows)):
        if (folder / name).is_file():
            rows.update(reader(folder / name))
    if not rows:
        raise FileNotFoundError(f"no ablation results in {folder}; expected stage1.json, stage2.json and/or "
                                "stage2_guidance_schedules.json (scripts/stage1_ablations.py, "
                                "scripts/stage2_ablations.py, scripts/stage2_guidance_schedules.py)")
    table = {}
    for variant, values in rows.items():
        table[variant] = {}
        for key, (mine, humo) in values.items():
            entry = compare(mine, humo)
            paper = next((p for p, ours in METRICS.items() if ours == key), None)
            if variant in PAPER_DIRECTIONS:
                if key in PAPER_DIRECTIONS[variant]:
                    entry["paper_direction"] = PAPER_DIRECTIONS[variant][key]
                    entry["verdict"] = verdict(entry, entry["paper_direction"])
            elif paper is not None:
                entry["paper_relative"] = PAPER[variant][paper] / PAPER["HuMo-17B"][paper] - 1
                entry["verdict"] = verdict(entry, entry["paper_relative"])
            table[variant][key] = entry
    return table


__all__ = ["GUIDANCE_ROWS", "METRICS", "PAPER", "PAPER_DIRECTIONS", "compare", "default_folder", "toy_table3",
           "verdict"]

"""Evaluation (DESIGN §6): a judge network and the paper's metrics, lite.

``Judge`` / ``load_judge`` / ``train_judge`` live in :mod:`.judge`; ``evaluate`` and the single metrics
(TVA-lite, ID-lite, Sync-C/D-lite, Quality-lite) in :mod:`.metrics`.
"""

from .judge import Judge, JudgeConfig, default_judge_dir, judge_specs, load_judge, render_set, train_judge
from .metrics import (
    EvalTable,
    effect_size,
    evaluate,
    frechet_distance,
    id_lite,
    metric_validation,
    parse_caption,
    shift_audio,
    sync_curve,
    sync_lite,
    tva_lite,
    validate_judge,
)

__all__ = [
    "EvalTable",
    "Judge",
    "JudgeConfig",
    "default_judge_dir",
    "effect_size",
    "evaluate",
    "frechet_distance",
    "id_lite",
    "judge_specs",
    "load_judge",
    "metric_validation",
    "parse_caption",
    "render_set",
    "shift_audio",
    "sync_curve",
    "sync_lite",
    "train_judge",
    "tva_lite",
    "validate_judge",
]

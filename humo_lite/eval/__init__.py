"""Evaluation (``docs/design.md`` §6): a judge network and the paper's metrics, lite.

Layered one way: :mod:`.judge` (the network, :func:`load_judge`) → :mod:`.metrics` (TVA-lite, ID-lite,
Sync-C/D-lite, Quality-lite, :func:`evaluate`) → :mod:`.validation` (are the metrics trustworthy?) →
:mod:`.judge_training` (``humo-lite train judge``). :mod:`.judge_data` renders the clips the judge is
trained and validated on; :mod:`.scene_pixels` and :mod:`.scene_check` read a generated clip's scene.
"""

from .identity_check import heldout_identity_check
from .judge import Judge, JudgeCheckpoint, default_judge_dir, load_judge
from .judge_data import judge_specs, render_set
from .judge_training import JudgeTrainConfig, train_judge
from .metrics import (
    EvalTable,
    effect_size,
    evaluate,
    frechet_distance,
    id_lite,
    parse_caption,
    shift_audio,
    sync_curve,
    sync_lite,
    tva_lite,
)
from .scene_check import heldout_scene_check
from .validation import corrupt, metric_validation, validate_judge

__all__ = [
    "EvalTable",
    "Judge",
    "JudgeCheckpoint",
    "JudgeTrainConfig",
    "corrupt",
    "default_judge_dir",
    "effect_size",
    "evaluate",
    "frechet_distance",
    "heldout_identity_check",
    "heldout_scene_check",
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

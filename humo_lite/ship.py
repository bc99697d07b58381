"""Ship a trained pipeline folder (stage 0, 1 or 2): DiT and text-encoder weights stored in float16.

Stage 0 trains in float32. The shipped copy stores the DiT's and the text encoder's weights in float16,
which halves the repository's size (``humo-micro``'s DiT: 15.8 MB -> 7.9 MB); diffusers loads them back
into the float32 models. Rounding to float16 moves each weight by at most ~5e-4 relative, so the script
measures the checkpoint's check again on the rounded weights — stage 0: the held-out scene check; stage 1:
the held-out identity check in TI and T mode; stage 2: the held-out lip-sync check — and writes that into
the manifest as ``metrics`` (the
float32 run's numbers stay as ``metrics_float32``). The VAE and the other manifests are copied as they are.
When the check itself changed since training (e.g. the pipeline's default guidance), ``--rescore-float32``
runs it on the float32 weights too, so both numbers come from the same check.

``scripts/ship_checkpoint.py`` is its command line (about a minute)::

    python scripts/ship_checkpoint.py outputs/micro-stage0-roles/pipeline data_samples/checkpoints/humo-micro
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from .eval import heldout_scene_check
from .io import atomic_dir, record_checksums, write_json
from .models.focus import FaceMaskHead
from .pipeline import HuMoLitePipeline
from .recipes import MASK_HEAD_FOLDER, stage1_checks, stage2_checks
from .shipped import relative_path, resolve_recorded

HALF = ("transformer", "text_encoder")


def strip_local_paths(folder: Path) -> None:
    """Drop ``_name_or_path`` (where this machine loaded a component from) from every config in ``folder``."""
    for config in folder.rglob("*.json"):
        data = json.loads(config.read_text())
        if isinstance(data, dict) and data.pop("_name_or_path", None) is not None:
            write_json(config, data)


def rescore(pipe, manifest: dict, mask_head=None) -> dict:
    """The check the manifest's ``metrics`` came from, run again on ``pipe``: same clips, same seed (a stage 2
    trained with focus-by-predicting: its ``mask_head`` scored too)."""
    metrics, seed = manifest["metrics"], manifest.get("seed", 0)
    if manifest.get("kind") == "stage1":
        return stage1_checks(pipe, metrics["TI"]["num_clips"], seed, manifest["preset"], progress=False)
    if manifest.get("kind") == "stage2":
        tia = metrics["checks"]["TIA"]
        stage1 = HuMoLitePipeline.from_pretrained(resolve_recorded(manifest["stage1"]))
        stage1.set_progress_bar_config(disable=True)
        return stage2_checks(pipe, stage1, tia["num_clips"], tia["seeds"], manifest["preset"], progress=False,
                             mask_head=mask_head)
    return heldout_scene_check(pipe, metrics.get("num_clips", 48), seed=seed)


def ship_checkpoint(src: str | Path, dst: str | Path, command: str | None = None,
                    rescore_float32: bool = False) -> dict:
    """Copy the pipeline folder ``src`` to ``dst`` (atomically, replacing it) with float16 weights."""
    src, dst = Path(src), Path(dst)
    if not (src / "model_index.json").is_file() or not (src / "manifest.json").is_file():
        raise FileNotFoundError(f"{src} is not a pipeline folder (needs model_index.json and manifest.json)")
    manifest = json.loads((src / "manifest.json").read_text())
    pipe = HuMoLitePipeline.from_pretrained(src)
    pipe.set_progress_bar_config(disable=True)
    head = FaceMaskHead.from_pretrained(src / MASK_HEAD_FOLDER) if (src / MASK_HEAD_FOLDER).is_dir() else None
    metrics = manifest.get("metrics") or {}
    if metrics and rescore_float32:
        metrics = rescore(pipe, manifest, head)
        manifest["metrics_rescored_at_shipping"] = True
    with torch.no_grad():
        for name in HALF:
            for param in getattr(pipe, name).parameters():
                param.copy_(param.half().float())  # exactly what float32 -> float16 -> float32 loading gives
    rounded = rescore(pipe, manifest, head) if metrics else {}  # the head stays float32 (training only, small)
    manifest.update(metrics=rounded, metrics_float32=metrics, stored_dtype={name: "float16" for name in HALF},
                    shipped_with=command or f"scripts/ship_checkpoint.py {relative_path(src)} {relative_path(dst)}")
    with atomic_dir(dst, overwrite=True) as tmp:
        for name in HALF:
            getattr(pipe, name).half()
        pipe.save_pretrained(tmp, safe_serialization=True)
        if head is not None:
            shutil.copytree(src / MASK_HEAD_FOLDER, Path(tmp) / MASK_HEAD_FOLDER)
        if (src / "vae" / "manifest.json").is_file():
            shutil.copy(src / "vae" / "manifest.json", Path(tmp) / "vae" / "manifest.json")
        for extra in src.glob("*_manifest.json"):  # e.g. stage 1's copy of its stage 0's manifest
            shutil.copy(extra, Path(tmp) / extra.name)
        write_json(Path(tmp) / "manifest.json", manifest)
        strip_local_paths(Path(tmp))
        vae_manifest = Path(tmp) / "vae" / "manifest.json"
        if vae_manifest.is_file() and "sha256" in json.loads(vae_manifest.read_text()):
            record_checksums(Path(tmp) / "vae")  # the VAE as saved here
        manifest["sha256"] = record_checksums(tmp)  # the float16 files' SHA-256, checked on load
        for file in Path(tmp).rglob("*"):
            file.chmod(0o755 if file.is_dir() else 0o644)
    return manifest


__all__ = ["HALF", "rescore", "ship_checkpoint", "strip_local_paths"]

"""Where the shipped data lives: the speech bank, the checkpoints and the judge (``docs/design.md`` §10).

The library needs a few files at run time — ``speech_bank/`` (the recordings that drive the toy world's
lips), ``checkpoints/`` (the shipped pipelines and the judge) — and finds them in one folder, the first of:

1. ``$HUMO_LITE_DATA_SAMPLES``, when set (a copy anywhere; it must exist);
2. ``humo_lite/data_samples/`` inside the installed package (``pip install .`` or a wheel ships it as
   package data);
3. the repository's ``data_samples/`` beside the package (a clone, or ``pip install -e .``).

A folder that is not there is an error naming ``HUMO_LITE_DATA_SAMPLES``. The repository's folder also holds
what only the chapters read (``ablations/``, ``byo_example/``); the wheel carries what the library needs.
"""

from __future__ import annotations

import os
from pathlib import Path

from .presets import PRESETS, get_preset

ENV_VAR = "HUMO_LITE_DATA_SAMPLES"
PACKAGE_DATA = Path(__file__).resolve().parent / "data_samples"  # in an installed wheel
REPOSITORY_DATA = Path(__file__).resolve().parents[1] / "data_samples"  # in a clone or an editable install


def data_samples_dir() -> Path:
    """The folder of the shipped data: ``$HUMO_LITE_DATA_SAMPLES``, the package's copy, or the repository's."""
    if os.environ.get(ENV_VAR):
        folder = Path(os.environ[ENV_VAR]).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"{ENV_VAR} is {folder}, which is not a folder; point it at a copy of the "
                                    f"repository's data_samples/ (with speech_bank/ and checkpoints/)")
        return folder
    for folder in (PACKAGE_DATA, REPOSITORY_DATA):
        if (folder / "speech_bank").is_dir():
            return folder
    raise FileNotFoundError(f"humo_lite's shipped data is not installed (looked in {PACKAGE_DATA} and "
                            f"{REPOSITORY_DATA}); set {ENV_VAR} to a copy of the repository's data_samples/")


def default_checkpoint(name: str, stage: int = 0) -> Path:
    """A shipped checkpoint folder: ``checkpoints/<preset>`` (stage 0), ``checkpoints/<preset>-stage<N>``, or
    another shipped folder by name (``"judge"``)."""
    if name in PRESETS:
        name = get_preset(name).name
    elif stage:
        raise ValueError(f"stage {stage} needs a preset name ({sorted(PRESETS)}), got {name!r}")
    return data_samples_dir() / "checkpoints" / (name if stage == 0 else f"{name}-stage{stage}")


def relative_path(path: str | os.PathLike) -> str:
    """A path as a manifest records it: ``data_samples/…`` when inside the shipped data, else relative to the
    working folder when under it, else as given. Never the build machine's absolute path to shipped data."""
    path = Path(path)
    try:
        return str(Path("data_samples") / path.resolve().relative_to(data_samples_dir().resolve()))
    except (ValueError, FileNotFoundError):
        pass
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def resolve_recorded(path: str | os.PathLike) -> Path:
    """The folder a manifest's recorded path names: ``data_samples/…`` is looked up in :func:`data_samples_dir`
    (wherever the shipped data is installed), anything else as given."""
    path = Path(path)
    if not path.is_absolute() and path.parts[:1] == ("data_samples",):
        return data_samples_dir().joinpath(*path.parts[1:])
    return path


__all__ = ["ENV_VAR", "data_samples_dir", "default_checkpoint", "relative_path", "resolve_recorded"]

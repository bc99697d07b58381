"""An install that works anywhere: the shipped data found wherever it lives, manifests without this machine's
paths, and (slow) a wheel installed into a fresh virtual environment that runs from another folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from humo_lite.shipped import ENV_VAR, data_samples_dir, default_checkpoint, relative_path, resolve_recorded

ROOT = Path(__file__).resolve().parents[1]
ABSOLUTE = re.compile(r"(?:^|[\s=:'\"])(/(?:[\w.+-]+/)+[\w.+-]*|[A-Za-z]:\\[\w\\.+-]+)")
"""A POSIX path of two parts or more, or a Windows drive path, at the start of a value or after a space."""


def absolute_paths(value, where: str = "") -> list[str]:
    """Every string inside a JSON value that holds an absolute file path, as ``where: text``."""
    if isinstance(value, dict):
        return [hit for key, v in value.items() for hit in absolute_paths(v, f"{where}.{key}")]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in absolute_paths(v, f"{where}[{i}]")]
    if isinstance(value, str) and ABSOLUTE.search(value):
        return [f"{where}: {value[:120]}"]
    return []


def shipped_manifests() -> list[Path]:
    return sorted(p for p in (ROOT / "data_samples").rglob("*.json") if "speech_bank" not in p.parts)


def test_the_absolute_path_check_can_fail():
    """The case the manifest test exists for, and the strings it must let through."""
    assert absolute_paths({"stage0": "/work/main/data_samples/checkpoints/humo-micro"}) == [
        ".stage0: /work/main/data_samples/checkpoints/humo-micro"]
    assert absolute_paths({"runs": [{"command": "python scripts/x.py --out /tmp/run/a"}]})
    assert absolute_paths({"checkpoint": "C:\\Users\\me\\humo"})
    assert absolute_paths({"stage0": "data_samples/checkpoints/humo-micro", "unit": "dB/s", "rate": "1/2",
                           "caption": "a person in a red shirt", "command": "humo-lite train stage1"}) == []


@pytest.mark.parametrize("path", shipped_manifests(), ids=lambda p: str(p.relative_to(ROOT / "data_samples")))
def test_shipped_manifests_record_no_absolute_path(path):
    """Paths in shipped manifests are relative to the repository (``data_samples/...``): this machine's
    folders mean nothing on another, and the wheel installs the data somewhere else."""
    assert absolute_paths(json.loads(path.read_text())) == []


def test_a_recorded_path_is_found_where_the_data_is(tmp_path, monkeypatch):
    assert relative_path(default_checkpoint("humo-nano")) == "data_samples/checkpoints/humo-nano"
    assert resolve_recorded("data_samples/checkpoints/humo-nano") == default_checkpoint("humo-nano")
    monkeypatch.chdir(tmp_path)
    assert relative_path(tmp_path / "runs" / "a") == "runs/a"  # under the working folder: relative to it
    copy = tmp_path / "elsewhere"
    (copy / "speech_bank").mkdir(parents=True)
    monkeypatch.setenv(ENV_VAR, str(copy))
    assert resolve_recorded("data_samples/checkpoints/humo-nano") == copy / "checkpoints" / "humo-nano"
    assert resolve_recorded("outputs/s1/pipeline") == Path("outputs/s1/pipeline")


def test_the_data_setting_is_named_when_it_points_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        data_samples_dir()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert data_samples_dir() == tmp_path
    assert default_checkpoint("humo-nano", 1) == tmp_path / "checkpoints" / "humo-nano-stage1"
    assert default_checkpoint("judge") == tmp_path / "checkpoints" / "judge"
    with pytest.raises(ValueError, match="preset name"):
        default_checkpoint("judge", 1)


def test_nothing_installed_is_an_error_naming_the_setting(tmp_path, monkeypatch):
    import humo_lite.shipped as shipped

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(shipped, "PACKAGE_DATA", tmp_path / "a")
    monkeypatch.setattr(shipped, "REPOSITORY_DATA", tmp_path / "b")
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        shipped.data_samples_dir()


def test_pyproject_lists_every_package_and_ships_the_runtime_data():
    from test_packaging import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {".".join(("humo_lite", *p.parent.relative_to(ROOT / "humo_lite").parts)).rstrip(".")
               for p in (ROOT / "humo_lite").rglob("__init__.py")}
    assert set(setuptools["packages"]) == folders | {"humo_lite.data_samples"}
    assert setuptools["package-dir"] == {"humo_lite.data_samples": "data_samples"}


def _run(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 900) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    command = " ".join(map(str, args))
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_runs_from_another_folder(tmp_path):
    """`pip install` of the wheel (not editable), then the tour and the shipped pipeline from a folder that is
    not the repository. Fails if the data is left out of the wheel or found through the repository's path.
    Needs torch==2.13.0 from a local wheel or index (`pip install torch==2.13.0` without a download)."""
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(wheels), "-q"], cwd=tmp_path)
    (wheel,) = wheels.glob("humo_lite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "humo_lite/data_samples/speech_bank/manifest.json" in names
    assert "humo_lite/data_samples/checkpoints/judge/manifest.json" in names
    assert "humo_lite/data_samples/checkpoints/humo-nano/transformer/diffusion_pytorch_model.safetensors" in names
    assert not any("/ablations/" in n or "/byo_example/" in n for n in names)  # the chapters' data stays out
    assert wheel.stat().st_size < 40 * 2**20, f"the wheel weighs {wheel.stat().st_size / 2**20:.1f} MB"
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0", str(wheel)], cwd=tmp_path, timeout=1800)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", HF_HUB_OFFLINE="1")
    out = _run([str(venv / "bin" / "humo-lite"), "tour", "--preset", "humo-nano"], cwd=elsewhere, env=env)
    assert "lip law vs mouth in pixels" in out and (elsewhere / "outputs" / "tour" / "stage2_0.mp4").is_file()
    script = ("import humo_lite, humo_lite.shipped as s, torch\n"
              "from humo_lite import HuMoLitePipeline\n"
              "assert '/site-packages/' in str(s.data_samples_dir()), s.data_samples_dir()\n"
              "pipe = HuMoLitePipeline.from_pretrained(s.default_checkpoint('humo-nano', 1))\n"
              "out = pipe('a person in a red shirt stands in the centre of a blue room, nodding', "
              "num_inference_steps=2, generator=torch.Generator().manual_seed(0))\n"
              "print(tuple(out.frames.shape))\n")
    assert "(1, 9, 16, 16, 3)" in _run([str(python), "-c", script], cwd=elsewhere, env=env)

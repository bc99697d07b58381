"""pyproject.toml is the one source of dependencies; environment.yml must mirror it exactly."""

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, the declared floor: pytest itself depends on tomli there, so it is always installed
    import tomli as tomllib
ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch", "pysoundfile": "soundfile"}  # conda-forge name -> PyPI name


def _split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(r) for r in project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_split(r) for r in extra)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    got = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            got.update(_split(r) for r in dep["pip"] if not r.startswith("-e"))
        elif not dep.startswith(("python", "pip")) or dep.startswith("pip:"):
            name, spec = _split(dep)
            got[CONDA_NAMES.get(name, name)] = spec
    assert got == wanted


def test_jupyterlab_comes_with_the_notebook_extra():
    """The README's `jupyter lab notebooks/` must work after the quick start's install command."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(_split(r)[0] == "jupyterlab" for r in project["optional-dependencies"]["notebooks"])
    install, _ = _quick_start_commands()
    assert "[notebooks" in install and "jupyter lab notebooks/" in (ROOT / "README.md").read_text()


def test_console_script_and_python_floor():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["humo-lite"] == "humo_lite.cli:main"
    assert any(isinstance(d, dict) and "-e . --no-deps" in d["pip"]
               for d in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"])


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, re.S)
    assert block, "README.md needs a '## Quick start' section with a ```bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one():
    install_and_run, test_command = _quick_start_commands()  # exactly two lines
    assert "torch==2.13.0" in install_and_run  # unpinned torch may pull a multi-GB CUDA build
    assert "humo-lite" in install_and_run
    ci = (ROOT / ".ci" / "run").read_text()
    ci_commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    assert test_command in ci_commands, f"{test_command!r} (README) must be what .ci/run runs"
    assert "torch==2.13.0" in ci

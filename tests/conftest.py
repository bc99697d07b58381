"""Shared fixtures: tests run single-threaded-ish and seeded; nothing reaches the network."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Two pytest-xdist workers on two cores: one thread each, or they fight over the cores (4x slower).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))


@pytest.fixture
def cli_status():
    """``humo-lite``'s exit status for an argument list, argparse's own exits (usage errors) included."""
    from humo_lite.cli import main

    def run(argv: list[str]) -> int:
        try:
            return main(argv)
        except SystemExit as exit_:
            return exit_.code

    return run


@pytest.fixture
def world():
    """The smallest world: 16x16 pixels, 9 frames."""
    from humo_lite.presets import get_preset

    return get_preset("humo-nano").world


@pytest.fixture(scope="module")
def audio_dit():
    """A ``humo-nano`` DiT with HuMo's audio cross-attention, its audio layers woken (they start at zero, an
    identity) and a non-trivial head, so that text, image and audio each change the output."""
    from humo_lite.models import build_dit

    torch.manual_seed(1)
    dit = build_dit("humo-nano", conditions={"audio": 80})
    with torch.no_grad():
        for block in dit.blocks:
            block.cond_attn["audio"].out.weight.normal_(0, 0.5)
        dit.head.weight.normal_(0, 0.02)
    return dit.eval()


@pytest.fixture(scope="session")
def smoke_chapter(tmp_path_factory):
    """Run a chapter notebook once per test session in SMOKE mode, shared by every pytest-xdist worker.

    ``smoke_chapter(path)`` returns the executed notebook (``humo_lite.site.execute_chapter``: the reader's inline
    figures, 180 s per cell at most); the chapter's numbers are in ``<its folder>/../results/<stem>.json``. The
    notebook check (``test_notebooks.py``) and the offline site (``test_browser.py``) read the same run: whichever
    asks first runs it while a file lock makes the other wait.
    """
    from filelock import FileLock

    from humo_lite.site import execute_chapter

    root = tmp_path_factory.getbasetemp()
    shared = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "smoke_chapters"
    shared.mkdir(exist_ok=True)

    def run(notebook):
        with FileLock(shared / f"{notebook.stem}.lock"):
            done = shared / "notebooks" / notebook.name
            return done if done.is_file() else execute_chapter(notebook, shared, smoke=True, progress=False,
                                                               cell_timeout=180)

    return run

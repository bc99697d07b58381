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
def world():
    """The smallest world: 16x16 pixels, 9 frames."""
    from humo_lite.presets import get_preset

    return get_preset("humo-nano").world

"""Shared fixtures: tests run single-threaded-ish and seeded; nothing reaches the network."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def world():
    """The smallest world: 16x16 pixels, 9 frames."""
    from humo_lite.presets import get_preset

    return get_preset("humo-nano").world

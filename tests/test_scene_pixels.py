"""The pixel read-out of background and clothing that chapter 02 scores stage 0 with."""

import numpy as np
import pytest

from humo_lite.data import make_clip, make_pool
from humo_lite.eval.scene_pixels import measure_background, scene_accuracy


def _clips(n=30):
    return [make_clip(spec, "humo-micro") for spec in make_pool("heldout_scene")[:n]]


def test_real_clips_read_back_their_scene_and_shuffled_labels_do_not():
    clips = _clips()
    videos = [c.video for c in clips]
    bg, cl = [c.labels["background"] for c in clips], [c.labels["clothing"] for c in clips]
    assert scene_accuracy(videos, bg, cl)["both"] == 1.0
    shuffled = scene_accuracy(videos, bg[1:] + bg[:1], cl[1:] + cl[:1])
    assert shuffled["both"] < 0.3, shuffled


def test_noise_is_not_a_scene_and_bad_shapes_are_rejected():
    clips = _clips(12)
    noise = [np.random.default_rng(i).random(c.video.shape, dtype=np.float32) for i, c in enumerate(clips)]
    acc = scene_accuracy(noise, [c.labels["background"] for c in clips], [c.labels["clothing"] for c in clips])
    assert acc["both"] < 0.3, acc
    with pytest.raises(ValueError, match=r"videos must be \[B, F, H, W, 3\]"):
        measure_background(np.zeros((17, 32, 32)))  # no colour axis

"""Presets: one registry; frame counts must be 4k+1."""

import pytest

from humo_lite.presets import PRESETS, WorldConfig, check_num_frames, get_preset, num_latent_frames


def test_presets_exist_and_grow():
    worlds = [get_preset(name).world for name in ("humo-nano", "humo-micro", "humo-mini")]
    assert [w.height for w in worlds] == sorted(w.height for w in worlds)
    assert all(w.num_samples == w.num_frames * 640 for w in worlds)
    assert get_preset(PRESETS["humo-nano"]) is PRESETS["humo-nano"]


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'humo-huge'; expected one of"):
        get_preset("humo-huge")


@pytest.mark.parametrize("frames", [0, 4, 16, 18, 2.0])
def test_frame_count_must_be_4k_plus_1(frames):
    with pytest.raises(ValueError, match="4k\\+1"):
        check_num_frames(frames)
    with pytest.raises(ValueError, match="4k\\+1"):
        WorldConfig(num_frames=frames)


def test_latent_frames():
    assert [num_latent_frames(f) for f in (1, 5, 9, 17, 97)] == [1, 2, 3, 5, 25]

"""The linear read-out of the lip law from log-mels (chapter 04): the lip law is in a new voice's features."""

import numpy as np
import pytest

from humo_lite.data.speech import bank_keys
from humo_lite.eval import audio_readout
from humo_lite.eval.audio_readout import frame_contexts, lip_law_readout


def test_frame_contexts_put_each_neighbour_in_its_block_zero_past_the_ends():
    features = np.arange(12, dtype=np.float32).reshape(4, 3)  # 4 frames, 3 channels
    ctx = frame_contexts(features, context=1)
    assert ctx.shape == (4, 9)
    np.testing.assert_array_equal(ctx[0], [0, 0, 0, 0, 1, 2, 3, 4, 5])  # frame -1 is zeros
    np.testing.assert_array_equal(ctx[2], [3, 4, 5, 6, 7, 8, 9, 10, 11])
    np.testing.assert_array_equal(frame_contexts(features, 0), features)
    with pytest.raises(ValueError, match=r"features \[frames, channels\]"):
        frame_contexts(features[0], 1)


def test_the_unseen_voice_is_read_almost_as_well_as_the_training_voices():
    tests = {"unseen voice": bank_keys("unseen_voice"), "training voices": bank_keys("heldout_train_voice")}
    out = lip_law_readout(bank_keys("stage2"), tests)
    assert out["train"]["recordings"] == len(bank_keys("stage2")) and out["unseen voice"]["recordings"] == 6
    assert out["unseen voice"]["r"] > 0.9 and out["training voices"]["r"] > 0.9, out
    assert out["unseen voice"]["r_within_recording"] > 0.9, out


def test_the_read_out_fails_when_the_audio_does_not_hold_the_lip_law(monkeypatch):
    real = audio_readout.recording_frames

    def shifted(key, context=2, band_norm=False):  # the mouth of another moment: no law to read
        x, y = real(key, context, band_norm)
        return x, np.roll(y, len(y) // 2)

    monkeypatch.setattr(audio_readout, "recording_frames", shifted)
    out = lip_law_readout(bank_keys("train"), {"unseen voice": bank_keys("unseen_voice")})
    assert out["unseen voice"]["r"] < 0.5, out
    with pytest.raises(ValueError, match="at least one recording"):
        lip_law_readout([], {})

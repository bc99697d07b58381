"""Audio in: Whisper's front end, HuMo's windows, the lip law, and clear errors on bad audio."""

import numpy as np
import pytest
import soundfile as sf
import torch

from humo_lite.data.audio import (
    audio_features,
    audio_windows,
    check_audio,
    lip_law,
    load_wav,
    log_mel,
    mel_filters,
    power_spectrogram,
)
from humo_lite.data.speech import synth_speech
from humo_lite.io import write_wav


def test_log_mel_matches_whispers_torch_front_end():
    """Whisper's log_mel_spectrogram, written with torch.stft, on the same audio."""
    audio = synth_speech(17 * 640, seed=1)
    stft = torch.stft(torch.from_numpy(audio), 400, 160, window=torch.hann_window(400), return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel = torch.from_numpy(mel_filters()) @ magnitudes
    ref = torch.clamp(mel, min=1e-10).log10()
    ref = (torch.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0  # (80, 68)
    ours = log_mel(power_spectrogram(audio, 17))  # (68, 80)
    np.testing.assert_allclose(ours, ref.T.numpy(), atol=2e-4)


def test_features_are_one_vector_per_video_frame():
    features, mouth = audio_features(synth_speech(9 * 640, seed=2), 9)
    assert features.shape == (9, 80) and mouth.shape == (9,)
    assert np.all((mouth >= 0) & (mouth <= 1))


def test_windows_are_humos_frames():
    """Latent 0: 3 zeros + frames -2..2; latent i: frames 4i-5..4i+2; zeros outside; zero ref windows."""
    num_frames = 17
    features = np.arange(1, num_frames + 1, dtype=np.float32)[:, None].repeat(3, axis=1)  # frame j -> j+1
    windows = audio_windows(features, num_ref_frames=2)
    assert windows.shape == (5 + 2, 8, 3)
    got = windows[..., 0] - 1  # back to frame indices; -1 means zero
    assert got[0].tolist() == [-1, -1, -1, -1, -1, 0, 1, 2]
    assert got[1].tolist() == [-1, 0, 1, 2, 3, 4, 5, 6]
    assert got[2].tolist() == [3, 4, 5, 6, 7, 8, 9, 10]
    assert got[4].tolist() == [11, 12, 13, 14, 15, 16, -1, -1]
    assert np.all(windows[5:] == 0)


def test_lip_law_is_closed_in_silence_and_open_in_loud_speech():
    silence = np.zeros(9 * 640, np.float32)
    assert np.all(lip_law(silence, 9) == 0)
    tone = (0.5 * np.sin(2 * np.pi * 700 * np.arange(9 * 640) / 16000)).astype(np.float32)
    assert np.all(lip_law(tone, 9) > 0.9)
    quiet = tone * 0.01  # -40 dB below the tone: nearly closed
    assert np.all(lip_law(quiet, 9) < 0.3)


@pytest.mark.parametrize(
    "audio, sample_rate, match",
    [
        (np.zeros(6400, np.float32), 44_100, "sample rate 44100 Hz; expected 16000 Hz"),
        (np.zeros((2, 6400), np.float32), 16_000, "must be mono"),
        (np.full(6400, np.nan, np.float32), 16_000, "NaN or infinite"),
        (np.zeros(0, np.float32), 16_000, "is empty"),
        (np.zeros(100, np.float32), 16_000, "too short: 100 samples"),
        (np.zeros(6400, np.int16), 16_000, "must hold floats"),
    ],
    ids=["wrong-rate", "stereo", "nan", "empty", "too-short", "integers"],
)
def test_bad_audio_is_rejected_with_a_clear_error(audio, sample_rate, match):
    with pytest.raises(ValueError, match=match):
        check_audio(audio, sample_rate, min_samples=5440)


@pytest.mark.parametrize("bad, match", [(np.full(640, np.nan, np.float32), "NaN"),
                                        (np.zeros((2, 640), np.float32), "must be mono")])
def test_writing_bad_audio_leaves_nothing_behind(tmp_path, bad, match):
    with pytest.raises(ValueError, match=match):
        write_wav(tmp_path / "out.wav", bad)
    assert list(tmp_path.iterdir()) == []


def test_load_wav_resamples_other_rates_and_rejects_stereo(tmp_path):
    t = np.arange(22_050) / 22_050
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22_050)
    audio = load_wav(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and abs(len(audio) - 16_000) <= 1
    sf.write(tmp_path / "stereo.wav", np.zeros((1000, 2)), 16_000)
    with pytest.raises(ValueError, match="2 channels; expected mono"):
        load_wav(tmp_path / "stereo.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    with pytest.raises(ValueError, match="could not decode"):
        load_wav(tmp_path / "junk.wav")
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        load_wav(tmp_path / "missing.wav")

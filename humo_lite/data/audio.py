"""Audio in: validation, loading, log-mel features, the lip law, and per-latent-frame windows.

Three things HuMo does with audio, at our size (``docs/paper_notes.md`` §3.1–§3.2):

1. **Features.** HuMo runs Whisper-large-v3 on 16 kHz audio. We keep Whisper's *front end* — 80 mel
   bands, 25 ms Hann window (400 samples), 10 ms hop (160 samples), ``log10``, clamp to 8 below the
   maximum, ``(x + 4) / 4`` — and skip the 1.5B-parameter encoder: a small trainable projector reads
   the log-mels directly. 100 mel frames per second are average-pooled 4 → 1, giving **one 80-d
   vector per video frame (25 per second)**, the rate HuMo interpolates Whisper's states to.
2. **Windows.** Each latent frame gets a window of 8 video frames, exactly as HuMo's code builds it:
   latent 0 ↔ video frame 0 gets 3 zero vectors then frames −2…+2; latent i ≥ 1 ↔ video frames
   4i−3…4i gets frames 4i−5…4i+2 (its 4 frames ± 2). Out-of-range frames are zeros; reference frames
   get all-zero windows (:func:`audio_windows`).
3. **The lip law** (ours; HuMo learns it from data): mouth opening per video frame is a
   deterministic function of the audio, so sync can be measured exactly:

       E_f     = mean over the frame's 4 STFT frames of the power in 250–3000 Hz   (speech band)
       L_f     = 10·log10(E_f + 1e-10)                                                 (dB)
       open_f  = clip((L_f − LIP_FLOOR_DB) / (LIP_FULL_DB − LIP_FLOOR_DB), 0, 1)
       mouth_f = [¼, ½, ¼]-smoothed open_f over frames (edges repeated), then values < 0.02 → 0

   Silence (below −45 dB) closes the mouth; loud vowels open it fully.

Bad input stops here with a clear error: :func:`check_audio` rejects stereo, NaN/inf, empty audio,
a sample rate other than 16 kHz, and audio too short for the clip. **Wrong sample rates are rejected
by the feature functions and resampled only by the loader** (:func:`load_wav` resamples any file to
16 kHz with librosa/soxr and says so in its docstring).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..presets import SAMPLE_RATE, SAMPLES_PER_FRAME, num_latent_frames

N_FFT = 400  # 25 ms at 16 kHz (Whisper)
HOP = 160  # 10 ms at 16 kHz (Whisper)
N_MELS = 80  # Whisper-large-v2's 80 bands (v3 uses 128; 80 is plenty here)
MELS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4 mel frames per video frame
LIP_BAND_HZ = (250.0, 3000.0)
LIP_FLOOR_DB = -45.0  # at or below: mouth closed
LIP_FULL_DB = -5.0  # at or above: mouth fully open
WINDOW = 8  # video frames per latent frame's audio window (HuMo: 4 frames ± 2)
AUDIO_SHIFT = 2  # context frames either side (HuMo's audio_shift)
FLOAT_TOLERANCE = 1e-4  # float samples may pass full scale by this much (rounding), no more
RESAMPLE_RANGE = (4_000, 384_000)  # sample rates resample() accepts: telephone speech up to studio audio


def check_audio(
    audio, sample_rate: int = SAMPLE_RATE, min_samples: int = 1, name: str = "audio"
) -> np.ndarray:
    """Return ``audio`` as a float32 mono array, or raise a ``ValueError`` saying what was expected."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(
            f"{name} has sample rate {sample_rate} Hz; expected {SAMPLE_RATE} Hz. Resample first "
            f"(humo_lite.data.audio.load_wav does it for files, or librosa.resample(y, orig_sr=..., "
            f"target_sr={SAMPLE_RATE}))"
        )
    audio = np.asarray(audio)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise ValueError(
            f"{name} must be mono, a 1-D array of samples; got shape {audio.shape}. Mix stereo down first, "
            f"e.g. audio.mean(axis=0) for (channels, samples)"
        )
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"{name} must hold floats in [-1, 1]; got dtype {audio.dtype}")
    if audio.size == 0:
        raise ValueError(f"{name} is empty; expected at least {min_samples} samples at {SAMPLE_RATE} Hz")
    if not np.isfinite(audio).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    if audio.size < min_samples:
        raise ValueError(
            f"{name} is too short: {audio.size} samples ({audio.size / SAMPLE_RATE:.3f} s); the clip needs "
            f"{min_samples} samples ({min_samples / SAMPLE_RATE:.3f} s at {SAMPLE_RATE} Hz, 640 per frame)"
        )
    return audio.astype(np.float32, copy=False)


def resample(audio, sample_rate: int, name: str = "audio") -> np.ndarray:
    """Mono float ``audio`` at ``sample_rate`` Hz → float32 at 16 kHz (librosa with soxr, high quality).

    16 kHz audio passes through unchanged. The input is checked like everything else here (mono, finite,
    floats), so a wrong shape is reported before any resampling.
    """
    import librosa

    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(f"{name}: sample_rate must be a positive whole number of Hz, got {sample_rate!r}")
    low, high = RESAMPLE_RANGE
    if not low <= sample_rate <= high:
        raise ValueError(f"{name}: sample rate {sample_rate} Hz cannot be resampled to {SAMPLE_RATE} Hz for speech; "
                         f"expected {low}..{high} Hz (speech needs at least {low} Hz to carry the 250–3000 Hz band "
                         f"the lips follow)")
    audio = check_audio(audio, SAMPLE_RATE, name=name)  # shape and values; the rate is the question here
    peak = float(np.abs(audio).max())
    if peak > 1.0 + FLOAT_TOLERANCE:  # the rule integer audio gets: samples must be floats in [-1, 1]
        hint = " (16-bit samples as floats? divide by 32768)" if peak <= 32768 and peak > 2 else ""
        raise ValueError(f"{name} must hold floats in [-1, 1]; its peak is {peak:.4g}{hint}. Scale it, e.g. "
                         f"audio / abs(audio).max()")
    if sample_rate != SAMPLE_RATE:
        audio = librosa.resample(audio, orig_sr=int(sample_rate), target_sr=SAMPLE_RATE, res_type="soxr_hq")
        audio = np.clip(audio, -1.0, 1.0)  # resampling may ring a little past full scale
    return check_audio(audio, name=name)


def load_wav(path: str | os.PathLike) -> np.ndarray:
    """Read a mono audio file as float32 at 16 kHz. Other sample rates are **resampled** (soxr).

    Stereo files are rejected (mix them down yourself: which channel carries the voice is your call).
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        audio, sr = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise ValueError(f"could not decode audio file {path}: {exc}") from exc
    if audio.shape[1] != 1:
        raise ValueError(f"{path} has {audio.shape[1]} channels; expected mono (1 channel)")
    return resample(audio[:, 0], sr, name=str(path))


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """Whisper's 80 x 201 mel filter bank (librosa's Slaney mel, as Whisper builds it)."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS).astype(np.float32)


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic


def power_spectrogram(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """|STFT|² with Whisper's settings for the first ``num_frames`` video frames: ``[4·F, 201]``.

    Centred frames with reflect padding, as ``torch.stft(center=True)``; Whisper drops the last frame,
    which leaves exactly 4 STFT frames per 640-sample video frame.
    """
    n = num_frames * SAMPLES_PER_FRAME
    audio = check_audio(audio, min_samples=n)[:n]
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    idx = np.arange(num_frames * MELS_PER_FRAME)[:, None] * HOP + np.arange(N_FFT)[None, :]
    spec = np.fft.rfft(padded[idx] * _hann(), axis=-1)  # (4F, 201)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def log_mel(power: np.ndarray) -> np.ndarray:
    """Whisper's log-mel from a power spectrogram ``[T, 201]`` → ``[T, 80]``."""
    mel = power @ mel_filters().T  # (T, 80)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def pool_to_frames(mel: np.ndarray) -> np.ndarray:
    """Average 4 mel frames (10 ms each) into one per video frame (40 ms): ``[4F, 80]`` → ``[F, 80]``."""
    return mel.reshape(-1, MELS_PER_FRAME, mel.shape[-1]).mean(axis=1)


def lip_law_from_power(power: np.ndarray) -> np.ndarray:
    """The lip law (module docstring) from a power spectrogram ``[4F, 201]`` → mouth opening ``[F]``."""
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    band = (freqs >= LIP_BAND_HZ[0]) & (freqs <= LIP_BAND_HZ[1])
    # Normalise so a full-scale sine in the band reads about 0 dB.
    energy = power[:, band].sum(axis=1) / (_hann().sum() ** 2 / 4)
    energy = energy.reshape(-1, MELS_PER_FRAME).mean(axis=1)  # (F,)
    level = 10.0 * np.log10(energy + 1e-10)
    opening = np.clip((level - LIP_FLOOR_DB) / (LIP_FULL_DB - LIP_FLOOR_DB), 0.0, 1.0)
    padded = np.pad(opening, 1, mode="edge")
    smooth = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    smooth[smooth < 0.02] = 0.0
    return smooth.astype(np.float32)


def lip_law(audio: np.ndarray, num_frames: int) -> np.ndarray:
    """Mouth opening in [0, 1] for each of ``num_frames`` video frames, from 16 kHz ``audio``."""
    return lip_law_from_power(power_spectrogram(audio, num_frames))


def audio_features(audio: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the audio: per-frame log-mel ``[F, 80]`` and lip-law mouth opening ``[F]``."""
    power = power_spectrogram(audio, num_frames)
    return pool_to_frames(log_mel(power)), lip_law_from_power(power)


def audio_windows(frame_features: np.ndarray, num_ref_frames: int = 0) -> np.ndarray:
    """HuMo's per-latent-frame audio windows: ``[F, D]`` → ``[F_lat + R, 8, D]``.

    Latent 0: 3 zero vectors, then frames −2…+2. Latent i ≥ 1: frames 4i−5…4i+2. Frames outside the
    clip are zeros, and each of the ``num_ref_frames`` reference latent frames gets an all-zero window
    (HuMo's code appends exactly such zero windows for its reference frames).
    """
    frame_features = np.asarray(frame_features)
    num_frames, dim = frame_features.shape
    f_lat = num_latent_frames(num_frames)
    # Zero-pad so frames -5 ... F+1 exist: padded[j + 5] holds frame j.
    zeros = np.zeros((5, dim), frame_features.dtype)
    padded = np.concatenate([zeros, frame_features, zeros[:AUDIO_SHIFT]])
    starts = 4 * np.arange(f_lat) - 5  # latent 0 starts at -5 too: 3 zeros, then frames -2..+2
    windows = padded[starts[:, None] + np.arange(WINDOW)[None, :] + 5]  # (F_lat, 8, D)
    if num_ref_frames:
        windows = np.concatenate([windows, np.zeros((num_ref_frames, WINDOW, dim), windows.dtype)])
    return windows

"""Speech for the toy world: a procedural speech-like synthesiser, and a bank of real recordings.

HuMo's stage-2 data is real speech, filtered and checked for lip sync (``docs/paper_notes.md`` §6). We have
two sources:

- :func:`synth_speech` — unlimited and seeded: voiced syllables (a glottal pulse train through three
  formant resonators, a vowel per syllable, a pitch contour and a loudness envelope), optional
  consonant bursts of filtered noise, and pauses. It is not language, but it has what the lip law
  and the mel features care about: loud vowels, quiet consonants, silence between words.
- :func:`bank_speech` — real English sentences spoken by espeak-ng, shipped in
  ``data_samples/speech_bank/`` (made once by ``scripts/make_speech_bank.py``; CI never needs
  espeak-ng). The manifest marks each recording ``train`` or ``heldout`` (held-out sentences *and*
  voices), which is the "unseen speech" split, or ``train_stage2``: the training sentences in 12 more voices that
  only the stage-2 pool plays, or ``validation_voice``: the validation pool's sentences in 2 voices that only the
  ``validation_voice`` pool plays (:func:`bank_keys`).

:class:`SpeechSpec` names one utterance of either kind; :func:`speech_audio` renders it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache

import librosa
import numpy as np
from scipy.signal import lfilter

from ..presets import SAMPLE_RATE
from ..shipped import data_samples_dir

VOWEL_FORMANTS = {  # (F1, F2, F3) in Hz, adult averages (Peterson & Barney)
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
}
FORMANT_BANDWIDTHS = (80.0, 110.0, 160.0)
PEAK = 0.5  # every utterance is normalised to this peak amplitude


@dataclass(frozen=True)
class SpeechSpec:
    """One utterance: ``kind="synth"`` with a ``seed``, or ``kind="bank"`` with a recording ``key``.

    ``offset`` (bank only, in [0, 1]) is where the clip's window starts, as a fraction of the room the
    recording leaves after the window — so one spec fits clips of any length. ``rate`` (bank only, in
    [0.5, 2]) plays the recording that many times faster: pitch and formants move up by ``rate``, a new voice
    made from an old one (speed perturbation, the data augmentation of speech recognisers).
    """

    kind: str
    seed: int = 0
    key: str = ""
    offset: float = 0.0
    rate: float = 1.0

    def __post_init__(self):
        if self.kind not in ("synth", "bank"):
            raise ValueError(f"speech kind must be 'synth' or 'bank', got {self.kind!r}")
        if self.kind == "bank" and not self.key:
            raise ValueError("a bank SpeechSpec needs the recording's key")
        if not 0.5 <= self.rate <= 2.0 or (self.kind == "synth" and self.rate != 1.0):
            raise ValueError(f"rate must be in [0.5, 2] and 1 for synthetic speech, got {self.rate!r} ({self.kind})")


def _resonator(freq: float, bandwidth: float) -> np.ndarray:
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    return np.array([1.0, -2.0 * r * np.cos(2 * np.pi * freq / SAMPLE_RATE), r * r])


def _formant_filter(formants, scale: float) -> np.ndarray:
    """Denominator of three cascaded two-pole resonators (one IIR filter)."""
    a = np.array([1.0])
    for freq, bw in zip(formants, FORMANT_BANDWIDTHS, strict=False):
        a = np.convolve(a, _resonator(freq * scale, bw))
    return a


def _envelope(n: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(n)
    attack, release = min(attack, n // 2), min(release, n // 2)
    env[:attack] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, attack))
    env[n - release :] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, release))
    return env


def _add(out: np.ndarray, start: int, seg: np.ndarray) -> None:
    """Mix ``seg`` into ``out`` from ``start``, cutting whatever runs past the end."""
    seg = seg[: max(0, len(out) - start)]
    out[start : start + len(seg)] += seg


def synth_speech(num_samples: int, seed: int) -> np.ndarray:
    """``num_samples`` of speech-like audio at 16 kHz, float32, peak 0.5; the same seed, the same bytes."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EEC]))
    f0_base = rng.uniform(95.0, 230.0)  # the speaker's pitch
    scale = 1.0 + 0.2 * (f0_base - 95.0) / 135.0  # higher voices, shorter tracts, higher formants
    out = np.zeros(num_samples)
    t = int(rng.uniform(0.0, 0.12) * SAMPLE_RATE)
    vowels = list(VOWEL_FORMANTS.values())
    while t < num_samples:
        if rng.random() < 0.22:  # a pause between words
            t += int(rng.uniform(0.10, 0.30) * SAMPLE_RATE)
            continue
        if rng.random() < 0.5:  # a consonant burst: short band-passed noise
            n = int(rng.uniform(0.02, 0.05) * SAMPLE_RATE)
            burst = lfilter([1.0], _formant_filter((2500, 3500, 4500), scale), rng.standard_normal(n))
            seg = burst / (np.abs(burst).max() + 1e-9) * rng.uniform(0.05, 0.15) * _envelope(n, 40, 80)
            _add(out, t, seg)
            t += n
        n = int(rng.uniform(0.10, 0.24) * SAMPLE_RATE)  # a voiced syllable
        time = np.arange(n) / SAMPLE_RATE
        f0 = f0_base * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 5) * time + rng.uniform(0, 6.3)))
        phase = np.cumsum(f0 / SAMPLE_RATE) + rng.random()
        pulses = np.diff(np.floor(phase), prepend=np.floor(phase[0])).astype(float)  # glottal pulses
        pulses += 0.02 * rng.standard_normal(n)  # breath
        voiced = lfilter([1.0], _formant_filter(vowels[int(rng.integers(len(vowels)))], scale), pulses)
        loudness = rng.uniform(0.25, 1.0)
        seg = voiced / (np.abs(voiced).max() + 1e-9) * loudness * _envelope(n, 240, 640)
        _add(out, t, seg)
        t += n + int(rng.uniform(0.01, 0.05) * SAMPLE_RATE)
    peak = np.abs(out).max()
    return (out * (PEAK / peak) if peak > 0 else out).astype(np.float32)


@lru_cache(maxsize=1)
def bank_manifest() -> tuple[dict, ...]:
    """The speech bank's manifest: one dict per recording (key, file, text, voice, split, ...)."""
    path = data_samples_dir() / "speech_bank" / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"speech bank manifest not found at {path}; set HUMO_LITE_DATA_SAMPLES to a copy of the "
            f"repository's data_samples/ folder, or regenerate it with scripts/make_speech_bank.py"
        )
    return tuple(json.loads(path.read_text()))


def bank_keys(split: str) -> list[str]:
    """Keys of the bank's recordings in one split, in the manifest's order:

    - ``train``: the 30 training recordings (6 voices) every training pool and the judge may hear;
    - ``train_stage2``: 59 more in 12 more voices that only the stage-2 pool plays; ``stage2``: both, 18 voices;
    - ``heldout``: the 10 held-out sentences, and those split by voice: ``unseen_voice`` (a voice no training
      recording uses: the test of stage 2) and ``heldout_train_voice`` (unseen sentences in training voices: the
      validation pool's);
    - ``validation_voice``: those 4 validation sentences read by 2 voices no other recording uses (the
      ``validation_voice`` pool's: settings chosen on speakers as new as the test's).
    """
    splits = ("train", "train_stage2", "stage2", "heldout", "unseen_voice", "heldout_train_voice", "validation_voice")
    if split not in splits:
        raise ValueError(f"split must be one of {splits}, got {split!r}")
    if split == "stage2":
        return bank_keys("train") + bank_keys("train_stage2")
    train_voices = {entry["voice"] for entry in bank_manifest() if entry["split"] in ("train", "train_stage2")}
    heldout = [entry for entry in bank_manifest() if entry["split"] == "heldout"]
    if split == "unseen_voice":
        return [entry["key"] for entry in heldout if entry["voice"] not in train_voices]
    if split == "heldout_train_voice":
        return [entry["key"] for entry in heldout if entry["voice"] in train_voices]
    return [entry["key"] for entry in bank_manifest() if entry["split"] == split]


@cache
def bank_recording(key: str) -> np.ndarray:
    """One whole recording of the bank, float32 at 16 kHz."""
    from .audio import load_wav

    entries = {entry["key"]: entry for entry in bank_manifest()}
    if key not in entries:
        raise KeyError(f"no recording {key!r} in the speech bank; known keys: {sorted(entries)[:5]}...")
    audio = load_wav(data_samples_dir() / "speech_bank" / entries[key]["file"])
    audio.flags.writeable = False
    return audio


def bank_speech(key: str, offset: float, num_samples: int, rate: float = 1.0) -> np.ndarray:
    """``num_samples`` of a bank recording played ``rate`` times faster (:class:`SpeechSpec`), starting ``offset``
    of the way in; past its end, silence."""
    rec = bank_recording(key)
    if rate != 1.0:  # resampled to SAMPLE_RATE / rate and played at SAMPLE_RATE: every frequency times rate
        rec = librosa.resample(rec, orig_sr=SAMPLE_RATE, target_sr=round(SAMPLE_RATE / rate))
        rec = rec * (PEAK / np.abs(rec).max())  # the bank's peak, as every utterance
    start = int(offset * max(0, len(rec) - num_samples))
    seg = rec[start : start + num_samples]
    return np.pad(seg, (0, num_samples - len(seg))).astype(np.float32)


def speech_audio(spec: SpeechSpec, num_samples: int) -> np.ndarray:
    """Render a :class:`SpeechSpec` to ``num_samples`` of 16 kHz audio."""
    if spec.kind == "synth":
        return synth_speech(num_samples, spec.seed)
    return bank_speech(spec.key, spec.offset, num_samples, spec.rate)

"""Regenerate ``data_samples/speech_bank/``: a small bank of real (synthesised) English speech.

The bank is 40 short everyday sentences (1.5-2.5 s each) spoken by the espeak-ng formant synthesiser
with several voices, voice variants and speeds. It gives the toy world and the notebooks real speech
to drive lips with, instead of beeps; 59 more recordings in 12 more voices feed stage 2 only. CI never runs this
script: a developer runs it once and commits its output (about 6 MB).

Needs the espeak-ng binary::

    sudo apt-get install espeak-ng

Run from the repository root::

    .venv/bin/python scripts/make_speech_bank.py            # writes data_samples/speech_bank/
    .venv/bin/python scripts/make_speech_bank.py --out DIR  # somewhere else
    .venv/bin/python scripts/make_speech_bank.py --add-split validation_voice  # one added split, the rest kept

Each recording is synthesised with ``espeak-ng -w``, loaded, resampled to 16 kHz mono with librosa,
trimmed so ~80 ms of silence is left at each end, peak-normalised to 0.5 and written as 16-bit PCM.
``manifest.json`` lists ``{key, file, text, voice, speed_wpm, duration_s, num_samples, split}`` for
each recording.

Splits: 30 recordings are ``"train"`` and 10 (25 %) are ``"heldout"``. Held-out recordings use
sentences that never occur in train, and 6 of them use a voice (``en-gb-scotland+f3``) that never
occurs in train, so a model evaluated on them has neither heard the words nor the speaker.

``"train_stage2"``: the training sentences again (each twice) in 12 more voices — other accents and variants, none
Scottish and none the held-out voice's variant ``f3`` — that only the stage-2 pool plays (with the ``"train"``
recordings: 18 voices). Every other pool and the judge hear the 30 ``"train"`` recordings only, so the earlier
stages' data is what it was before these were added. A recording outside the allowed durations at its speed is
tried at the other speed (one of the 60 planned fits neither and is skipped: 59).

``"validation_voice"``: the 4 held-out sentences the validation pool hears in training voices, read again by 2 voices
that no other recording uses (:data:`VALIDATION_VOICES`: named espeak-ng variants, neither Scottish nor ``f3``):
8 recordings. The ``validation_voice`` pool plays them, so a setting can be chosen on speakers no training pool has,
as the test's speaker is, without hearing the test's voice.

The output is deterministic: espeak-ng has no randomness, and the same espeak-ng / librosa versions
give the same bytes on every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from humo_lite.io import write_json, write_wav  # noqa: E402
from humo_lite.presets import SAMPLE_RATE  # noqa: E402

DEFAULT_OUT = ROOT / "data_samples" / "speech_bank"

PAD_S = 0.080  # silence kept before the first and after the last voiced sample
PEAK = 0.5  # peak amplitude after normalisation
TRIM_TOP_DB = 40.0  # anything this far below the recording's peak counts as silence
MIN_S, MAX_S = 1.5, 2.5  # allowed durations, after trimming
MAX_BYTES = int(6.5 * 1024 * 1024)

TRAIN_SENTENCES = [
    "Hi everyone, thanks for coming.",
    "Let me show you how this works.",
    "The weather is lovely this morning.",
    "I think we should start with coffee.",
    "Please remember to bring your notes.",
    "This is my favourite part of the day.",
    "We finished the project last week.",
    "Could you pass me the salt, please?",
    "The train leaves at nine.",
    "I really enjoyed reading that book.",
    "Let's take a short break now.",
    "My sister lives near the river.",
    "Don't forget to water the plants.",
    "The meeting moved to Thursday.",
    "I'll call you back in five minutes.",
    "Welcome back to the channel.",
    "Today we are cooking pasta.",
    "That was a really good question.",
    "The children are playing in the garden.",
    "Can you all hear me clearly now?",
    "I need to buy some fresh bread.",
    "We walked along the beach at sunset.",
    "Thank you so much for watching.",
    "The museum opens at ten o'clock.",
    "He painted the kitchen bright yellow.",
    "Let's go over the main points.",
    "My phone battery is almost empty.",
    "She plays the piano every evening.",
    "The results look very promising.",
    "See you all next time.",
]

HELDOUT_SENTENCES = [
    "Good morning, how did you sleep?",
    "The bus was late again today.",
    "I'm learning Spanish again this year.",
    "Our dog loves long walks in the park.",
    "Please turn the music down a little.",
    "We are planning a trip to the mountains.",
    "This soup tastes wonderful.",
    "Remember to lock the door behind you.",
    "The library is closed on Sundays.",
    "Let me know what you think about it.",
]

# espeak-ng voice = language voice + optional "+variant" (see `espeak-ng --voices` and
# espeak-ng-data/voices/!v). Only the built-in gmw voices are used, not the optional mbrola ones.
TRAIN_VOICES = ["en-us", "en-gb", "en-us+f2", "en-gb+m3", "en-us+f4", "en-gb-x-rp+m7"]
HELDOUT_ONLY_VOICE = "en-gb-scotland+f3"  # never used for a train recording
SPEEDS_WPM = [170, 190]
STAGE2_VOICES = ["en-gb-x-gbclan+f1", "en-gb-x-gbcwmd+m2", "en-029+f5", "en-us-nyc+m4", "en-gb+f1", "en-us+m1",
                 "en-gb-x-rp+f4", "en-029+m6", "en-us-nyc+f2", "en-gb-x-gbclan+m5", "en-gb-x-gbcwmd+f5", "en-us+m6"]
SENTENCES_PER_STAGE2_VOICE = 5
VALIDATION_VOICES = ["en-us+Annie", "en-gb-x-gbcwmd+Andrea"]  # no other recording uses them


def plan() -> list[dict]:
    """The 40 recordings: sentence, voice, speed and split for each, in a fixed order."""
    rows = []
    for i, text in enumerate(TRAIN_SENTENCES):
        voice = TRAIN_VOICES[i % len(TRAIN_VOICES)]
        speed = SPEEDS_WPM[(i // len(TRAIN_VOICES)) % len(SPEEDS_WPM)]
        rows.append(dict(text=text, voice=voice, speed_wpm=speed, split="train"))
    for j, text in enumerate(HELDOUT_SENTENCES):
        # 6 held-out recordings by the unseen voice, 4 by train voices (unseen sentences only).
        voice = HELDOUT_ONLY_VOICE if j < 6 else TRAIN_VOICES[(2 * j + 1) % len(TRAIN_VOICES)]
        rows.append(dict(text=text, voice=voice, speed_wpm=SPEEDS_WPM[j % 2], split="heldout"))
    for k, row in enumerate(rows):
        row["key"] = f"{row['split']}_{k:02d}_{row['voice'].replace('+', '-')}_{row['speed_wpm']}"
    return rows


def stage2_plan(start: int) -> list[dict]:
    """The ``"train_stage2"`` recordings: each of the 12 stage-2 voices speaks 5 training sentences (every sentence
    twice over the 12 voices); keys numbered from ``start``."""
    rows = []
    for v, voice in enumerate(STAGE2_VOICES):
        for n in range(SENTENCES_PER_STAGE2_VOICE):
            i = (v * SENTENCES_PER_STAGE2_VOICE + n) % len(TRAIN_SENTENCES)
            rows.append(dict(text=TRAIN_SENTENCES[i], voice=voice, speed_wpm=SPEEDS_WPM[n % 2], split="train_stage2"))
    for k, row in enumerate(rows, start=start):
        row["key"] = f"{row['split']}_{k:03d}_{row['voice'].replace('+', '-')}_{row['speed_wpm']}"
    return rows


def validation_plan(start: int) -> list[dict]:
    """The ``"validation_voice"`` recordings: each validation voice reads the 4 held-out sentences that the
    validation pool hears in training voices; keys numbered from ``start``."""
    texts = [row["text"] for row in plan() if row["split"] == "heldout" and row["voice"] != HELDOUT_ONLY_VOICE]
    rows = [dict(text=text, voice=voice, speed_wpm=SPEEDS_WPM[n % 2], split="validation_voice")
            for voice in VALIDATION_VOICES for n, text in enumerate(texts)]
    for k, row in enumerate(rows, start=start):
        row["key"] = f"{row['split']}_{k:03d}_{row['voice'].replace('+', '-')}_{row['speed_wpm']}"
    return rows


def add_recordings(espeak: str, out: Path, split: str, make_plan) -> list[dict]:
    """Add ``make_plan(start)``'s recordings of ``split`` to the bank in ``out`` (written by :func:`write_bank`),
    replacing any of that split already there; returns the merged manifest. A recording outside the allowed
    durations at its speed is tried at the other."""
    manifest = [m for m in json.loads((out / "manifest.json").read_text()) if m["split"] != split]
    with tempfile.TemporaryDirectory() as workdir:
        for row in make_plan(len(manifest)):
            for speed in (row["speed_wpm"], *[s for s in SPEEDS_WPM if s != row["speed_wpm"]]):
                audio = synthesise(espeak, row["text"], row["voice"], speed, Path(workdir))
                if MIN_S <= audio.size / SAMPLE_RATE <= MAX_S:
                    break
            else:
                print(f"skipped {row['key']}: no speed gives {MIN_S}-{MAX_S} s", file=sys.stderr)
                continue
            file = f"{row['key']}.wav"
            write_wav(out / file, audio, SAMPLE_RATE)
            manifest.append(dict(key=row["key"], file=file, text=row["text"], voice=row["voice"], speed_wpm=speed,
                                 duration_s=round(audio.size / SAMPLE_RATE, 4), num_samples=int(audio.size),
                                 split=row["split"]))
    write_json(out / "manifest.json", manifest)
    return manifest


ADDED_SPLITS = {"train_stage2": stage2_plan, "validation_voice": validation_plan}
"""The splits added after the 40 recordings of :func:`plan`, in order, with the plan that makes each."""


def synthesise(espeak: str, text: str, voice: str, speed_wpm: int, workdir: Path) -> np.ndarray:
    """Speak ``text`` with espeak-ng; return float32 mono audio at 16 kHz, trimmed and normalised."""
    import librosa
    import soundfile as sf

    tmp = workdir / "tmp.wav"
    cmd = [espeak, "-v", voice, "-s", str(speed_wpm), "-w", str(tmp), text]
    subprocess.run(cmd, check=True, capture_output=True)
    audio, sr = sf.read(tmp, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    audio = librosa.resample(audio, orig_sr=sr, target_sr=SAMPLE_RATE).astype(np.float32)
    # Voiced region, then keep exactly PAD_S of (zero-padded if needed) context at each end.
    _, (start, end) = librosa.effects.trim(audio, top_db=TRIM_TOP_DB, frame_length=512, hop_length=128)
    pad = int(round(PAD_S * SAMPLE_RATE))
    audio = np.pad(audio, (pad, pad))[start : end + 2 * pad]
    peak = float(np.abs(audio).max())
    if peak <= 0:
        raise RuntimeError(f"espeak-ng produced silence for voice {voice!r}: {text!r}")
    return (audio * (PEAK / peak)).astype(np.float32)


def folder_bytes(folder: Path) -> int:
    """Disk usage like ``du -sb``: the byte size of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_bank(espeak: str, rows: list[dict], out: Path) -> list[dict]:
    """Synthesise every planned row into ``out/<key>.wav`` (old WAVs removed first) and write ``manifest.json``;
    returns the manifest's rows."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.wav"):  # a rerun with a changed plan must not leave old files behind
        stale.unlink()
    manifest = []
    with tempfile.TemporaryDirectory() as workdir:
        for row in rows:
            audio = synthesise(espeak, row["text"], row["voice"], row["speed_wpm"], Path(workdir))
            duration = audio.size / SAMPLE_RATE
            if not MIN_S <= duration <= MAX_S:
                raise RuntimeError(
                    f"{row['key']}: {duration:.2f} s is outside [{MIN_S}, {MAX_S}] s: {row['text']!r}"
                )
            file = f"{row['key']}.wav"
            write_wav(out / file, audio, SAMPLE_RATE)
            manifest.append(
                dict(
                    key=row["key"],
                    file=file,
                    text=row["text"],
                    voice=row["voice"],
                    speed_wpm=row["speed_wpm"],
                    duration_s=round(duration, 4),
                    num_samples=int(audio.size),
                    split=row["split"],
                )
            )
    write_json(out / "manifest.json", manifest)
    return manifest


def report(manifest: list[dict], out: Path) -> int:
    """Print the bank's splits, voices, durations and size; 1 if the folder is over the size limit, else 0."""
    train_voices = {m["voice"] for m in manifest if m["split"] in ("train", "train_stage2")}  # what training hears
    heldout_voices = {m["voice"] for m in manifest if m["split"] == "heldout"}
    size = folder_bytes(out)
    durations = np.array([m["duration_s"] for m in manifest])
    print(f"wrote {len(manifest)} recordings + manifest.json to {out}")
    for split in ("train", "heldout", "train_stage2", "validation_voice"):
        sub = [m for m in manifest if m["split"] == split]
        voices = sorted({m["voice"] for m in sub})
        total = sum(m["duration_s"] for m in sub)
        print(f"  {split:12s} {len(sub):3d} recordings, {total:6.1f} s, voices: {', '.join(voices)}")
    print(f"  unseen held-out voices: {', '.join(sorted(heldout_voices - train_voices))}")
    print(f"  duration min/mean/max: {durations.min():.2f}/{durations.mean():.2f}/{durations.max():.2f} s")
    print(f"  folder size: {size / 1024:.0f} KiB (limit {MAX_BYTES / 1024:.0f} KiB)")
    if size > MAX_BYTES:
        print("folder is over the size limit", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--add-split", choices=sorted(ADDED_SPLITS),
                        help="only (re)make this split's recordings in the bank already in --out")
    args = parser.parse_args(argv)

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        print("espeak-ng not found; install it with `sudo apt-get install espeak-ng`", file=sys.stderr)
        return 1
    if args.add_split:
        manifest = add_recordings(espeak, args.out, args.add_split, ADDED_SPLITS[args.add_split])
        return report(manifest, args.out)
    rows = plan()
    train_texts = {r["text"] for r in rows if r["split"] == "train"}
    train_voices = {r["voice"] for r in rows if r["split"] == "train"}
    heldout = [r for r in rows if r["split"] == "heldout"]
    assert not train_texts & {r["text"] for r in heldout}, "a held-out sentence also occurs in train"
    assert {r["voice"] for r in heldout} - train_voices, "no held-out voice is unseen in train"
    write_bank(espeak, rows, args.out)
    for split, make_plan in ADDED_SPLITS.items():
        manifest = add_recordings(espeak, args.out, split, make_plan)
    assert HELDOUT_ONLY_VOICE not in {m["voice"] for m in manifest if m["split"] != "heldout"}
    others = {m["voice"] for m in manifest if m["split"] != "validation_voice"}
    assert not others & set(VALIDATION_VOICES), "a validation voice is heard outside the validation_voice split"
    return report(manifest, args.out)


if __name__ == "__main__":
    raise SystemExit(main())

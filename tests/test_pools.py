"""Pools: scarcity in HuMo's order, and held-out splits that never leak into training."""

import pytest

from humo_lite.data import make_pool
from humo_lite.data.pools import (
    POOL_CONFIGS,
    TRAINING_POOLS,
    VALIDATION_POOLS,
    identity_split,
    scene_pair_split,
    validation_identities,
)
from humo_lite.data.speech import bank_keys, bank_manifest


def test_scarcity_foundation_over_stage1_over_stage2():
    sizes = [len(make_pool(name)) for name in TRAINING_POOLS]
    assert sizes[0] > 3 * sizes[1] > 9 * sizes[2]
    ids = [len(make_pool(name).identities) for name in TRAINING_POOLS]
    pairs = [len(make_pool(name).scene_pairs) for name in TRAINING_POOLS]
    assert ids[0] > ids[1] > ids[2] and pairs[0] > pairs[1] > pairs[2]
    assert [make_pool(n).modalities for n in TRAINING_POOLS] == [
        ("text",), ("text", "reference"), ("text", "reference", "audio")]


def test_heldout_identities_are_never_trained_on():
    train, heldout = identity_split()
    assert len(heldout) >= 50 and not {i.index for i in train} & {i.index for i in heldout}
    trained = set().union(*(make_pool(n).identities for n in TRAINING_POOLS))
    assert not trained & make_pool("heldout_identity").identities


def test_heldout_scene_pairs_are_never_trained_on():
    train_pairs, heldout_pairs = scene_pair_split()
    assert not set(train_pairs) & set(heldout_pairs)
    trained = set().union(*(make_pool(n).scene_pairs for n in TRAINING_POOLS))
    assert make_pool("heldout_scene").scene_pairs == set(heldout_pairs)
    assert not trained & set(heldout_pairs)
    # ...while every single background and clothing colour was seen in training.
    assert {b for b, _ in trained} == {b for b, _ in heldout_pairs}
    assert {c for _, c in trained} == {c for _, c in heldout_pairs}


def test_heldout_speech_is_never_trained_on():
    heldout = {e["key"] for e in bank_manifest() if e["split"] == "heldout"}
    train_entries = [e for e in bank_manifest() if e["split"] == "train"]
    assert heldout and not heldout & set(bank_keys("train"))
    heldout_entries = [e for e in bank_manifest() if e["split"] == "heldout"]
    assert not {e["text"] for e in heldout_entries} & {e["text"] for e in train_entries}  # unseen sentences
    assert {e["voice"] for e in heldout_entries} - {e["voice"] for e in train_entries}  # and an unseen voice
    trained_keys, trained_seeds = set(), set()
    for name in TRAINING_POOLS:
        for spec in make_pool(name).specs:
            (trained_keys.add(spec.speech.key) if spec.speech.kind == "bank" else trained_seeds.add(spec.speech.seed))
    test_specs = make_pool("heldout_speech").specs
    assert not {s.speech.key for s in test_specs if s.speech.kind == "bank"} & trained_keys
    assert not {s.speech.seed for s in test_specs if s.speech.kind == "synth"} & trained_seeds
    assert {s.speech.kind for s in test_specs} == {"bank", "synth"}


def test_heldout_voice_is_unseen_people_speaking_in_unseen_voices():
    train_voices = {e["voice"] for e in bank_manifest() if e["split"] == "train"}
    voice_of = {e["key"]: e["voice"] for e in bank_manifest()}
    specs = make_pool("heldout_voice").specs
    trained_ids = set().union(*(make_pool(n).identities for n in TRAINING_POOLS))
    assert not {s.identity.index for s in specs} & trained_ids  # people no training pool has
    bank = [s.speech.key for s in specs if s.speech.kind == "bank"]
    assert bank and not {voice_of[k] for k in bank} & train_voices  # voices no training recording uses
    assert all(s.speech.seed >= 2**31 for s in specs if s.speech.kind == "synth")  # the held-out synth stream
    assert {voice_of[k] for k in bank_keys("heldout")} & train_voices  # "heldout" alone would not be enough
    with pytest.raises(ValueError, match="unseen_voice"):
        bank_keys("unseen")


def test_validation_pool_shares_nothing_with_training_or_testing():
    specs = make_pool("validation").specs
    ids = {s.identity.index for s in specs}
    test_ids = set().union(*(make_pool(n).identities for n in ("heldout_identity", "heldout_voice")))
    trained_ids = set().union(*(make_pool(n).identities for n in TRAINING_POOLS))
    assert len(ids) > 40 and not ids & (test_ids | trained_ids)  # other people
    test_keys = {s.speech.key for s in make_pool("heldout_voice").specs if s.speech.kind == "bank"}
    keys = {s.speech.key for s in specs if s.speech.kind == "bank"}
    assert keys and not keys & test_keys and not keys & set(bank_keys("train"))  # other recordings
    seeds = [s.speech.seed for s in specs if s.speech.kind == "synth"]
    assert seeds and min(seeds) >= 2**32  # a third synthetic stream, apart from training and held-out
    assert set(bank_keys("heldout")) == set(bank_keys("unseen_voice")) | set(bank_keys("heldout_train_voice"))


def test_validation_voice_pool_speaks_in_voices_no_other_pool_plays():
    """The ``validation_voice`` pool: the validation pool's people, its sentences read by 2 voices that no training
    pool, no test pool and no other recording has; the pools before it are drawn as they were."""
    voice_of = {e["key"]: e["voice"] for e in bank_manifest()}
    specs = make_pool("validation_voice").specs
    assert {s.identity.index for s in specs} <= {i.index for i in validation_identities()}
    keys = {s.speech.key for s in specs if s.speech.kind == "bank"}
    assert keys == set(bank_keys("validation_voice")) and len({voice_of[k] for k in keys}) == 2
    elsewhere = {voice_of[k] for k in voice_of if k not in keys}
    assert not {voice_of[k] for k in keys} & elsewhere  # new speakers, the test's among the others
    text_of = {e["key"]: e["text"] for e in bank_manifest()}
    assert {text_of[k] for k in keys} == {text_of[k] for k in bank_keys("heldout_train_voice")}  # validation's words
    assert all(s.speech.seed >= 2**32 for s in specs if s.speech.kind == "synth")  # the third synthetic stream
    for name in POOL_CONFIGS:
        if name != "validation_voice":
            assert not {s.speech.key for s in make_pool(name).specs} & keys, name
    assert set(bank_keys("unseen_voice")) == {k for k in bank_keys("heldout") if voice_of[k] == "en-gb-scotland+f3"}
    assert set(VALIDATION_POOLS) == {"validation", "validation_voice"} <= set(POOL_CONFIGS)  # the scripts' choices


def test_pools_are_deterministic_and_seeded():
    make_pool.cache_clear()
    a = make_pool("stage2", 0)
    make_pool.cache_clear()
    assert make_pool("stage2", 0).specs == a.specs
    assert make_pool("stage2", 1).specs != a.specs
    assert len(make_pool("stage2", 0, size=10)) == 10


def test_unknown_pool_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown pool 'stage3'"):
        make_pool("stage3")
    assert set(POOL_CONFIGS) >= set(TRAINING_POOLS)


def test_voice_rates_make_new_voices_from_the_banks_and_change_nothing_else():
    """Speed perturbation: a bank recording played 1.15x faster has every frequency 1.15x higher (spectral
    centroid), keeps the bank's peak; a pool drawn with rates differs from the plain pool only in its bank rates."""
    import dataclasses

    import librosa
    import numpy as np

    from humo_lite.data.pools import with_voice_rates
    from humo_lite.data.speech import SpeechSpec, speech_audio

    spec = SpeechSpec("bank", key=bank_keys("train")[0], offset=0.2)
    plain, fast = (speech_audio(dataclasses.replace(spec, rate=r), 32_000) for r in (1.0, 1.15))
    assert np.array_equal(plain, speech_audio(spec, 32_000)) and abs(np.abs(fast).max() - 0.5) < 1e-3

    def centroid(audio):
        frames = librosa.feature.spectral_centroid(y=audio, sr=16_000)[0]
        return np.median(frames[librosa.feature.rms(y=audio)[0] > 0.02])

    assert 1.08 < centroid(fast) / centroid(plain) < 1.22  # 1.15: the voice moved up; 1.0 would fail
    for bad in (dict(kind="bank", key=spec.key, rate=0.3), dict(kind="synth", rate=1.1)):
        with pytest.raises(ValueError, match=r"rate must be in \[0\.5, 2\]"):
            SpeechSpec(**bad)

    pool = make_pool("stage2")
    assert all(s.speech.rate == 1.0 for s in pool.specs)  # the shipped pools: no rates
    rated = with_voice_rates(list(pool.specs), 0.15, np.random.default_rng(0))
    rates = [s.speech.rate for s in rated if s.speech.kind == "bank"]
    assert all(0.85 <= r <= 1.15 for r in rates) and np.std(rates) > 0.05
    assert [dataclasses.replace(s, speech=dataclasses.replace(s.speech, rate=1.0)) for s in rated] == list(pool.specs)
    assert all(s.speech.rate == 1.0 for s in rated if s.speech.kind == "synth")
    drawn = make_pool("stage2", size=40, voice_rates=0.15).specs  # the pool drawn with rates: the same clips
    assert [s.speech.key for s in drawn] == [s.speech.key for s in pool.specs[:40]]
    assert any(s.speech.rate != 1.0 for s in drawn) and make_pool("stage2", size=40).specs == pool.specs[:40]
    with pytest.raises(ValueError, match=r"voice_rates must be in \(0, 0\.5\)"):
        with_voice_rates(list(pool.specs), 0.6, np.random.default_rng(0))


def test_the_stage2_voices_plan_keeps_every_held_out_voice_and_sentence_unseen():
    """``scripts/make_speech_bank.py``'s ``train_stage2`` plan: 60 training recordings in 12 new voices, each training
    sentence twice; no held-out sentence, no Scottish accent and not the held-out voice's variant (a leak would fail
    here)."""
    import importlib.util
    from collections import Counter
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_speech_bank.py"
    spec = importlib.util.spec_from_file_location("make_speech_bank", path)
    bank = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bank)
    rows = bank.stage2_plan(40)
    assert len(rows) == 60 and len({r["voice"] for r in rows}) == 12
    assert all(r["split"] == "train_stage2" for r in rows)
    assert set(Counter(r["text"] for r in rows).values()) == {2}
    assert {r["text"] for r in rows} == set(bank.TRAIN_SENTENCES)
    heldout_voice = bank.HELDOUT_ONLY_VOICE
    assert not {r["voice"] for r in rows} & ({heldout_voice} | set(bank.TRAIN_VOICES))
    assert not any("scotland" in r["voice"] or r["voice"].endswith("+" + heldout_voice.split("+")[1]) for r in rows)
    assert len({r["key"] for r in rows}) == 60 and rows[0]["key"].startswith("train_stage2_040_")


def test_the_validation_voices_plan_reads_validation_sentences_in_voices_used_nowhere_else():
    """``scripts/make_speech_bank.py``'s ``validation_voice`` plan: the 4 held-out sentences the validation pool hears
    in training voices, read by 2 voices that no other planned recording uses (not the test's voice, no Scottish
    accent, not its variant); and the shipped bank holds exactly those 8 recordings."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_speech_bank.py"
    spec = importlib.util.spec_from_file_location("make_speech_bank", path)
    bank = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bank)
    rows = bank.validation_plan(99)
    base = bank.plan()
    validation_texts = {r["text"] for r in base if r["split"] == "heldout" and r["voice"] != bank.HELDOUT_ONLY_VOICE}
    assert len(rows) == 8 and {r["text"] for r in rows} == validation_texts and len(validation_texts) == 4
    others = {r["voice"] for r in base + bank.stage2_plan(40)}
    assert {r["voice"] for r in rows} == set(bank.VALIDATION_VOICES) and not others & set(bank.VALIDATION_VOICES)
    assert not any("scotland" in v or v.endswith("+f3") for v in bank.VALIDATION_VOICES)
    shipped = {e["key"]: e for e in bank_manifest() if e["split"] == "validation_voice"}
    assert set(shipped) == {r["key"] for r in rows}
    assert all(e["voice"] in bank.VALIDATION_VOICES for e in shipped.values())


def test_only_the_stage2_pool_plays_the_stage2_voices():
    """The shipped bank: 30 ``train`` recordings in 6 voices, 59 ``train_stage2`` in 12 more, 10 held out. The stage-2
    pool's bank clips play all 18 voices; every other pool and the judge's clips play none of the 12, so the earlier
    stages' data is what it was; the held-out voice is in no training split, and the validation pool's bank
    sentences are the held-out ones in the 6 training voices."""
    from humo_lite.data.speech import bank_manifest
    from humo_lite.eval.judge_data import judge_specs

    voice = {m["key"]: m["voice"] for m in bank_manifest()}
    train, extra = bank_keys("train"), bank_keys("train_stage2")
    assert (len(train), len(extra), len(bank_keys("heldout"))) == (30, 59, 10)
    assert bank_keys("stage2") == train + extra and len({voice[k] for k in train + extra}) == 18
    assert not {voice[k] for k in train} & {voice[k] for k in extra}
    assert {voice[k] for k in bank_keys("unseen_voice")} == {"en-gb-scotland+f3"}
    assert {voice[k] for k in bank_keys("heldout_train_voice")} <= {voice[k] for k in train}

    def played(specs):
        return {s.speech.key for s in specs if s.speech.kind == "bank"}

    stage2 = played(make_pool("stage2").specs)
    assert stage2 & set(extra) and stage2 & set(train) and len({voice[k] for k in stage2}) == 18
    for name in ("heldout_identity", "heldout_scene", "heldout_speech", "heldout_voice", "validation"):
        assert not played(make_pool(name).specs) & set(extra), name
    assert not played(judge_specs(400, "train")) & set(extra) and played(judge_specs(400, "train"))
    with pytest.raises(ValueError, match="split must be one of"):
        bank_keys("extra")

"""The data pools: plenty of video, fewer references, few synced triplets — and what is held out.

HuMo's data is scarce in exactly this order (``docs/paper_notes.md`` §5–§6): O(1)M text–video clips with
reference images for stage 1, O(50)K with synced audio for stage 2, and far more plain text–video
before that (the pretrained Wan). Our pools keep that shape:

==================  =====  ==========================  ==========  ====================  ===========
pool                 clips  conditions given            identities  (background, clothing)  speech
==================  =====  ==========================  ==========  ====================  ===========
foundation           6000   text                        240         30 pairs               synth
stage1               1500   text + reference            120         15 pairs               synth
stage2                400   text + reference + audio     60          8 pairs               synth + bank (18 voices)
heldout_identity      200   all                          60 unseen  30 pairs               synth + bank
heldout_scene         200   all                         240          6 unseen pairs        synth + bank
heldout_speech        200   all                         240         30 pairs               unseen
heldout_voice         200   all                          60 unseen  30 pairs               unseen voices
validation            200   all                          60 others  30 pairs               validation
validation_voice      200   all                          60 others  30 pairs               validation voices
==================  =====  ==========================  ==========  ====================  ===========

Every clip still *has* a face that talks (the foundation pool's mouths move with speech the model
never hears, as in real text–video data); "conditions given" is what a training stage may show the
model. Unseen identities, unseen (background, clothing) combinations and unseen speech (held-out bank
sentences and voices, and synthetic utterances from a separate seed stream) never appear in any
training pool. ``heldout_voice`` holds out both at once — unseen people speaking unseen recordings in voices
no training pool has (the bank's held-out sentences read by its held-out voice, and synthetic speech from the
held-out seed stream) — and is where the audio chapters measure lip sync (stage 2's check).

The stage-2 pool's bank half plays 18 voices: the 6 of the bank's ``train`` recordings and 12 more that only it
hears (``train_stage2``, :func:`~humo_lite.data.speech.bank_keys`). With the 6 alone, stage 2 learned the training
voices more than speech (chapter 04); every other pool keeps the 6, so the earlier stages' data does not depend on
it.

``validation`` is for choosing settings (guidance scales, loss weights): 60 more people that neither train nor
test, speaking the bank's held-out sentences in its training voices (the test pool uses the held-out voice)
and synthetic speech from a third seed stream. A setting chosen on it has seen no clip it is judged on.
``validation_voice`` is the same 60 people with the test's kind of speech: the bank half is those validation
sentences read by 2 voices that no other pool plays (the bank's ``validation_voice`` recordings), the synthetic half
the third seed stream. Stage 2's choices about *voices* are made on it: a speaker no training pool has is the test's
condition, and ``validation``'s bank half hears only training voices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from .attributes import BACKGROUNDS, CLOTHING, MOTIONS, POSITIONS, Identity, Scene, heldout_scene_pairs
from .speech import SpeechSpec, bank_keys
from .world import ClipSpec

MODALITIES = ("text", "reference", "audio")
NUM_HELDOUT_IDENTITIES = 60
NUM_TRAIN_IDENTITIES = 240
NUM_VALIDATION_IDENTITIES = 60
MAX_VOICE_RATES = 0.5  # voice_rates below this: every playback rate stays in (0.5, 1.5)


@dataclass(frozen=True)
class PoolConfig:
    """How one pool is drawn (see the module table)."""

    size: int
    modalities: tuple[str, ...]
    identities: str | int  # "heldout", "validation", or how many of the training identities
    scene_pairs: str | int  # "heldout", or how many of the training (background, clothing) pairs
    speech: str  # "synth", "mixed" (half synth, half the bank's 6 training voices), "mixed_stage2" (half synth,
    #              half the bank's 18 stage-2 voices), "heldout", "unseen_voice" (held-out voices only),
    #              "validation" (held-out sentences in training voices, and a third synth stream) or
    #              "validation_voice" (those sentences in the 2 validation voices, and the third synth stream)
    voice_rates: float = 0.0  # > 0: each bank recording played at a rate drawn from [1 - v, 1 + v] (new voices)


POOL_CONFIGS = {
    "foundation": PoolConfig(6000, ("text",), NUM_TRAIN_IDENTITIES, 30, "synth"),
    "stage1": PoolConfig(1500, ("text", "reference"), 120, 15, "synth"),
    "stage2": PoolConfig(400, MODALITIES, 60, 8, "mixed_stage2"),
    "heldout_identity": PoolConfig(200, MODALITIES, "heldout", 30, "mixed"),
    "heldout_scene": PoolConfig(200, MODALITIES, NUM_TRAIN_IDENTITIES, "heldout", "mixed"),
    "heldout_speech": PoolConfig(200, MODALITIES, NUM_TRAIN_IDENTITIES, 30, "heldout"),
    "heldout_voice": PoolConfig(200, MODALITIES, "heldout", 30, "unseen_voice"),
    "validation": PoolConfig(200, MODALITIES, "validation", 30, "validation"),
    "validation_voice": PoolConfig(200, MODALITIES, "validation", 30, "validation_voice"),  # appended: the
    #                  pools above draw from streams numbered by their place, so they are unchanged
}
TRAINING_POOLS = ("foundation", "stage1", "stage2")
VALIDATION_POOLS = ("validation", "validation_voice")  # where settings are chosen: neither trains nor tests


@dataclass(frozen=True)
class Pool:
    """A named, ordered list of :class:`ClipSpec` and the conditions a stage may use from it."""

    name: str
    specs: tuple[ClipSpec, ...]
    modalities: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.specs)

    def __getitem__(self, index: int) -> ClipSpec:
        return self.specs[index]

    @property
    def identities(self) -> set[int]:
        return {spec.identity.index for spec in self.specs}

    @property
    def scene_pairs(self) -> set[tuple[int, int]]:
        return {(spec.scene.background, spec.scene.clothing) for spec in self.specs}


def _rng(world_seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([world_seed, *tags]))


def identity_split(world_seed: int = 0) -> tuple[list[Identity], list[Identity]]:
    """Disjoint (train, held-out) identities, drawn without replacement from all 1440 combinations."""
    everyone = Identity.all()
    order = _rng(world_seed, 0x1D).permutation(len(everyone))
    heldout = [everyone[i] for i in order[:NUM_HELDOUT_IDENTITIES]]
    train = [everyone[i] for i in order[NUM_HELDOUT_IDENTITIES : NUM_HELDOUT_IDENTITIES + NUM_TRAIN_IDENTITIES]]
    return train, heldout


def validation_identities(world_seed: int = 0) -> list[Identity]:
    """60 identities that are in neither :func:`identity_split` list: for choosing settings, never for training or
    testing."""
    everyone = Identity.all()
    order = _rng(world_seed, 0x1D).permutation(len(everyone))  # the same order identity_split draws from
    start = NUM_HELDOUT_IDENTITIES + NUM_TRAIN_IDENTITIES
    return [everyone[i] for i in order[start : start + NUM_VALIDATION_IDENTITIES]]


def scene_pair_split(world_seed: int = 0) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(training, held-out) (background, clothing) pairs; training pairs in a seeded order."""
    heldout = heldout_scene_pairs(world_seed)
    pairs = [(b, c) for b in range(len(BACKGROUNDS)) for c in range(len(CLOTHING)) if (b, c) not in heldout]
    order = _rng(world_seed, 0x9A1).permutation(len(pairs))
    return [pairs[i] for i in order], sorted(heldout)


def _speech(kind: str, rng: np.random.Generator) -> SpeechSpec:
    if kind == "mixed":
        kind = "synth" if rng.random() < 0.5 else "bank_train"
    elif kind == "mixed_stage2":
        kind = "synth" if rng.random() < 0.5 else "bank_stage2"
    elif kind == "heldout":
        kind = "synth_heldout" if rng.random() < 0.5 else "bank_heldout"
    elif kind == "unseen_voice":
        kind = "synth_heldout" if rng.random() < 0.5 else "bank_unseen_voice"
    elif kind == "validation":
        kind = "synth_validation" if rng.random() < 0.5 else "bank_heldout_train_voice"
    elif kind == "validation_voice":
        kind = "synth_validation" if rng.random() < 0.5 else "bank_validation_voice"
    if kind.startswith("bank"):
        keys = bank_keys(kind[len("bank_"):])
        return SpeechSpec("bank", key=keys[int(rng.integers(len(keys)))], offset=float(rng.random()))
    # Synth seed streams: training [0, 2**31), held out [2**31, 2**32), validation [2**32, 2**32 + 2**31).
    offset = {"synth": 0, "synth_heldout": 2**31, "synth_validation": 2**32}[kind]
    return SpeechSpec("synth", seed=int(rng.integers(2**31)) + offset)


@lru_cache(maxsize=32)
def make_pool(name: str, world_seed: int = 0, size: int | None = None, voice_rates: float | None = None) -> Pool:
    """Draw pool ``name`` (see the module table); ``size`` overrides its number of clips, ``voice_rates`` its
    :class:`PoolConfig` ``voice_rates`` (bank recordings played at rates in [1 − v, 1 + v]; 0: as recorded)."""
    if name not in POOL_CONFIGS:
        raise ValueError(f"unknown pool {name!r}; expected one of {list(POOL_CONFIGS)}")
    config = POOL_CONFIGS[name] if voice_rates is None else replace(POOL_CONFIGS[name], voice_rates=voice_rates)
    train_ids, heldout_ids = identity_split(world_seed)
    train_pairs, heldout_pairs = scene_pair_split(world_seed)
    identities = {"heldout": heldout_ids, "validation": validation_identities(world_seed)}.get(
        config.identities, train_ids[: config.identities] if isinstance(config.identities, int) else None)
    pairs = heldout_pairs if config.scene_pairs == "heldout" else train_pairs[: config.scene_pairs]
    rng = _rng(world_seed, 0x9001, list(POOL_CONFIGS).index(name))
    specs = []
    for _ in range(config.size if size is None else size):
        background, clothing = pairs[int(rng.integers(len(pairs)))]
        scene = Scene(background, clothing, int(rng.integers(len(POSITIONS))), int(rng.integers(len(MOTIONS))))
        identity = identities[int(rng.integers(len(identities)))]
        specs.append(ClipSpec(identity, scene, _speech(config.speech, rng), int(rng.integers(2**31))))
    if config.voice_rates:
        specs = with_voice_rates(specs, config.voice_rates, _rng(world_seed, 0x5EED, list(POOL_CONFIGS).index(name)))
    return Pool(name, tuple(specs), config.modalities)


def with_voice_rates(specs: list[ClipSpec], spread: float, rng: np.random.Generator) -> list[ClipSpec]:
    """``specs`` with each bank recording's playback rate drawn uniformly from [1 − spread, 1 + spread]
    (:class:`~humo_lite.data.speech.SpeechSpec` ``rate``): more voices from the bank's few. The rates come from
    their own stream ``rng``, so every other field of the pool is what it is without them."""
    if not 0.0 < spread < MAX_VOICE_RATES:
        raise ValueError(f"voice_rates must be in (0, {MAX_VOICE_RATES}), got {spread!r}")
    rates = rng.uniform(1.0 - spread, 1.0 + spread, size=len(specs))
    return [replace(s, speech=replace(s.speech, rate=float(r))) if s.speech.kind == "bank" else s
            for s, r in zip(specs, rates, strict=True)]


def pool_summary(world_seed: int = 0) -> list[dict]:
    """One row per pool: clips, identities, scene pairs, conditions — for tables and plots."""
    rows = []
    for name in POOL_CONFIGS:
        pool = make_pool(name, world_seed)
        rows.append({
            "pool": name,
            "clips": len(pool),
            "identities": len(pool.identities),
            "scene_pairs": len(pool.scene_pairs),
            "conditions": " + ".join(pool.modalities),
            "bank_speech": sum(spec.speech.kind == "bank" for spec in pool.specs),
        })
    return rows

"""Captions from templates, and the word-level tokenizer that reads them.

HuMo captions its clips with VLMs (Qwen2.5-VL, Gemini) and reads them with umT5 (``docs/paper_notes.md``
§1.4, §6). Our captions are natural sentences from a few templates, so the text encoder must learn
that different wordings name the same scene; each caption names the four scene attributes and never
the identity (that is the reference image's job).

The tokenizer is a fixed word list: every word any template or attribute can produce. Words outside
it raise an error by default (a typo would otherwise silently become ``<unk>``); pass
``on_unknown="unk"`` to map them to ``<unk>`` instead.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from .attributes import BACKGROUNDS, CLOTHING, SCENE_FIELDS, Scene

POSITION_PHRASES = {"left": "on the left of", "centre": "in the centre of", "right": "on the right of"}
MOTION_PHRASES = {"still": ["keeping still", "standing still"], "nodding": ["nodding"], "swaying": ["swaying"]}
TEMPLATES = (
    "a person in a {clothing} shirt stands {position} a {background} room, {motion}",
    "someone wearing a {clothing} shirt is {motion} {position} a {background} room",
    "{position} a {background} room, a person in {clothing} is {motion}",
    "a {background} room with a person in a {clothing} shirt {position} it, {motion}",
)
EXAMPLE_CAPTION = "a person in a red shirt stands in the centre of a blue room, nodding"
"""The caption the README, the CLI's ``generate`` and the chapters start from."""
NULL_CAPTION = ""
"""The empty caption: the text condition's "null" for classifier-free guidance."""

PAD, UNK = "<pad>", "<unk>"
MAX_TOKENS = 24


def caption(scene: Scene, rng: np.random.Generator | None = None, template: int | None = None) -> str:
    """A sentence naming the scene's four attributes, in a template drawn from ``rng``."""
    rng = rng or np.random.default_rng(0)
    names = scene.names
    template = TEMPLATES[int(rng.integers(len(TEMPLATES))) if template is None else template]
    motions = MOTION_PHRASES[names["motion"]]
    position = POSITION_PHRASES[names["position"]]
    words = {
        "clothing": names["clothing"],
        "background": names["background"],
        "motion": motions[int(rng.integers(len(motions)))],
        "position": position,
    }
    text = re.sub(r"\ba (?=[aeiou])", "an ", template.format(**words))  # "an orange room"
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def split_words(text: str) -> list[str]:
    """A caption's tokens as the tokenizer sees them: lower-case words and commas."""
    return re.findall(r"[a-z]+|,", text.lower())


ROLES = ("other", "room colour", "shirt colour")
"""What a caption token does, as :func:`token_roles` labels it."""
IGNORE_ROLE = -100
"""The role label of padding (``torch.nn.functional.cross_entropy``'s default ``ignore_index``)."""


def token_roles(text: str, max_length: int = MAX_TOKENS) -> torch.Tensor:
    """Which colour word names the room and which the shirt: ``[max_length]`` int64 indices into ``ROLES``.

    "blue" and "green" are both room and shirt colours, so "a blue shirt ... a green room" and "a green
    shirt ... a blue room" contain the same words; only word order says which colour goes where. This
    labels each token by the grammar of the templates — a colour before "room" is the room's, a colour
    before "shirt" or after "person in" is the shirt's, everything else is "other" — and padding with
    ``IGNORE_ROLE``. Stage 0 uses it to teach the text encoder *binding* (see
    :class:`humo_lite.models.text_encoder.TextEncoder`).
    """
    words = split_words(text)
    roles = torch.full((max_length,), IGNORE_ROLE, dtype=torch.long)
    roles[: min(len(words), max_length)] = 0
    for i, word in enumerate(words[:max_length]):
        after = words[i + 1] if i + 1 < len(words) else ""
        if word in BACKGROUNDS and after == "room":
            roles[i] = 1
        elif word in CLOTHING and (after == "shirt" or words[max(i - 2, 0):i] == ["person", "in"]):
            roles[i] = 2
    return roles


def _build_vocab() -> list[str]:
    words = set()
    for template in TEMPLATES:
        words.update(split_words(template.format(clothing="", background="", motion="", position="")))
    for phrases in (*POSITION_PHRASES.values(), *(p for v in MOTION_PHRASES.values() for p in v)):
        words.update(split_words(phrases))
    for table in SCENE_FIELDS.values():
        words.update(table)
    words.add("an")
    return [PAD, UNK, *sorted(words)]


VOCAB = tuple(_build_vocab())


class Tokenizer:
    """Lower-cases, splits into words and commas, maps to ids; pads to ``max_length``.

    ``encode`` returns ``(ids, mask)`` as int64 / bool tensors of shape ``[max_length]``; batches of
    strings give ``[B, max_length]``. The empty caption encodes to all padding (the null text).
    """

    def __init__(self, vocab: tuple[str, ...] = VOCAB, max_length: int = MAX_TOKENS, on_unknown: str = "error"):
        if on_unknown not in ("error", "unk"):
            raise ValueError(f"on_unknown must be 'error' or 'unk', got {on_unknown!r}")
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.max_length = max_length
        self.on_unknown = on_unknown

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(text, str):
            pairs = [self.encode(t) for t in text]
            return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
        words = split_words(text)
        unknown = sorted({w for w in words if w not in self.index})
        if unknown and self.on_unknown == "error":
            raise ValueError(
                f"caption {text!r} has words outside the vocabulary: {unknown}. The world's captions name "
                f"a background, clothing colour, position and motion from humo_lite.data.attributes; the "
                f"vocabulary is humo_lite.data.captions.VOCAB. Pass on_unknown='unk' to map unknown words "
                f"to <unk> instead."
            )
        if len(words) > self.max_length:
            raise ValueError(f"caption has {len(words)} tokens, more than max_length={self.max_length}: {text!r}")
        ids = torch.zeros(self.max_length, dtype=torch.long)
        ids[: len(words)] = torch.tensor([self.index.get(w, 1) for w in words], dtype=torch.long)
        mask = torch.zeros(self.max_length, dtype=torch.bool)
        mask[: len(words)] = True
        return ids, mask

    def decode(self, ids: torch.Tensor) -> str:
        words = [self.vocab[int(i)] for i in ids if int(i) != 0]
        return " ".join(words).replace(" ,", ",")

"""What a clip is made of: who is in it (identity) and where and how (scene).

HuMo's data has two kinds of facts about a clip (``docs/paper_notes.md`` §6): who the person is, which the
*reference image* must carry, and everything else (background, clothing, placement, motion), which
only the *caption* carries — HuMo's references are retrieved so that clothing and background differ
from the clip. Our toy world makes that split exact:

- :class:`Identity` — face shape, skin tone, hair style, hair colour, eye colour. Drawn in the
  reference image and in every frame.
- :class:`Scene` — background, clothing colour, position (left / centre / right), head motion
  (still / nodding / swaying). Only the caption names them; the reference image never shows them.

Every attribute is an index into a small table of names (and colours), so every label is exact.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import numpy as np

# --- identity tables -------------------------------------------------------------------------------
FACE_SHAPES = {  # name -> (half-width, half-height) of the face ellipse, as fractions of the frame
    "round": (0.165, 0.170),
    "oval": (0.140, 0.180),
    "long": (0.125, 0.200),
    "wide": (0.185, 0.160),
}
SKIN_TONES = {
    "porcelain": (0.98, 0.87, 0.80),
    "peach": (0.95, 0.76, 0.62),
    "honey": (0.86, 0.64, 0.45),
    "olive": (0.74, 0.57, 0.38),
    "brown": (0.55, 0.37, 0.24),
    "ebony": (0.34, 0.22, 0.15),
}
HAIR_STYLES = ("short", "long", "bun", "curly")
HAIR_COLOURS = {
    "black": (0.08, 0.07, 0.07),
    "brown": (0.40, 0.24, 0.12),
    "blonde": (0.93, 0.80, 0.45),
    "auburn": (0.65, 0.22, 0.10),
    "grey": (0.70, 0.70, 0.72),
}
EYE_COLOURS = {
    "brown": (0.35, 0.18, 0.05),
    "blue": (0.15, 0.45, 0.95),
    "green": (0.15, 0.70, 0.25),
}

# --- scene tables ----------------------------------------------------------------------------------
BACKGROUNDS = {  # room colours: pastel, so that saturated clothing stands out against them
    "blue": (0.55, 0.68, 0.92),
    "green": (0.62, 0.84, 0.60),
    "orange": (0.98, 0.74, 0.48),
    "purple": (0.74, 0.62, 0.88),
    "grey": (0.62, 0.62, 0.62),
    "pink": (0.98, 0.72, 0.80),
}
CLOTHING = {  # shirt colours: saturated
    "red": (0.85, 0.10, 0.12),
    "blue": (0.10, 0.20, 0.80),
    "green": (0.05, 0.55, 0.15),
    "yellow": (0.98, 0.85, 0.05),
    "black": (0.08, 0.08, 0.10),
    "white": (0.98, 0.98, 0.98),
}
POSITIONS = {"left": 0.28, "centre": 0.50, "right": 0.72}  # x of the face centre, fraction of width
MOTIONS = ("still", "nodding", "swaying")

IDENTITY_FIELDS = {
    "face_shape": tuple(FACE_SHAPES),
    "skin_tone": tuple(SKIN_TONES),
    "hair_style": HAIR_STYLES,
    "hair_colour": tuple(HAIR_COLOURS),
    "eye_colour": tuple(EYE_COLOURS),
}
SCENE_FIELDS = {
    "background": tuple(BACKGROUNDS),
    "clothing": tuple(CLOTHING),
    "position": tuple(POSITIONS),
    "motion": MOTIONS,
}


@dataclass(frozen=True)
class Identity:
    """A person: one index per identity field. ``Identity.all()`` enumerates every combination."""

    face_shape: int
    skin_tone: int
    hair_style: int
    hair_colour: int
    eye_colour: int

    def __post_init__(self):
        _check_indices(self, IDENTITY_FIELDS)

    @property
    def index(self) -> int:
        """Position in the mixed-radix enumeration of all identities (a stable id)."""
        return _mixed_radix(self, IDENTITY_FIELDS)

    @property
    def names(self) -> dict[str, str]:
        return _names(self, IDENTITY_FIELDS)

    @staticmethod
    def all() -> list[Identity]:
        return [Identity(*combo) for combo in itertools.product(*(range(len(v)) for v in IDENTITY_FIELDS.values()))]

    def __str__(self) -> str:
        n = self.names
        return f"id-{self.index:04d} ({n['face_shape']} face, {n['skin_tone']} skin, {n['hair_colour']} " \
               f"{n['hair_style']} hair, {n['eye_colour']} eyes)"


@dataclass(frozen=True)
class Scene:
    """Where and how: background, clothing colour, position, head motion (indices)."""

    background: int
    clothing: int
    position: int
    motion: int

    def __post_init__(self):
        _check_indices(self, SCENE_FIELDS)

    @property
    def index(self) -> int:
        return _mixed_radix(self, SCENE_FIELDS)

    @property
    def names(self) -> dict[str, str]:
        return _names(self, SCENE_FIELDS)

    @staticmethod
    def all() -> list[Scene]:
        return [Scene(*combo) for combo in itertools.product(*(range(len(v)) for v in SCENE_FIELDS.values()))]

    @staticmethod
    def from_names(background: str, clothing: str, position: str, motion: str) -> Scene:
        """Build a scene from attribute names, e.g. ``Scene.from_names("blue", "red", "left", "nodding")``."""
        given = {"background": background, "clothing": clothing, "position": position, "motion": motion}
        return Scene(**{k: _lookup(k, v, SCENE_FIELDS[k]) for k, v in given.items()})


def heldout_scene_pairs(seed: int = 0) -> frozenset[tuple[int, int]]:
    """(background, clothing) pairs never shown in training: one clothing colour per background.

    A seeded permutation (a Latin-square diagonal), so every background and every clothing colour is
    still seen in training — only these *combinations* are new. That is the "unseen scene
    combination" split.
    """
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0x5CE4E])).permutation(len(CLOTHING))
    return frozenset((b, int(perm[b])) for b in range(len(BACKGROUNDS)))


def _check_indices(obj, fields: dict[str, tuple]) -> None:
    for name, table in fields.items():
        value = getattr(obj, name)
        if not isinstance(value, (int, np.integer)) or not 0 <= value < len(table):
            raise ValueError(f"{type(obj).__name__}.{name} must be an index in [0, {len(table)}), got {value!r}")


def _mixed_radix(obj, fields: dict[str, tuple]) -> int:
    index = 0
    for name, table in fields.items():
        index = index * len(table) + int(getattr(obj, name))
    return index


def _names(obj, fields: dict[str, tuple]) -> dict[str, str]:
    return {name: table[int(getattr(obj, name))] for name, table in fields.items()}


def _lookup(field: str, name: str, table: tuple) -> int:
    if name not in table:
        raise ValueError(f"unknown {field} {name!r}; expected one of {list(table)}")
    return table.index(name)


def labels(identity: Identity, scene: Scene) -> dict[str, int]:
    """Every exact label of a clip, as plain ints (what the judge is trained on)."""
    return {**asdict(identity), **asdict(scene), "identity": identity.index}

"""Read a clip's background and clothing colour straight from its pixels (no network).

The renderer paints the room in one of six pastel colours and the shirt in one of six saturated ones
(:mod:`humo_lite.data.attributes`). So a generated clip's scene can be checked without a judge: the
**background** is the palette colour nearest to the top corners (above any head), the **clothing** is
the palette colour most pixels of the bottom rows are nearest to, once pixels that look like the room
or its floor are set aside. Chapter 02 uses this to check that stage 0 follows the prompt; the judge
of chapter 08 is the learned, validated version for every attribute.
"""

from __future__ import annotations

import numpy as np

from ..data.attributes import BACKGROUNDS, CLOTHING
from ..data.render import FLOOR_SHADE
from ..layouts import one_clip

_BG = np.asarray(list(BACKGROUNDS.values()), np.float32)  # (6, 3)
_CLOTHES = np.asarray(list(CLOTHING.values()), np.float32)  # (6, 3)


def measure_background(video) -> int:
    """Index into ``BACKGROUNDS`` of the colour nearest to the top corners, averaged over frames."""
    video = one_clip(video)
    h, w = video.shape[1:3]
    k = max(1, h // 8)
    corners = np.concatenate([video[:, :k, :k], video[:, :k, -k:]], axis=2).reshape(-1, 3).mean(axis=0)
    return int(np.argmin(((_BG - corners) ** 2).sum(axis=1)))


def measure_clothing(video, background: int | None = None) -> int:
    """Index into ``CLOTHING`` that most bottom-row pixels are nearest to, room and floor excluded."""
    video = one_clip(video)
    background = measure_background(video) if background is None else background
    h = video.shape[1]
    pixels = video[:, -max(1, h // 8) :].reshape(-1, 3)  # the bottom rows: shirt and floor
    room = np.stack([_BG[background], FLOOR_SHADE * _BG[background]])  # (2, 3)
    d_room = ((pixels[:, None] - room[None]) ** 2).sum(-1).min(axis=1)
    d_clothes = ((pixels[:, None] - _CLOTHES[None]) ** 2).sum(-1)  # (N, 6)
    shirt = d_clothes.min(axis=1) < d_room  # pixels closer to some shirt colour than to the room
    if not shirt.any():
        return int(np.argmin(d_clothes.mean(axis=0)))
    votes = np.bincount(d_clothes[shirt].argmin(axis=1), minlength=len(_CLOTHES))
    return int(votes.argmax())


def scene_accuracy(videos, backgrounds, clothing) -> dict[str, float]:
    """Share of clips whose measured background / clothing equal the requested ones."""
    bg_hits, cl_hits = [], []
    for video, bg, cl in zip(videos, backgrounds, clothing, strict=True):
        measured_bg = measure_background(video)
        bg_hits.append(measured_bg == int(bg))
        cl_hits.append(measure_clothing(video, measured_bg) == int(cl))
    both = np.logical_and(bg_hits, cl_hits)
    return {
        "background": float(np.mean(bg_hits)),
        "clothing": float(np.mean(cl_hits)),
        "both": float(np.mean(both)),
    }

"""The renderer: talking heads in rooms, reference portraits on white, and face masks.

Every shape is an ellipse or circle drawn with anti-aliased edges (coverage from a signed distance,
one pixel wide), so sizes change *continuously*: a mouth opening by 0.1 changes pixel values by a
measurable amount at any resolution. That matters twice later: the VAE must keep the mouth, and the
judge must read mouth opening back from pixels.

Frame layout (coordinates are fractions of the frame, y down):

    wall (background colour) · floor band · [long hair behind] · neck · shirt (clothing colour)
    · face (skin) · hair cap (+ bun or curls) · eyes (eye colour) · mouth (opening from the lip law)

The head sits at x = left / centre / right and moves per frame (nodding: up and down; swaying: side
to side). The *reference* draws the same head alone on white — larger, tilted, centred, with a
closed smile — so it carries identity and nothing of the scene, and can never equal a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .attributes import (
    BACKGROUNDS,
    CLOTHING,
    EYE_COLOURS,
    FACE_SHAPES,
    HAIR_COLOURS,
    HAIR_STYLES,
    MOTIONS,
    POSITIONS,
    SKIN_TONES,
    Identity,
    Scene,
)

MOUTH_COLOUR = np.array([0.22, 0.02, 0.05], np.float32)  # dark: the mouth must stand out on every skin tone
HEAD_SCALE = 1.5  # head size in frames, relative to FACE_SHAPES: head-and-shoulders framing
HEAD_Y = 0.47  # resting height of the face centre
FLOOR_Y = 0.86  # the floor line, as a fraction of the frame height
FLOOR_SHADE = 0.8  # the floor is the room's colour darkened by this factor


@dataclass(frozen=True)
class HeadPose:
    """Where the head is in each frame: centre ``x``, ``y`` ``[F]``; ``scale`` and ``tilt`` (radians)."""

    x: np.ndarray
    y: np.ndarray
    scale: float = 1.0
    tilt: float = 0.0


def head_motion(scene: Scene, num_frames: int, fps: int, rng: np.random.Generator) -> HeadPose:
    """Per-frame head centre for the scene's position and motion (still, nodding, swaying)."""
    t = np.arange(num_frames) / fps
    phase = rng.uniform(0, 2 * np.pi)
    x = np.full(num_frames, POSITIONS[scene.names["position"]])
    y = np.full(num_frames, HEAD_Y)
    motion = MOTIONS[scene.motion]
    if motion == "nodding":
        y = y + 0.045 * np.sin(2 * np.pi * rng.uniform(1.4, 2.2) * t + phase)
    elif motion == "swaying":
        x = x + 0.06 * np.sin(2 * np.pi * rng.uniform(0.8, 1.4) * t + phase)
    return HeadPose(x.astype(np.float32), y.astype(np.float32), scale=HEAD_SCALE)


def _coverage(dist: np.ndarray, pixel: float) -> np.ndarray:
    """Anti-aliased coverage of a shape from its signed distance (negative inside), in [0, 1]."""
    return np.clip(0.5 - dist / pixel, 0.0, 1.0)


def _ellipse(u, v, cx, cy, rx, ry, pixel):
    """Coverage of an axis-aligned ellipse (approximate signed distance, exact enough for 1 px AA)."""
    q = np.sqrt(((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2)
    return _coverage((q - 1.0) * np.minimum(rx, ry), pixel)


def _paint(image: np.ndarray, alpha: np.ndarray, colour) -> None:
    """Composite ``colour`` over ``image`` (…, H, W, 3) with coverage ``alpha`` (…, H, W), in place."""
    image += alpha[..., None] * (np.asarray(colour, np.float32) - image)


def _draw_neck_and_back_hair(image, u, v, identity: Identity, pixel) -> None:
    """What lies behind the face: long hair (if any) and the neck."""
    names = identity.names
    a, b = FACE_SHAPES[names["face_shape"]]
    if HAIR_STYLES[identity.hair_style] == "long":
        _paint(image, _ellipse(u, v, 0.0, 0.35 * b, 1.3 * a, 1.25 * b, pixel), HAIR_COLOURS[names["hair_colour"]])
    _paint(image, _ellipse(u, v, 0.0, b + 0.04, 0.42 * a, 0.10, pixel), SKIN_TONES[names["skin_tone"]])


def _draw_head(image, u, v, identity: Identity, mouth, pixel, smile: bool = False) -> np.ndarray:
    """Draw face, hair, eyes and mouth in head-local coordinates ``u, v``; return the face coverage."""
    names = identity.names
    a, b = FACE_SHAPES[names["face_shape"]]
    skin, hair = SKIN_TONES[names["skin_tone"]], HAIR_COLOURS[names["hair_colour"]]
    style = HAIR_STYLES[identity.hair_style]
    face = _ellipse(u, v, 0.0, 0.0, a, b, pixel)
    _paint(image, face, skin)
    above_brow = _coverage(v + 0.2 * b, pixel)  # the cap only covers the top of the head
    _paint(image, _ellipse(u, v, 0.0, -0.2 * b, 1.1 * a, 0.9 * b, pixel) * above_brow, hair)
    if style == "bun":
        _paint(image, _ellipse(u, v, 0.0, -1.1 * b, 0.5 * a, 0.4 * b, pixel), hair)
    elif style == "curly":
        for angle in np.linspace(np.pi * 1.05, np.pi * 1.95, 6):
            cx, cy = 1.0 * a * np.cos(angle), -0.15 * b + 0.95 * b * np.sin(angle)
            _paint(image, _ellipse(u, v, cx, cy, 0.33 * a, 0.33 * a, pixel), hair)
    eye_r = 0.2 * a + 0.004
    for side in (-1.0, 1.0):
        _paint(image, _ellipse(u, v, side * 0.42 * a, -0.1 * b, eye_r, eye_r, pixel), EYE_COLOURS[names["eye_colour"]])
    mouth = np.asarray(mouth, np.float32).reshape(-1, 1, 1)
    if smile:
        _paint(image, _ellipse(u, v, 0.0, 0.5 * b, 0.55 * a, 0.012 + 0.06 * b, pixel), MOUTH_COLOUR)
    else:
        _paint(image, _ellipse(u, v, 0.0, 0.48 * b, 0.5 * a, 0.012 + 0.28 * b * mouth, pixel), MOUTH_COLOUR)
    return face


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as fractions of the frame: x ``(1, 1, W)``, y ``(1, H, 1)``."""
    x = ((np.arange(width, dtype=np.float32) + 0.5) / width).reshape(1, 1, width)
    y = ((np.arange(height, dtype=np.float32) + 0.5) / height).reshape(1, height, 1)
    return x, y


def render_frames(
    identity: Identity, scene: Scene, pose: HeadPose, mouth: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Render a clip: frames ``(F, H, W, 3)`` float32 in [0, 1] and face masks ``(F, H, W)`` bool."""
    num_frames = len(pose.x)
    pixel = 1.0 / min(height, width)
    x, y = _grid(height, width)
    hx, hy = pose.x.reshape(-1, 1, 1), pose.y.reshape(-1, 1, 1)
    u, v = (x - hx) / pose.scale, (y - hy) / pose.scale  # head-local: (F, 1, W) and (F, H, 1)

    image = np.empty((num_frames, height, width, 3), np.float32)
    image[:] = np.asarray(BACKGROUNDS[scene.names["background"]], np.float32)
    floor = np.broadcast_to(_coverage(FLOOR_Y - y, pixel), image.shape[:3])  # (F, H, W)
    _paint(image, floor, FLOOR_SHADE * image[0, 0, 0])
    _draw_neck_and_back_hair(image, u, v, identity, pixel / pose.scale)
    rest_x = POSITIONS[scene.names["position"]]
    body_u = x - (rest_x + 0.5 * (hx - rest_x))  # the body sways half as far as the head
    _paint(image, _ellipse(body_u, y, 0.0, 1.06, 0.36, 0.36, pixel), CLOTHING[scene.names["clothing"]])
    face = _draw_head(image, u, v, identity, mouth, pixel / pose.scale)
    return image, face >= 0.5


def render_reference(identity: Identity, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The identity alone on white: centred, drawn 1.1–1.25x ``HEAD_SCALE`` (larger than in the clips), tilted 6–12°
    either way, closed smile. ``(H, W, 3)``."""
    scale = HEAD_SCALE * rng.uniform(1.1, 1.25)
    tilt = rng.uniform(np.deg2rad(6), np.deg2rad(12)) * rng.choice([-1.0, 1.0])
    cx, cy = 0.5 + rng.uniform(-0.04, 0.04), 0.47 + rng.uniform(-0.03, 0.03)
    x, y = _grid(height, width)
    dx, dy = np.broadcast_arrays(x - cx, y - cy)  # (1, H, W)
    cos, sin = np.cos(tilt), np.sin(tilt)
    u, v = (cos * dx + sin * dy) / scale, (cos * dy - sin * dx) / scale  # head-local, rotated
    pixel = 1.0 / min(height, width) / scale
    image = np.ones((1, height, width, 3), np.float32)
    _draw_neck_and_back_hair(image, u, v, identity, pixel)
    _draw_head(image, u, v, identity, np.zeros(1), pixel, smile=True)
    return image[0]


def mouth_darkness(video: np.ndarray, face_mask: np.ndarray) -> np.ndarray:
    """Read mouth opening back from pixels: how much darker than skin the lower face is, per frame.

    Over the lower half of each frame's face mask (below the eyes and the hair, where only the mouth
    is dark), sums how far each pixel's luminance falls below the skin's (the median there).
    Arbitrary units; ``(F, H, W, 3)``, ``(F, H, W)`` → ``(F,)``. A check, with no model involved,
    that the lip law really reached the pixels.
    """
    lum = video @ np.array([0.299, 0.587, 0.114], np.float32)  # (F, H, W)
    rows = np.arange(video.shape[1])[:, None]
    out = np.zeros(len(video), np.float32)
    for i, (frame, mask) in enumerate(zip(lum, face_mask, strict=False)):
        if not mask.any():
            continue
        lower = mask & (rows > np.nonzero(mask)[0].mean())
        out[i] = np.clip(np.median(frame[lower]) - frame[lower], 0.0, None).sum()
    return out

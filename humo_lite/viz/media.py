"""Play clips in a notebook: video *with its sound*, audio alone, and a frame scrubber.

``video_player`` encodes an MP4 (H.264 + AAC, through imageio-ffmpeg's bundled ffmpeg) and embeds
it in the page, so the clip plays with its audio in Jupyter, VS Code and exported HTML alike.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import numpy as np

from ..io import write_mp4
from ..layouts import one_clip, to_uint8
from ..presets import FPS, SAMPLE_RATE


def video_player(video, audio: np.ndarray | None = None, scale: int = 8, fps: int = FPS):
    """An HTML5 player for ``video`` (with ``audio`` as its sound track when given)."""
    from IPython.display import HTML

    with tempfile.TemporaryDirectory() as tmp:
        path = write_mp4(Path(tmp) / "clip.mp4", to_uint8(one_clip(video)), fps=fps, audio=audio, scale=scale)
        data = base64.b64encode(path.read_bytes()).decode()
    return HTML(f'<video controls loop src="data:video/mp4;base64,{data}" style="image-rendering: pixelated"></video>')


def audio_player(audio: np.ndarray, sample_rate: int = SAMPLE_RATE):
    """A notebook audio widget for 16 kHz mono audio."""
    from IPython.display import Audio

    return Audio(np.asarray(audio, np.float32), rate=sample_rate, normalize=False)


def frame_scrubber(video, overlays: dict[str, np.ndarray] | None = None, scale: int = 8):
    """An ipywidgets slider over frames; ``overlays`` maps a name to per-frame values to print beside.

    Example: ``frame_scrubber(clip.video, {"mouth": clip.mouth})``.
    """
    import ipywidgets as widgets

    frames = to_uint8(one_clip(video))
    big = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    image = widgets.Image(format="png", width=big.shape[2], height=big.shape[1])
    label = widgets.Label()
    slider = widgets.IntSlider(min=0, max=len(frames) - 1, value=0, description="frame")

    def show(change=None):
        import cv2

        i = slider.value
        ok, png = cv2.imencode(".png", big[i][..., ::-1])
        image.value = png.tobytes()
        extra = ", ".join(f"{k} = {float(v[i]):.2f}" for k, v in (overlays or {}).items())
        label.value = f"frame {i} / {len(frames) - 1}, t = {i / FPS:.2f} s" + (f"; {extra}" if extra else "")

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, image, label])

"""Show things in a notebook: video *with its sound*, audio alone, a frame scrubber, a chapter's numbers as a
table, and the banner of a fast (SMOKE) run.

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


def _format(value, digits: int) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        shown = ", ".join(_format(v, digits) for v in items[:8]) + (", …" if len(items) > 8 else "")
        return f"({shown})" if isinstance(value, tuple) else f"[{shown}]"
    return str(value)


def results_table(values: dict, header: tuple[str, str] = ("result", "value"), digits: int = 3):
    """``values`` as a small Markdown table: nested dicts flattened (``"identity / TI / id_lite"``), floats to
    ``digits`` significant digits, lists shortened to their first 8 items; shapes and strings as they are."""
    from IPython.display import Markdown

    def rows(prefix: str, value):
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                yield from rows(f"{prefix} / {key}" if prefix else str(key), inner)
        else:
            yield prefix, _format(value, digits)

    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {key} | {text.replace('|', '/')} |" for key, text in rows("", values)]
    return Markdown("\n".join(lines))


def smoke_banner(full_numbers: str = "the chapter's text: *Expected numbers* at the top, and the reading after "
                                     "each result"):
    """The banner a SMOKE run shows at its top: its numbers and pictures come from the fast run (tiny models, a
    few clips) and only show that the code runs; the full run's numbers are in ``full_numbers``."""
    from IPython.display import HTML

    return HTML('<div style="background:#fff3cd;border:1px solid #e0b84a;border-radius:4px;padding:.6rem 1rem">'
                "<strong>Fast run (SMOKE = True).</strong> The numbers and pictures below come from the fast run "
                "(tiny models, few clips, few steps): they show that the code runs, not what the chapter finds, "
                "and may be far from the text's. The full run's numbers are in "
                f"{_markdown_emphasis(full_numbers)}; set "
                "<code>SMOKE = False</code> to make them.</div>")


def _markdown_emphasis(text: str) -> str:
    import re

    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)

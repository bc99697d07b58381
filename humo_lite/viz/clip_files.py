"""A clip as files to look at: an MP4 with its sound track and a PNG strip (``humo-lite tour``, ``data show``)."""

from __future__ import annotations

import os
from pathlib import Path

from ..io import atomic_path, write_mp4
from .plots import plot_clip


def save_clip(clip, out_dir: str | os.PathLike, name: str, scale: int = 8) -> list[Path]:
    """Write ``name.mp4`` (with sound) and ``name.png`` (frames, reference, masks) into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    mp4 = write_mp4(out_dir / f"{name}.mp4", clip.video, audio=clip.audio, scale=scale)
    fig = plot_clip(clip)
    with atomic_path(out_dir / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return [mp4, out_dir / f"{name}.png"]


__all__ = ["save_clip"]

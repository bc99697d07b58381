"""Pictures and sound: matplotlib figures, in-notebook playback with audio, and ipywidgets scrubbers."""

from .media import audio_player, frame_scrubber, video_player
from .plots import plot_audio_windows, plot_clip, plot_lip_law, plot_pools

__all__ = ["audio_player", "frame_scrubber", "plot_audio_windows", "plot_clip", "plot_lip_law", "plot_pools",
           "video_player"]

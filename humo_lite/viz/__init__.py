"""Pictures and sound: matplotlib figures, in-notebook playback with audio, and ipywidgets scrubbers."""

from .attention import attention_slider, plot_reference_attention, plot_sequence_layout, plot_subject_lift
from .media import audio_player, frame_scrubber, video_player
from .plots import mouth_crops, plot_audio_windows, plot_clip, plot_lip_law, plot_mouth_strip, plot_pools

__all__ = ["attention_slider", "audio_player", "frame_scrubber", "mouth_crops", "plot_audio_windows", "plot_clip",
           "plot_lip_law", "plot_mouth_strip", "plot_pools", "plot_reference_attention", "plot_sequence_layout",
           "plot_subject_lift", "video_player"]

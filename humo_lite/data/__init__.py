"""The toy world (``docs/design.md`` §2): identities, scenes, speech, the lip law, pools and datasets."""

from .attributes import Identity, Scene
from .audio import audio_features, audio_windows, check_audio, lip_law, load_wav
from .byo import ByoDataset, read_byo_clip
from .captions import Tokenizer, caption
from .dataset import TripletDataset, collate_triplets
from .pools import POOL_CONFIGS, Pool, make_pool, pool_summary
from .speech import SpeechSpec, synth_speech
from .world import Clip, ClipSpec, make_clip, render_clip

__all__ = [
    "ByoDataset", "Clip", "ClipSpec", "Identity", "POOL_CONFIGS", "Pool", "Scene", "SpeechSpec", "Tokenizer",
    "TripletDataset", "audio_features", "audio_windows", "caption", "check_audio", "collate_triplets", "lip_law",
    "load_wav", "make_clip", "make_pool", "pool_summary", "read_byo_clip", "render_clip", "synth_speech",
]

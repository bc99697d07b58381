"""A torch ``Dataset`` of triplets, and the collate that batches them.

Each item is a dict of tensors in the library's layout (video ``[C, F, H, W]`` in [-1, 1], as
diffusers' video VAEs expect). Conditions a pool does not give (see
:mod:`humo_lite.data.pools`) are *null* exactly as HuMo's nulls: a zero reference image with
``has_reference = False``, all-zero audio windows with ``has_audio = False``. Ground truth (face
masks, lip-law mouth opening, labels, the waveform) is always there, for losses and metrics.

=====================  ======================  ==============================================
key                    shape                   what
=====================  ======================  ==============================================
``video``              ``[3, F, H, W]``        frames in [-1, 1]
``reference``          ``[3, H, W]``           identity on white, in [-1, 1] (zeros if null)
``text_ids``           ``[L]`` int64           caption tokens (``L = 24``), 0 = padding
``text_mask``          ``[L]`` bool            which tokens are real
``audio_windows``      ``[F_lat, 8, 80]``      HuMo's per-latent-frame windows (zeros if null)
``audio_features``     ``[F, 80]``             log-mel per video frame (zeros if null)
``face_mask``          ``[F, H, W]``           1 on the face
``mouth``              ``[F]``                 lip-law opening in [0, 1]
``audio``              ``[F * 640]``           the waveform, 16 kHz
``has_reference``      ``[]`` bool             is the reference a real condition
``has_audio``          ``[]`` bool             is the audio a real condition
``labels``             dict of ``[]`` int64    identity and scene attributes
``caption``            str                     the sentence
``index``              ``[]`` int64            position in the pool
=====================  ======================  ==============================================

For later chapters, ``latents`` (a dict of tensors stacked over the pool, e.g. cached VAE
encodings ``{"video_latents": [N, C, F_lat, h, w], "ref_latents": [N, C, 1, h, w]}``) adds each
entry's row to the item, and ``render_video=False`` then skips rendering the pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from ..presets import WorldConfig, get_preset
from .audio import audio_windows
from .captions import Tokenizer
from .pools import Pool, make_pool
from .world import Clip, ClipSpec, make_clip


def clip_to_item(clip: Clip, modalities: Sequence[str], tokenizer: Tokenizer | None = None) -> dict:
    """Convert a rendered :class:`Clip` to the dataset's tensor dict (see the module table)."""
    tokenizer = tokenizer or Tokenizer()
    has_reference, has_audio = "reference" in modalities, "audio" in modalities
    text_ids, text_mask = tokenizer.encode(clip.caption if "text" in modalities else "")
    features = torch.from_numpy(clip.audio_features)
    windows = torch.from_numpy(audio_windows(clip.audio_features))
    reference = torch.from_numpy(clip.reference).permute(2, 0, 1) * 2 - 1  # (3, H, W)
    return {
        "video": torch.from_numpy(clip.video).permute(3, 0, 1, 2) * 2 - 1,  # (F, H, W, 3) -> (3, F, H, W)
        "reference": reference if has_reference else torch.zeros_like(reference),
        "text_ids": text_ids,
        "text_mask": text_mask,
        "audio_windows": windows if has_audio else torch.zeros_like(windows),
        "audio_features": features if has_audio else torch.zeros_like(features),
        "face_mask": torch.from_numpy(clip.face_mask.astype(np.float32)),
        "mouth": torch.from_numpy(clip.mouth),
        "audio": torch.from_numpy(clip.audio),
        "has_reference": torch.tensor(has_reference),
        "has_audio": torch.tensor(has_audio),
        "labels": {k: torch.tensor(v, dtype=torch.long) for k, v in clip.labels.items()},
        "caption": clip.caption,
    }


class TripletDataset(Dataset):
    """Triplets of one pool, rendered on the fly at the preset's size (same index → same bytes)."""

    def __init__(
        self,
        pool: Pool | str = "stage2",
        world: WorldConfig | str = "humo-micro",
        latents: Mapping[str, torch.Tensor] | None = None,
        render_video: bool = True,
        world_seed: int = 0,
    ):
        self.pool = make_pool(pool, world_seed) if isinstance(pool, str) else pool
        self.world = world if isinstance(world, WorldConfig) else get_preset(world).world
        self.latents = dict(latents or {})
        for key, value in self.latents.items():
            if len(value) != len(self.pool):
                raise ValueError(
                    f"latents[{key!r}] has {len(value)} rows but pool {self.pool.name!r} has {len(self.pool)} clips"
                )
        self.render_video = render_video
        self.tokenizer = Tokenizer()

    def __len__(self) -> int:
        return len(self.pool)

    def spec(self, index: int) -> ClipSpec:
        return self.pool[index]

    def clip(self, index: int) -> Clip:
        """The rendered :class:`Clip` behind item ``index`` (numpy, for plotting and listening)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for pool {self.pool.name!r} of {len(self)} clips")
        return make_clip(self.pool[index], self.world)

    def __getitem__(self, index: int) -> dict:
        item = clip_to_item(self.clip(index), self.pool.modalities, self.tokenizer)
        item["index"] = torch.tensor(index)
        for key, value in self.latents.items():
            item[key] = value[index]
        if not self.render_video:
            del item["video"]
        return item


def collate_triplets(items: list[dict]) -> dict:
    """Stack items into a batch (strings become lists); mismatched shapes get a clear error."""
    if not items:
        raise ValueError("cannot collate an empty list of items")
    for key, value in items[0].items():
        if isinstance(value, torch.Tensor):
            shapes = {tuple(item[key].shape) for item in items}
            if len(shapes) > 1:
                raise ValueError(f"cannot batch {key!r}: items have different shapes {sorted(shapes)}")
    return default_collate(items)

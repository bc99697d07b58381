"""The judge: one small CNN that reads the toy world's frames back, standing in for HuMo's expert models.

HuMo scores its videos with expert networks trained elsewhere (``docs/paper_notes.md`` §9.1): SyncNet
for Sync-C/D, CurricularFace for ID-Cur, a VLM reward model for TVA. Our world's labels are exact, so
one small network trained on rendered frames plays all those parts (``docs/design.md`` §6):

==============  ===============================================  ================================
head            trained on                                       used by
==============  ===============================================  ================================
``scene``       background / clothing / position (per frame)    TVA-lite
``motion``      still / nodding / swaying, from the face-box     TVA-lite
                trajectory (a tiny temporal conv)
``embed``       identity: cosine-softmax over the 240 training   ID-lite (cosine, like
                identities + identity-attribute heads; frames    CurricularFace's embedding)
                *and* reference portraits on white
``mouth``       the lip law's opening per frame                  Sync-C-lite / Sync-D-lite
``box``         the face box per frame (from the face mask)      the motion head, plots
``features``    the shared 128-d penultimate vector              every head above, plots
``detail``      first-layer filters on high-pass detail          Quality-lite (Fréchet distance)
==============  ===============================================  ================================

Frames of any size are resized to 32 x 32 (the judge's input) with antialiasing.

Motion is read from where the face *is* in each frame, not from how the frame's features change. A
first judge also fed its 128-d feature trajectory to the motion head: on real clips that changed
nothing (98 % either way), but generated clips flicker in feature space from frame to frame while the
head stays put, and that head called half of stage 0's "still" clips swaying although their face box
moved 0.2 px (real still clips: 0.1 px; swaying: 1.3 px).

This module holds the network and its loading only. It is a diffusers ``ModelMixin``/``ConfigMixin``
like the DiT, so it saves and loads the same way (``config.json`` + safetensors, strict). A trained
judge is a folder with two more files beside the weights, written by
:func:`humo_lite.eval.judge_training.train_judge`: ``real_stats.safetensors`` (Quality-lite's reference
statistics) and ``manifest.json`` (command, seed, machine, validation numbers and the real-data
ceilings). :func:`load_judge` returns all three together as a :class:`JudgeCheckpoint`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from safetensors.torch import load_file
from torch import nn

from ..data.attributes import IDENTITY_FIELDS, SCENE_FIELDS
from ..models.loading import StrictModelMixin, check_local_folder
from ..shipped import default_checkpoint

FRAME_SCENE_FIELDS = ("background", "clothing", "position")  # readable from one frame
JUDGE_SIZE = 32  # the judge's input resolution (pixels)
BOX_SCALE = 20.0  # face boxes (fractions of the frame) x 20: about one unit per pixel of motion at 32 px


def default_judge_dir() -> Path:
    """Where the shipped judge lives: ``data_samples/checkpoints/judge``."""
    return default_checkpoint("judge")


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class Judge(StrictModelMixin, ConfigMixin):
    """Frames ``[N, 3, H, W]`` in [0, 1] → per-frame heads; clips → motion. See the module table.

    Config (saved by ``save_pretrained``): ``size`` input pixels; ``channels`` conv widths at 32, 16, 8,
    4 px; ``feature_dim`` the shared penultimate vector (Quality-lite's space); ``embed_dim`` identity
    embedding; ``num_identities`` training identities of the cosine-softmax head; ``motion_hidden`` width
    of the temporal motion head; ``id_scale`` / ``id_margin`` the cosine-softmax scale and additive angular
    margin (ArcFace uses 64 on 512-d; CurricularFace adapts the margin); ``scene_classes`` /
    ``identity_classes`` classes per attribute (default: the world's).
    """

    @register_to_config
    def __init__(
        self,
        size: int = JUDGE_SIZE,
        channels: tuple[int, ...] = (16, 32, 64, 128),
        feature_dim: int = 128,
        embed_dim: int = 64,
        num_identities: int = 240,
        motion_hidden: int = 32,
        id_scale: float = 16.0,
        id_margin: float = 0.2,
        scene_classes: dict | None = None,
        identity_classes: dict | None = None,
    ):
        super().__init__()
        scene_classes = scene_classes or {k: len(v) for k, v in SCENE_FIELDS.items()}
        identity_classes = identity_classes or {k: len(v) for k, v in IDENTITY_FIELDS.items()}
        c = list(channels)
        layers = [_block(3, c[0], 1)]  # full resolution: eyes are ~1 px at 32 x 32
        for i, (c_in, c_out) in enumerate(zip(c[:-1], c[1:], strict=True)):
            layers.append(_block(c_in, c_out, 2))
            if i == 1:  # one extra block at 8 x 8, where face parts are a few pixels wide
                layers.append(_block(c_out, c_out, 1))
        self.backbone = nn.Sequential(*layers)  # (N, c[-1], 4, 4) at 32 px
        spatial = (size // 2 ** (len(c) - 1)) ** 2
        self.neck = nn.Sequential(nn.Flatten(), nn.Linear(c[-1] * spatial, feature_dim), nn.SiLU())
        self.scene = nn.ModuleDict({k: nn.Linear(feature_dim, scene_classes[k]) for k in FRAME_SCENE_FIELDS})
        self.embed = nn.Linear(feature_dim, embed_dim)
        self.id_weight = nn.Parameter(torch.randn(num_identities, embed_dim) * 0.1)
        self.id_attr = nn.ModuleDict({k: nn.Linear(embed_dim, n) for k, n in identity_classes.items()})
        self.mouth = nn.Linear(feature_dim, 1)
        self.box = nn.Linear(feature_dim, 4)
        self.motion = nn.Sequential(  # over the centred face-box trajectory [B, 4, F]
            nn.Conv1d(4, motion_hidden, 5, padding=2),
            nn.SiLU(),
            nn.Conv1d(motion_hidden, motion_hidden, 5, padding=2),
            nn.SiLU(),
        )
        self.motion_out = nn.Linear(2 * motion_hidden, scene_classes["motion"])

    # --- per frame ---------------------------------------------------------------------------------
    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in [0, 1] → resized to the judge's size and normalised."""
        size = self.config.size
        if frames.shape[-2:] != (size, size):
            frames = F.interpolate(frames, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return (frames - 0.5) / 0.25

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """``frames [N, 3, H, W]`` in [0, 1] → dict of per-frame outputs (logits, embedding, mouth, box)."""
        feat = self.neck(self.backbone(self.prepare(frames)))  # (N, D)
        emb = F.normalize(self.embed(feat), dim=-1)  # (N, E), unit length
        return {
            "features": feat,
            "embedding": emb,
            **{f"scene_{k}": head(feat) for k, head in self.scene.items()},
            **{f"id_{k}": head(emb) for k, head in self.id_attr.items()},
            "mouth": self.mouth(feat).squeeze(-1),  # (N,)
            "box": self.box(feat),  # (N, 4): x0, y0, x1, y1 as fractions of the frame
        }

    def identity_logits(self, emb: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Cosine-softmax logits over training identities, with an additive angular margin on ``target``."""
        cos = emb @ F.normalize(self.id_weight, dim=-1).T  # (N, I)
        if target is not None and self.config.id_margin > 0:
            theta = torch.acos(cos.gather(1, target[:, None]).clamp(-1 + 1e-6, 1 - 1e-6))
            cos = cos.scatter(1, target[:, None], torch.cos(theta + self.config.id_margin))
        return self.config.id_scale * cos

    # --- per clip ----------------------------------------------------------------------------------
    def motion_logits(self, boxes: torch.Tensor) -> torch.Tensor:
        """Face boxes ``[B, F, 4]`` → motion logits ``[B, 3]`` (still, nodding, swaying).

        The trajectory is centred over time first: motion is what changes, not where the head is.
        """
        traj = boxes * BOX_SCALE
        traj = (traj - traj.mean(dim=1, keepdim=True)).transpose(1, 2)  # (B, 4, F)
        h = self.motion(traj)  # (B, h, F)
        return self.motion_out(torch.cat([h.mean(-1), h.abs().amax(-1)], dim=-1))

    @torch.no_grad()
    def judge_video(self, video: torch.Tensor, chunk: int = 1024) -> dict[str, torch.Tensor]:
        """``video [B, F, 3, H, W]`` in [0, 1] → per-frame outputs shaped ``[B, F, ...]`` + clip motion."""
        b, f = video.shape[:2]
        flat = video.reshape(b * f, *video.shape[2:])
        parts = [self(flat[i : i + chunk]) for i in range(0, len(flat), chunk)]
        out = {k: torch.cat([p[k] for p in parts]).reshape(b, f, *parts[0][k].shape[1:]) for k in parts[0]}
        out["scene_motion"] = self.motion_logits(out["box"])
        return out

    @torch.no_grad()
    def detail_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Quality-lite's features: the first conv layer's filters applied to the frames' high-pass detail.

        ``frames [N, 3, H, W]`` in [0, 1] → ``[N, H*W, C]``: one C-d vector per pixel (a patch-level
        feature, as SinGAN's SIFID). Deeper features are trained to ignore noise and blur (so the judge
        can read imperfect generated frames); the detail left after removing each pixel's 3 x 3 mean is
        exactly what noise adds and blur removes, while flat colours (the content) cancel out.
        """
        x = self.prepare(frames)
        detail = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)  # high-pass
        h = F.conv2d(detail, self.backbone[0][0].weight, padding=1)  # (N, C, H, W)
        return h.flatten(2).transpose(1, 2)

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Reference images ``[B, 3, H, W]`` in [0, 1] → unit identity embeddings ``[B, E]``."""
        return self(images)["embedding"]


REAL_STATS_FILE = "real_stats.safetensors"
MANIFEST_FILE = "manifest.json"


@dataclass
class JudgeCheckpoint:
    """A trained judge and what was measured with it: the network, Quality-lite's real-data statistics
    (``mu``, ``sigma``, ``count``) and the manifest (command, seed, validation numbers, ``ceiling``)."""

    model: Judge
    real_stats: dict[str, torch.Tensor]
    manifest: dict
    frechet_ceilings: dict = field(default_factory=dict, repr=False)  # cache: see metrics.real_frechet_ceiling

    @property
    def ceiling(self) -> dict[str, float]:
        """The real-data ceiling of every metric, measured when the judge was trained."""
        return dict(self.manifest.get("ceiling", {}))

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> JudgeCheckpoint:
        """Read a judge folder (weights, ``real_stats.safetensors``, ``manifest.json``); clear errors if not."""
        folder = check_local_folder(folder, "judge", needs=("config.json", REAL_STATS_FILE, MANIFEST_FILE),
                                    make_it=f"train one with `humo-lite train judge --out {folder}`")
        manifest = json.loads((Path(folder) / MANIFEST_FILE).read_text())
        return cls(Judge.from_pretrained(folder).eval(), load_file(Path(folder) / REAL_STATS_FILE), manifest)


_CACHE: dict[str, JudgeCheckpoint] = {}


def load_judge(folder: str | os.PathLike | JudgeCheckpoint | None = None) -> JudgeCheckpoint:
    """Load (and cache) a trained judge: ``folder`` or the shipped one (:func:`default_judge_dir`).

    A :class:`JudgeCheckpoint` passes through, so every function taking ``judge=`` accepts either.
    """
    if isinstance(folder, JudgeCheckpoint):
        return folder
    if folder is not None and not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"judge must be a JudgeCheckpoint, a judge folder or None (the shipped one), got "
                        f"{type(folder).__name__}" + (" (the network alone: pass the checkpoint it came from)"
                                                      if isinstance(folder, Judge) else ""))
    key = str(Path(folder) if folder is not None else default_judge_dir())
    if key not in _CACHE:
        _CACHE[key] = JudgeCheckpoint.from_folder(key)
    return _CACHE[key]


__all__ = ["BOX_SCALE", "FRAME_SCENE_FIELDS", "JUDGE_SIZE", "Judge", "JudgeCheckpoint", "default_judge_dir",
           "load_judge"]

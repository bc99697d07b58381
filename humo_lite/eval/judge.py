"""The judge: one small CNN that reads the toy world's frames back, standing in for HuMo's expert models.

HuMo scores its videos with expert networks trained elsewhere (reference notes §9.1): SyncNet for
Sync-C/D, CurricularFace for ID-Cur, a VLM reward model for TVA. Our world's labels are exact, so one
small network trained on rendered frames plays all those parts (DESIGN §6):

==============  ===============================================  ================================
head            trained on                                       used by
==============  ===============================================  ================================
``scene``       background / clothing / position (per frame)    TVA-lite
``motion``      still / nodding / swaying, from the face-box     TVA-lite
                and feature trajectory (a tiny temporal conv)
``embed``       identity: cosine-softmax over the 240 training   ID-lite (cosine, like
                identities + identity-attribute heads; frames    CurricularFace's embedding)
                *and* reference portraits on white
``mouth``       the lip law's opening per frame                  Sync-C-lite / Sync-D-lite
``box``         the face box per frame (from the face mask)      the motion head, plots
``features``    the shared 128-d penultimate vector              the motion head, plots
``detail``      first-layer filters on high-pass detail          Quality-lite (Fréchet distance)
==============  ===============================================  ================================

Frames of any size are resized to 32 x 32 (the judge's input) with antialiasing. The training data are
rendered on the fly from seeded specs: training identities x *every* scene combination x training
speech (the judge is the expert, so it may see every colour; held-out identities and held-out speech
stay unseen and are what its validation numbers are measured on).

``train_judge`` is what ``humo-lite train judge`` runs; ``load_judge`` loads the shipped checkpoint in
``data_samples/checkpoints/judge/`` (config.json + model.safetensors + real_stats.safetensors +
manifest.json).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.attributes import IDENTITY_FIELDS, SCENE_FIELDS, Scene
from ..data.pools import identity_split
from ..data.speech import SpeechSpec, bank_keys, data_samples_dir
from ..data.world import ClipSpec, make_clip
from ..presets import get_preset

FRAME_SCENE_FIELDS = ("background", "clothing", "position")  # readable from one frame
JUDGE_SIZE = 32  # the judge's input resolution (pixels)
DEFAULT_STEPS = {"humo-nano": 300, "humo-micro": 1000, "humo-mini": 1000}


def default_judge_dir() -> Path:
    """Where the shipped judge lives: ``data_samples/checkpoints/judge``."""
    return data_samples_dir() / "checkpoints" / "judge"


@dataclass
class JudgeConfig:
    """Sizes of the judge (all small: the checkpoint is ~1.7 MB)."""

    size: int = JUDGE_SIZE  # input pixels (frames are resized to size x size)
    channels: tuple[int, ...] = (16, 32, 64, 128)  # conv widths at 32, 16, 8, 4 pixels
    feature_dim: int = 128  # shared penultimate vector (Quality-lite's feature space)
    embed_dim: int = 64  # identity embedding
    num_identities: int = 240  # training identities (classification head for the embedding)
    motion_hidden: int = 32
    id_scale: float = 16.0  # cosine-softmax scale (ArcFace / CurricularFace use 64 on 512-d)
    id_margin: float = 0.2  # additive angular margin, as ArcFace (CurricularFace adapts it)
    scene_classes: dict = field(default_factory=lambda: {k: len(SCENE_FIELDS[k]) for k in SCENE_FIELDS})
    identity_classes: dict = field(default_factory=lambda: {k: len(v) for k, v in IDENTITY_FIELDS.items()})


def _block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())


class Judge(nn.Module):
    """Frames ``[N, 3, H, W]`` in [0, 1] → per-frame heads; clips → motion. See the module table."""

    def __init__(self, config: JudgeConfig | None = None):
        super().__init__()
        self.config = config = config or JudgeConfig()
        c = config.channels
        layers = [_block(3, c[0], 1)]  # full resolution: eyes are ~1 px at 32 x 32
        for i, (c_in, c_out) in enumerate(zip(c[:-1], c[1:], strict=True)):
            layers.append(_block(c_in, c_out, 2))
            if i == 1:  # one extra block at 8 x 8, where face parts are a few pixels wide
                layers.append(_block(c_out, c_out, 1))
        self.backbone = nn.Sequential(*layers)  # (N, c[-1], 4, 4) at 32 px
        spatial = (config.size // 2 ** (len(c) - 1)) ** 2
        self.neck = nn.Sequential(nn.Flatten(), nn.Linear(c[-1] * spatial, config.feature_dim), nn.SiLU())
        self.scene = nn.ModuleDict(
            {k: nn.Linear(config.feature_dim, config.scene_classes[k]) for k in FRAME_SCENE_FIELDS}
        )
        self.embed = nn.Linear(config.feature_dim, config.embed_dim)
        self.id_weight = nn.Parameter(torch.randn(config.num_identities, config.embed_dim) * 0.1)
        self.id_attr = nn.ModuleDict({k: nn.Linear(config.embed_dim, n) for k, n in config.identity_classes.items()})
        self.mouth = nn.Linear(config.feature_dim, 1)
        self.box = nn.Linear(config.feature_dim, 4)
        h = config.motion_hidden
        self.motion = nn.Sequential(  # over the centred box + feature trajectory [B, 4 + D, F]
            nn.Conv1d(4 + config.feature_dim, h, 5, padding=2),
            nn.SiLU(),
            nn.Conv1d(h, h, 5, padding=2),
            nn.SiLU(),
        )
        self.motion_out = nn.Linear(2 * h, config.scene_classes["motion"])

    # --- per frame ---------------------------------------------------------------------------------
    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in [0, 1] → resized to the judge's size and normalised."""
        if frames.shape[-2:] != (self.config.size, self.config.size):
            frames = F.interpolate(
                frames, size=(self.config.size,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
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
    def motion_logits(self, boxes: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Boxes ``[B, F, 4]`` + features ``[B, F, D]`` → motion logits ``[B, 3]`` (still, nodding, swaying).

        Both are centred over time first: motion is what changes, not where the head is.
        """
        traj = torch.cat([boxes * 20.0, features], dim=-1)  # box * 20: ~unit scale per pixel of motion
        traj = (traj - traj.mean(dim=1, keepdim=True)).transpose(1, 2)  # (B, 4 + D, F)
        h = self.motion(traj)  # (B, h, F)
        return self.motion_out(torch.cat([h.mean(-1), h.abs().amax(-1)], dim=-1))

    @torch.no_grad()
    def judge_video(self, video: torch.Tensor, chunk: int = 1024) -> dict[str, torch.Tensor]:
        """``video [B, F, 3, H, W]`` in [0, 1] → per-frame outputs shaped ``[B, F, ...]`` + clip motion."""
        b, f = video.shape[:2]
        flat = video.reshape(b * f, *video.shape[2:])
        parts = [self(flat[i : i + chunk]) for i in range(0, len(flat), chunk)]
        out = {k: torch.cat([p[k] for p in parts]).reshape(b, f, *parts[0][k].shape[1:]) for k in parts[0]}
        out["scene_motion"] = self.motion_logits(out["box"], out["features"])
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

    # --- files -------------------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        cfg = asdict(self.config)
        cfg["channels"] = list(cfg["channels"])
        (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        save_file(
            {k: v.detach().contiguous() for k, v in self.state_dict().items()},
            str(folder / "model.safetensors"),
        )

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> Judge:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "model.safetensors").exists():
            raise FileNotFoundError(
                f"no judge checkpoint in {folder} (expected config.json + model.safetensors); "
                f"train one with `humo-lite train judge --out {folder}`"
            )
        cfg = json.loads((folder / "config.json").read_text())
        cfg["channels"] = tuple(cfg["channels"])
        judge = cls(JudgeConfig(**cfg))
        judge.load_state_dict(load_file(str(folder / "model.safetensors")))
        judge.manifest = (
            json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() else {}
        )
        stats = folder / "real_stats.safetensors"
        judge.real_stats = load_file(str(stats)) if stats.exists() else None
        return judge.eval()


_CACHE: dict[str, Judge] = {}


def load_judge(folder: str | os.PathLike | None = None) -> Judge:
    """Load (and cache) a judge: ``folder`` or the shipped one (``default_judge_dir()``)."""
    folder = str(Path(folder) if folder is not None else default_judge_dir())
    if folder not in _CACHE:
        _CACHE[folder] = Judge.from_pretrained(folder)
    return _CACHE[folder]


# --- data ------------------------------------------------------------------------------------------
def judge_specs(n: int, split: str = "train", seed: int = 0, world_seed: int = 0) -> list[ClipSpec]:
    """``n`` seeded clip specs for the judge.

    ``split="train"``: training identities, any scene, training speech (synth < 2**31 and the train bank).
    ``split="heldout"``: the 60 *held-out* identities speaking *held-out* speech (synth >= 2**31 and the
    held-out bank), any scene — the split every validation number is measured on.
    """
    train_ids, heldout_ids = identity_split(world_seed)
    ids = train_ids if split == "train" else heldout_ids
    keys = bank_keys("train" if split == "train" else "heldout")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x10D6E, split == "train"]))
    specs = []
    for i in range(n):
        identity = ids[i % len(ids)] if split != "train" else ids[int(rng.integers(len(ids)))]
        scene = Scene(*(int(rng.integers(len(v))) for v in SCENE_FIELDS.values()))
        if rng.random() < 0.3:
            speech = SpeechSpec("bank", key=keys[int(rng.integers(len(keys)))], offset=float(rng.random()))
        else:
            speech = SpeechSpec("synth", seed=int(rng.integers(2**31)) + (0 if split == "train" else 2**31))
        specs.append(ClipSpec(identity, scene, speech, int(rng.integers(2**31))))
    return specs


def face_boxes(face_mask: np.ndarray) -> np.ndarray:
    """Face masks ``(F, H, W)`` → boxes ``(F, 4)`` (x0, y0, x1, y1) as fractions of the frame.

    From the mask's moments, not its extreme pixels: an ellipse's box is its centroid ± 2 standard
    deviations per axis, and averaging over every mask pixel moves it smoothly by fractions of a pixel
    (a 1.4-pixel nod is visible), where the extreme pixels would jump a whole pixel at a time.
    """
    f, h, w = face_mask.shape
    boxes = np.zeros((f, 4), np.float32)
    for i, m in enumerate(face_mask):
        ys, xs = np.nonzero(m)
        if len(ys):
            cx, cy = (xs.mean() + 0.5) / w, (ys.mean() + 0.5) / h
            rx, ry = 2 * xs.std() / w + 0.5 / w, 2 * ys.std() / h + 0.5 / h
            boxes[i] = (cx - rx, cy - ry, cx + rx, cy + ry)
    return boxes


def render_set(specs: list[ClipSpec], world, progress: bool = False) -> dict[str, np.ndarray]:
    """Render ``specs`` into arrays: video uint8 ``(N, F, H, W, 3)``, references, mouth, boxes, labels."""
    from tqdm.auto import tqdm

    out: dict[str, list] = {k: [] for k in ("video", "reference", "mouth", "box", "audio", "captions")}
    out["labels"] = {k: [] for k in (*SCENE_FIELDS, *IDENTITY_FIELDS, "identity")}
    for spec in tqdm(specs, desc="render", disable=not progress, leave=False):
        clip = make_clip(spec, world)
        out["video"].append(np.round(clip.video * 255).astype(np.uint8))
        out["reference"].append(np.round(clip.reference * 255).astype(np.uint8))
        out["mouth"].append(clip.mouth)
        out["box"].append(face_boxes(clip.face_mask))
        out["audio"].append(clip.audio)
        out["captions"].append(clip.caption)
        for k in out["labels"]:
            out["labels"][k].append(clip.labels[k])
    data = {k: np.stack(v) for k, v in out.items() if k not in ("labels", "captions")}
    data["captions"] = out["captions"]
    data["labels"] = {k: np.asarray(v) for k, v in out["labels"].items()}
    return data


def _to_frames(uint8: np.ndarray) -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` → float ``[N, 3, H, W]`` in [0, 1]."""
    x = torch.from_numpy(uint8).float().div_(255.0)
    return x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).contiguous()


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild noise and (sometimes) a light blur, so the judge tolerates generated frames."""
    n = len(x)
    blur = torch.rand(n, generator=gen) < 0.25
    if blur.any():
        k = torch.tensor([0.15, 0.7, 0.15])
        kernel = (k[:, None] * k[None, :]).expand(3, 1, 3, 3)
        x = torch.where(blur[:, None, None, None], F.conv2d(F.pad(x, (1,) * 4, mode="replicate"), kernel, groups=3), x)
    sigma = torch.rand(n, 1, 1, 1, generator=gen) * 0.03
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)


# --- training --------------------------------------------------------------------------------------
def train_judge(
    preset: str = "humo-micro",
    out: str | os.PathLike | None = "outputs/judge",
    seed: int = 0,
    steps: int | None = None,
    num_train_clips: int | None = None,
    num_val_clips: int = 240,
    batch_frames: int = 96,
    batch_refs: int = 32,
    motion_steps: int = 1000,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Train the judge on ``preset``'s world, validate it, and write it (atomically) to ``out``.

    Returns the validation numbers (also written to ``out/manifest.json``). ``out=None`` trains and
    validates without writing. Seeded: the same arguments give the same judge.
    """
    from tqdm.auto import tqdm

    from ..io import atomic_dir, write_json
    from .metrics import validate_judge

    start, cpu_start = time.time(), time.process_time()
    if out is not None and Path(out).exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; choose another --out or remove it")
    world = get_preset(preset).world
    steps = steps if steps is not None else DEFAULT_STEPS.get(preset, 1200)
    num_train_clips = num_train_clips or (300 if preset == "humo-nano" else 1200)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train_ids, _ = identity_split()
    id_index = {ident.index: i for i, ident in enumerate(train_ids)}

    data = render_set(judge_specs(num_train_clips, "train", seed), world, progress=progress)
    frames = _to_frames(data["video"])  # (N*F, 3, H, W)
    refs = _to_frames(data["reference"])  # (N, 3, H, W)
    nf = data["video"].shape[1]
    lab = {k: torch.as_tensor(v) for k, v in data["labels"].items()}
    ident = torch.as_tensor([id_index[int(i)] for i in data["labels"]["identity"]])
    mouth = torch.as_tensor(data["mouth"].reshape(-1))
    box = torch.as_tensor(data["box"].reshape(-1, 4))

    judge = Judge(JudgeConfig(num_identities=len(train_ids)))
    frame_params = [p for n, p in judge.named_parameters() if not n.startswith("motion")]
    opt = torch.optim.AdamW(frame_params, lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    losses = []
    for _ in tqdm(range(steps), desc="judge", disable=not progress):
        fi = torch.randint(len(frames), (batch_frames,), generator=gen)
        ri = torch.randint(len(refs), (batch_refs,), generator=gen)
        ci = fi // nf  # clip of each frame
        x = _augment(torch.cat([frames[fi], refs[ri]]), gen)
        o = judge(x)
        nfr = batch_frames
        loss = sum(F.cross_entropy(o[f"scene_{k}"][:nfr], lab[k][ci]) for k in FRAME_SCENE_FIELDS)
        ids = torch.cat([ident[ci], ident[ri]])
        loss = loss + F.cross_entropy(judge.identity_logits(o["embedding"], ids), ids)
        loss = loss + sum(F.cross_entropy(o[f"id_{k}"], torch.cat([lab[k][ci], lab[k][ri]])) for k in IDENTITY_FIELDS)
        loss = loss + 20.0 * F.mse_loss(o["mouth"][:nfr], mouth[fi]) + 50.0 * F.mse_loss(o["box"][:nfr], box[fi])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    judge.eval()
    _train_motion_head(judge, frames, nf, lab["motion"], gen, motion_steps)
    train_s, train_cpu_s = time.time() - start, time.process_time() - cpu_start

    val = render_set(judge_specs(num_val_clips, "heldout", seed=1), world, progress=progress)
    numbers = validate_judge(judge, val)
    numbers["train_wall_s"] = round(train_s, 1)
    numbers["train_cpu_s"] = round(train_cpu_s, 1)  # CPU seconds, summed over threads
    stats = _real_stats(judge, val)
    if out is not None:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            judge.save_pretrained(tmp)
            from safetensors.torch import save_file

            save_file(stats, str(tmp / "real_stats.safetensors"))
            write_json(
                tmp / "manifest.json",
                {
                    "command": f"humo-lite train judge --preset {preset} --seed {seed} --steps {steps} --out {out}",
                    "preset": preset,
                    "seed": seed,
                    "steps": steps,
                    "train_clips": num_train_clips,
                    "val_clips": num_val_clips,
                    "val_split": "held-out identities x held-out speech x any scene",
                    "wall_time_s": round(time.time() - start, 1),
                    "train_wall_s": round(train_s, 1),
                    "train_cpu_s": round(train_cpu_s, 1),
                    "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
                    f"torch {torch.__version__} threads {torch.get_num_threads()}, python "
                    f"{sys.version.split()[0]}".strip(),
                    "final_loss": round(float(np.mean(losses[-50:])), 4),
                    "validation": numbers,
                    "ceiling": numbers["ceiling"],
                },
            )
        judge.manifest = json.loads((Path(out) / "manifest.json").read_text())
    judge.real_stats = stats
    return numbers


def _train_motion_head(judge: Judge, frames: torch.Tensor, nf: int, motion: torch.Tensor, gen, steps: int = 1000):
    """Fit the temporal motion head on the frozen judge's box + feature trajectories (random lengths)."""
    with torch.no_grad():
        outs = [judge(frames[i : i + 2048]) for i in range(0, len(frames), 2048)]
    boxes = torch.cat([o["box"] for o in outs]).reshape(-1, nf, 4)
    feats = torch.cat([o["features"] for o in outs]).reshape(len(boxes), nf, -1)
    params = list(judge.motion.parameters()) + list(judge.motion_out.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    judge.motion.train()
    for _ in range(steps):
        length = int(torch.randint(max(5, nf // 2), nf + 1, (1,), generator=gen))
        start = int(torch.randint(0, nf - length + 1, (1,), generator=gen))
        idx = torch.randint(len(boxes), (128,), generator=gen)
        jitter = 0.02 * torch.randn(128, length, 4, generator=gen)  # ~0.6 px: held-out faces' box noise
        box = boxes[idx, start : start + length] + jitter
        loss = F.cross_entropy(judge.motion_logits(box, feats[idx, start : start + length]), motion[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    judge.eval()


def _real_stats(judge: Judge, val: dict) -> dict[str, torch.Tensor]:
    """Mean and covariance of Quality-lite's detail features on real held-out frames (its reference)."""
    feats = judge.detail_features(_to_frames(val["video"])).reshape(-1, judge.config.channels[0]).double()
    return {"mu": feats.mean(0).float(), "sigma": torch.cov(feats.T).float(), "count": torch.tensor([len(feats)])}

"""A run that goes wrong says so and loses nothing.

``ROWS`` (the Python API, training and checkpoints) and ``CLI_ROWS`` (the command line) are bad inputs, each with
the one-line message it must produce; with ``test_bad_inputs.py``'s rows they are the table in
``docs/bad_inputs.md`` (a test keeps the two in step). Then: a run that turns NaN stops naming the step and keeps
its last good checkpoint; the fault-injection test kills a trainer between each pair of file operations of a
checkpoint swap and checks that the resumed run ends with the same bytes as an uninterrupted one; a second
writer is refused, naming the holder; a flipped byte is caught by the manifest's checksums.
"""

import json
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from humo_lite import recipes
from humo_lite.cli import main
from humo_lite.eval.judge import JudgeCheckpoint
from humo_lite.flow_matching import make_scheduler
from humo_lite.io import (
    FolderInUse,
    atomic_dir,
    check_output_path,
    output_lock,
    record_checksums,
    recover_dir,
    verify_checksums,
    write_mp4,
    write_wav,
)
from humo_lite.models import HuMoLiteDiT, build_dit
from humo_lite.models.text_encoder import build_text_encoder
from humo_lite.models.vae import build_vae, load_vae
from humo_lite.pipeline import HuMoLitePipeline, check_checkpoint_preset
from humo_lite.shipped import default_checkpoint
from humo_lite.training.trainer import TrainConfig, Trainer, TrainingDiverged, TrainingTask
from humo_lite.training.vae_training import VAETrainConfig, fit_vae

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a person in a red shirt stands in the centre of a blue room, nodding"
NANO = default_checkpoint("humo-nano")
NANO1 = default_checkpoint("humo-nano", 1)
NANO2 = default_checkpoint("humo-nano", 2)
JUDGE = ROOT / "data_samples" / "checkpoints" / "judge"
SPEECH = (0.1 * np.sin(np.arange(9 * 640) / 5)).astype(np.float32)
WEIGHTS = "diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return HuMoLitePipeline(build_dit("humo-nano").eval(), build_vae("humo-nano").eval(),
                            build_text_encoder("humo-nano").eval(), make_scheduler("unipc", shift=3.0),
                            height=16, width=16, num_frames=9, null_reference_frames=1)


def _call(**kw):
    return lambda tmp, pipe: pipe(kw.pop("prompt", PROMPT), num_inference_steps=kw.pop("steps", 1), **kw)


# --- damaged copies of the shipped humo-nano checkpoint ---------------------------------------------------------
def _copy(tmp: Path, source: Path = NANO) -> Path:
    copy = tmp / f"copy-{source.name}"
    shutil.copytree(source, copy)
    return copy


def _edit_json(file: str, change, source: Path = NANO):
    """A copy whose ``file`` (inside the folder) is replaced: ``change`` a dict update or a raw string."""
    def make(tmp):
        copy = _copy(tmp, source)
        if isinstance(change, str):
            (copy / file).write_text(change)
        else:
            data = json.loads((copy / file).read_text())
            for key, value in change.items():
                if value is None:
                    data.pop(key)
                else:
                    data[key] = value
            (copy / file).write_text(json.dumps(data))
        return copy
    return make


def _edit_weights(component: str, how: str, source: Path = NANO):
    """A copy whose component weights get NaN (checksums re-recorded, so the NaN check is what must catch it),
    an extra key (likewise), or one flipped byte inside a tensor (finite: only the checksum can catch it)."""
    def make(tmp):
        copy = _copy(tmp, source)
        file = copy / component / WEIGHTS
        if how == "flip":
            data = bytearray(file.read_bytes())
            data[-3] ^= 0x01  # a low mantissa bit of the last tensor: a finite, plausible value
            file.write_bytes(bytes(data))
            return copy
        tensors = load_file(file)
        key = sorted(tensors)[0]
        if how == "nan":
            tensors[key] = tensors[key].clone().fill_(math.nan)
        else:
            tensors["extra.weight"] = torch.zeros(3)
        save_file(tensors, file)
        record_checksums(copy)
        return copy
    return make


def _load(make):
    return lambda tmp, pipe: HuMoLitePipeline.from_pretrained(make(tmp))


def _load_vae(make):
    return lambda tmp, pipe: load_vae(make(tmp) / "vae")


def _stage0(config=None, **kw):
    """Stage 0 on nano with ``config`` as given, or a Stage0Config of ``kw`` (built when the case runs)."""
    return lambda tmp, pipe: recipes.train_stage0("humo-nano", NANO / "vae", tmp / "o",
                                                  recipes.Stage0Config(**kw) if config is None else config)


def _stage1(preset="humo-nano", stage0=NANO, **kw):
    return lambda tmp, pipe: recipes.train_stage1(preset, stage0, tmp / "o", recipes.Stage1Config(**kw))


def _stage2(**kw):
    preset, stage1, train = kw.pop("preset", "humo-nano"), kw.pop("stage1", NANO1), kw.pop("config", None)
    settings = recipes.Stage2Config(**({"train": train} if train else {}), **kw)
    return lambda tmp, pipe: recipes.train_stage2(preset, stage1, tmp / "o", settings)


def _vae(**kw):
    return lambda tmp, pipe: fit_vae("humo-nano", tmp / "o", VAETrainConfig(**kw))


class _Linear(TrainingTask):
    """Four weights; the loss turns NaN (or the gradient infinite) at step ``bad_step`` when asked."""

    def __init__(self, bad_step: int | None = None, how: str = "nan"):
        torch.manual_seed(0)
        self.modules = {"net": torch.nn.Linear(4, 1)}
        self.trainable = {"net": lambda name: True}
        self.num_items, self.bad_step, self.how, self.step = 16, bad_step, how, 0

    def begin_step(self, step):
        self.step = step

    def loss(self, modules, indices, generator, device):
        x = torch.randn(len(indices), 4, generator=generator)
        per = modules["net"](x).squeeze(-1) ** 2
        loss = per.mean()
        if self.step + 1 == self.bad_step:
            loss = loss * math.nan if self.how == "nan" else loss + torch.sqrt(modules["net"].bias.sum() * 0)
        return loss, {"sigma": torch.rand(len(indices), generator=generator), "loss": per.detach()}


def _config(**kw):
    return TrainConfig(**{"steps": 6, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 2, **kw})


def _train(tmp, task=None, **kw):
    return Trainer(task or _Linear(), _config(**kw), tmp / "run").train(progress=False)


def _diverge(how):
    return lambda tmp, pipe: _train(tmp, _Linear(bad_step=3, how=how))


def _damaged_trainer(edit):
    def run(tmp, pipe):
        _train(tmp, steps=2)
        edit(tmp / "run" / "checkpoint")
        return _train(tmp)
    return run


def _flip(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[-2] ^= 0x01
    file.write_bytes(bytes(data))


def _state(change):
    def edit(folder):
        state = json.loads((folder / "trainer_state.json").read_text())
        (folder / "trainer_state.json").write_text(json.dumps(change(state)))
    return edit


def _nan_model(folder):
    tensors = load_file(folder / "model-net.safetensors")
    tensors["weight"] = tensors["weight"] * math.nan
    save_file(tensors, folder / "model-net.safetensors")
    state = json.loads((folder / "trainer_state.json").read_text())
    state.pop("sha256")  # so that the finite check, not the checksum, must catch it
    (folder / "trainer_state.json").write_text(json.dumps(state))


def _save_nan(tmp, pipe):
    trainer = Trainer(_Linear(), _config(), tmp / "run")
    with torch.no_grad():
        trainer.unwrapped()["net"].weight.fill_(math.nan)
    trainer.save_checkpoint(tmp / "run" / "checkpoint")


def _save_nan_pipeline(tmp, pipe):
    with torch.no_grad():
        broken = build_dit("humo-nano")
        broken.head.weight.fill_(math.inf)
    bad = HuMoLitePipeline(broken, pipe.vae, pipe.text_encoder, pipe.scheduler, height=16, width=16, num_frames=9)
    recipes.save_pipeline(bad, tmp / "o" / "pipeline", {"kind": "test"})


def _file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x")
    return tmp / "a-file"


def _manifest_sums(value):
    def make(tmp):
        copy = _copy(tmp)
        data = json.loads((copy / "manifest.json").read_text())
        data["sha256"] = value
        (copy / "manifest.json").write_text(json.dumps(data))
        return copy
    return make


def _judge(tmp, pipe):
    copy = _copy(tmp, JUDGE)
    _flip(copy / WEIGHTS)
    return JudgeCheckpoint.from_folder(copy)


# id: (what the user does, given a temporary folder and a pipeline; the exception; the message it must carry)
ROWS = {
    # generation: sizes, seeds, generators, scales, audio, images
    "steps-too-many": (_call(steps=1_000_000_000), ValueError,
                       r"num_inference_steps must be a whole number in 1\.\.1000"),
    "steps-bool": (_call(steps=True), ValueError, "num_inference_steps must be a whole number >= 1, got True"),
    "steps-float": (_call(steps=2.5), ValueError, "num_inference_steps must be a whole number >= 1, got 2.5"),
    "frames-zero": (_call(num_frames=0), ValueError, r"num_frames must be a whole number 4k\+1 in 1\.\.257, got 0"),
    "frames-huge": (_call(num_frames=100_001), ValueError, r"num_frames must be a whole number 4k\+1 in 1\.\.257"),
    "frames-float": (_call(num_frames=9.0), ValueError, r"num_frames must be a whole number 4k\+1"),
    "generator-int": (_call(generator=42), TypeError, r"generator must be a torch.Generator \(e.g. torch.Generator"),
    "generator-string": (_call(generator="seed"), TypeError, "generator must be a torch.Generator"),
    "latents-nan": (_call(latents=torch.full((1, 8, 3, 4, 4), math.nan)), ValueError, "latents contain NaN"),
    "latents-numpy": (_call(latents=np.zeros((1, 8, 3, 4, 4))), TypeError, "latents must be a float torch.Tensor"),
    "audio-float-amplitude-1000": (_call(audio=SPEECH * 10_000, sample_rate=16_000), ValueError,
                                   r"must hold floats in \[-1, 1\]; its peak is 1000.*divide by 32768"),
    "audio-float-peak-2": (_call(audio=SPEECH * 20, sample_rate=16_000), ValueError, r"must hold floats in \[-1, 1\]"),
    "audio-int16-array": (_call(audio=(SPEECH * 32767).astype(np.int16), sample_rate=16_000), ValueError,
                          r"must hold floats in \[-1, 1\]; got dtype int16"),
    "audio-rate-float": (_call(audio=SPEECH, sample_rate=16_000.0), ValueError, "positive whole number of Hz"),
    "audio-rate-bool": (_call(audio=SPEECH, sample_rate=True), ValueError, "positive whole number of Hz"),
    "audio-rate-too-high": (_call(audio=SPEECH, sample_rate=10**7), ValueError, r"expected 4000\.\.384000 Hz"),
    "audio-empty": (_call(audio=np.zeros(0, np.float32), sample_rate=16_000), ValueError, "is empty"),
    "audio-inf": (_call(audio=np.full(6000, np.inf, np.float32), sample_rate=16_000), ValueError, "NaN or infinite"),
    "audio-3d": (_call(audio=np.zeros((2, 2, 6000), np.float32), sample_rate=16_000), ValueError, "must be mono"),
    "audio-count-per-prompt": (_call(audio=[SPEECH, SPEECH], sample_rate=16_000), ValueError,
                               "got 2 audio clips for 1 prompts"),
    "image-path-missing": (lambda tmp, pipe: _call(image=tmp / "none.png")(tmp, pipe), FileNotFoundError,
                           "reference image file not found"),
    "image-path-corrupt": (lambda tmp, pipe: _call(image=_corrupt(tmp))(tmp, pipe), ValueError,
                           "could not decode reference image"),
    "audio-guidance-nan": (_call(audio_guidance_scale=math.nan), ValueError, "audio_guidance_scale must be a finite"),
    "guidance-string": (_call(guidance_scale="5"), ValueError, "guidance_scale must be a finite number"),
    "guidance-bool": (_call(guidance_scale=True), ValueError, "guidance_scale must be a finite number"),
    "negative-prompt-not-text": (_call(negative_prompt=3), TypeError, "negative_prompt must be a string"),
    "prompt-empty-list": (_call(prompt=[]), TypeError, "prompt must be a string or a non-empty list"),
    "prompt-list-with-number": (_call(prompt=[PROMPT, 3]), TypeError, "prompt must be a string or a non-empty list"),
    "unknown-words-mode": (_call(unknown_words="ignore"), ValueError, "on_unknown must be 'error' or 'unk'"),
    "mode-ti-without-image": (_call(mode="TI"), ValueError, r"mode 'TI' needs image="),
    "mode-t-with-image": (_call(mode="T", image=np.zeros((16, 16, 3))), ValueError, "mode 'T' has no image"),
    "output-type-none": (_call(output_type=None), ValueError, "output_type must be one of"),
    "write-mp4-gif": (lambda tmp, pipe: write_mp4(tmp / "a.gif", np.zeros((5, 8, 8, 3))), ValueError,
                      r"expected a file name ending in \.mp4 .*got '\.gif'"),
    "write-wav-peak-2": (lambda tmp, pipe: write_wav(tmp / "a.wav", SPEECH * 20, 22_050), ValueError,
                         "sample rate 22050 Hz; expected 16000"),
    # loading: the file and the field
    "model-index-invalid-json": (_load(_edit_json("model_index.json", '{"height": 16,')), ValueError,
                                 r"model_index.json: invalid JSON at line 1"),
    "model-index-not-object": (_load(_edit_json("model_index.json", "[]")), ValueError,
                               "model_index.json: expected a JSON object"),
    "model-index-foreign-library": (_load(_edit_json("model_index.json", {"transformer": ["os", "system"]})),
                                    ValueError, "field 'transformer' names library 'os'; expected diffusers"),
    "model-index-missing-class": (_load(_edit_json("model_index.json", {"vae": ["diffusers", "NoSuchVAE"]})),
                                  ValueError, r"field 'vae' names diffusers.NoSuchVAE, which does not exist"),
    "model-index-missing-component": (_load(_edit_json("model_index.json", {"vae": None})), ValueError,
                                      "model_index.json lacks the component 'vae'"),
    "model-index-height-string": (_load(_edit_json("model_index.json", {"height": "big"})), ValueError,
                                  "model_index.json: field 'height' must be a whole number"),
    "transformer-num-heads-string": (_load(_edit_json("transformer/config.json", {"num_heads": "many"})), ValueError,
                                     "transformer/config.json: field 'num_heads' must be a whole number"),
    "transformer-dim-zero": (_load(_edit_json("transformer/config.json", {"dim": 0})), ValueError,
                             r"transformer/config.json: field 'dim' must be a whole number >= 1"),
    "transformer-dim-edited": (_load(_edit_json("transformer/config.json", {"dim": 48})), ValueError,
                               r"transformer/diffusion_pytorch_model.safetensors: tensor .* has shape .*check field"
                               r".*\bdim\b"),
    "transformer-heads-do-not-divide": (_load(_edit_json("transformer/config.json", {"num_heads": 5})), ValueError,
                                        r"transformer/config.json: cannot build a HuMoLiteDiT from it"),
    "transformer-config-invalid-json": (_load(_edit_json("transformer/config.json", "{nope")), ValueError,
                                        "transformer/config.json: invalid JSON at line 1"),
    "transformer-eps-nan": (_load(_edit_json("transformer/config.json", '{"eps": NaN}')), ValueError,
                            "field 'eps' must be a finite number"),
    "transformer-nan-weights": (_load(_edit_weights("transformer", "nan")), ValueError,
                                r"transformer/diffusion_pytorch_model.safetensors: tensor .* holds \d+ NaN"),
    "transformer-extra-tensor": (_load(_edit_weights("transformer", "extra")), ValueError,
                                 r"has an unexpected tensor 'extra.weight'"),
    "transformer-bit-flip": (_load(_edit_weights("transformer", "flip")), ValueError,
                             r"transformer/diffusion_pytorch_model.safetensors: its SHA-256 differs"),
    "text-encoder-layers-float": (_load(_edit_json("text_encoder/config.json", {"num_layers": 2.5})), ValueError,
                                  "text_encoder/config.json: field 'num_layers' must be a whole number"),
    "text-encoder-bit-flip": (_load(_edit_weights("text_encoder", "flip")), ValueError, "its SHA-256 differs"),
    "scheduler-timesteps-negative": (_load(_edit_json("scheduler/scheduler_config.json", {"num_train_timesteps": -5})),
                                     ValueError, r"scheduler_config.json: field 'num_train_timesteps' must be a whole "
                                                 r"number >= 1"),
    "scheduler-config-invalid-json": (_load(_edit_json("scheduler/scheduler_config.json", "")), ValueError,
                                      "scheduler_config.json: invalid JSON"),
    "vae-z-dim-edited": (_load(_edit_json("vae/config.json", {"z_dim": 4})), ValueError,
                         r"vae/diffusion_pytorch_model.safetensors: tensor .* has shape .*check field.*z_dim"),
    "vae-base-dim-string": (_load(_edit_json("vae/config.json", {"base_dim": "wide"})), ValueError,
                            "vae/config.json: field 'base_dim' must be a whole number"),
    "vae-nan-weights": (_load_vae(_edit_weights("vae", "nan")), ValueError,
                        r"vae/diffusion_pytorch_model.safetensors: tensor .* holds"),
    "vae-z-dim-edited-load-vae": (_load_vae(_edit_json("vae/config.json", {"z_dim": 4})), ValueError,
                                  r"tensor .* has shape .*z_dim"),
    "manifest-invalid-json": (_load(_edit_json("manifest.json", "{")), ValueError, "manifest.json: invalid JSON"),
    "manifest-lists-missing-file": (_load(_manifest_sums({"gone.safetensors": "0" * 64})), FileNotFoundError,
                                    "gone.safetensors is missing; .*manifest.json lists it"),
    "manifest-checksums-wrong-type": (_load(_manifest_sums(5)), ValueError, "field 'sha256' must map file names"),
    "judge-bit-flip": (_judge, ValueError, r"judge/diffusion_pytorch_model.safetensors: its SHA-256 differs"),
    "dit-config-missing": (lambda tmp, pipe: HuMoLiteDiT.from_pretrained(_del(_copy(tmp) / "transformer/config.json")),
                           FileNotFoundError, r"lacks \['config.json'\]"),
    "preset-disagrees-api": (lambda tmp, pipe: check_checkpoint_preset(NANO, "humo-micro"), ValueError,
                             "was made for preset 'humo-nano' .*not 'humo-micro'"),
    # training arguments: checked before any work, with the range
    "stage0-sigma-shift-nan": (_stage0(sigma_shift=math.nan), ValueError,
                               r"sigma_shift must be a finite number in \(0"),
    "stage0-sigma-shift-zero": (_stage0(sigma_shift=0.0), ValueError, r"sigma_shift must be a finite number in \(0"),
    "stage0-role-weight-nan": (_stage0(role_weight=math.nan), ValueError,
                               r"role_weight must be a finite number in \[0"),
    "stage0-role-weight-negative": (_stage0(role_weight=-1.0), ValueError, "role_weight must be a finite number"),
    "stage0-clips-too-many": (_stage0(num_clips=100_000), ValueError,
                              r"num_clips must be a whole number in 1\.\.6000 \(clips of the foundation pool"),
    "stage0-eval-clips-negative": (_stage0(eval_clips=-3), ValueError,
                                   r"eval_clips must be a whole number in 0\.\.200"),
    "stage0-text-dropout-one": (_stage0(text_dropout=1.0), ValueError,
                                r"text_dropout must be a finite number in \[0, 1\)"),
    "stage0-config-a-dict": (_stage0(config={"steps": 1}), TypeError,
                             "config must be a humo_lite.recipes.Stage0Config"),
    "stage0-config-a-train-config": (_stage0(config=TrainConfig(steps=1)), TypeError,
                                     r"config must be a humo_lite.recipes.Stage0Config \(the optimiser's TrainConfig "
                                     r"is its train= field\), got TrainConfig"),
    "stage0-out-is-a-file": (lambda tmp, pipe: recipes.train_stage0("humo-nano", NANO / "vae", _file(tmp)),
                             NotADirectoryError, "is a file; expected a folder"),
    "stage1-clips-too-many": (_stage1(num_clips=100_000), ValueError, r"num_clips must be a whole number in 1\.\.1500"),
    "stage1-face-weight-nan": (_stage1(face_weight=math.nan), ValueError, "face_weight must be a finite number"),
    "stage1-image-dropout-negative": (_stage1(image_dropout=-0.1), ValueError, "image_dropout must be a finite number"),
    "stage1-preset-disagrees": (_stage1(preset="humo-micro"), ValueError, "made for preset 'humo-nano'"),
    "stage2-clips-too-many": (_stage2(num_clips=100_000), ValueError, r"num_clips must be a whole number in 1\.\.4000"),
    "stage2-plain-clips-too-many": (_stage2(num_plain_clips=5000), ValueError,
                                    r"num_plain_clips must be a whole number in 1\.\.1500"),
    "stage2-share-start-nan": (_stage2(share_start=math.nan), ValueError,
                               r"share_start must be a finite number in \[0, 1\]"),
    "stage2-share-end-above-1": (_stage2(share_end=1.5), ValueError, r"share_end must be a finite number in \[0, 1\]"),
    "stage2-ramp-beyond-steps": (_stage2(ramp_steps=10, config=TrainConfig(steps=5)), ValueError,
                                 r"ramp_steps must be a whole number in 0\.\.5"),
    "stage2-audio-tokens-zero": (_stage2(audio_tokens=0), ValueError,
                                 r"audio_tokens must be a whole number in 1\.\.256"),
    "stage2-audio-dropout-nan": (_stage2(audio_dropout=math.nan), ValueError, "audio_dropout must be a finite number"),
    "stage2-eval-clips-negative": (_stage2(eval_clips=-1), ValueError,
                                   r"eval_clips must be a whole number in 0\.\.200"),
    "stage2-preset-disagrees": (_stage2(preset="humo-micro"), ValueError, "made for preset 'humo-nano'"),
    "vae-steps-negative": (_vae(steps=-1), ValueError, r"steps must be a whole number in 1\.\.1000000 .*untrained VAE"),
    "vae-steps-zero": (_vae(steps=0), ValueError, r"steps must be a whole number in 1\.\.1000000"),
    "vae-image-steps-negative": (_vae(image_steps=-5), ValueError, r"image_steps must be a whole number in 0\.\."),
    "vae-clips-too-many": (_vae(num_clips=10**6), ValueError, r"num_clips must be a whole number in 1\.\.6000"),
    "vae-lr-nan": (_vae(lr=math.nan), ValueError, r"lr must be a finite number in \(0"),
    "vae-mouth-weight-negative": (_vae(mouth_weight=-1.0), ValueError, "mouth_weight must be a finite number"),
    # training runs and their checkpoints
    "train-loss-nan": (_diverge("nan"), TrainingDiverged,
                       r"training diverged at step 3: loss nan.*last good checkpoint, "
                       r".*checkpoint \(step 2\), is kept"),
    "train-gradient-inf": (_diverge("inf"), TrainingDiverged,
                           r"training diverged at step 3: .*gradient norm (inf|nan)"),
    "train-save-nan-weights": (_save_nan, ValueError, r"not saving .*checkpoint at step 0: model-net.safetensors: "
                                                      r"tensor 'weight' holds 4 NaN"),
    "pipeline-save-inf-weights": (_save_nan_pipeline, ValueError, r"not saving .*pipeline: the transformer: tensor "
                                                                  r"'head.weight' holds"),
    "checkpoint-bit-flip": (_damaged_trainer(lambda f: _flip(f / "ema.safetensors")), ValueError,
                            r"ema.safetensors: its SHA-256 differs from the one trainer_state.json recorded"),
    "checkpoint-nan-weights": (_damaged_trainer(_nan_model), ValueError,
                               r"model-net.safetensors: tensor 'weight' holds 4 NaN"),
    "checkpoint-step-negative": (_damaged_trainer(_state(lambda s: {**s, "step": -4})), ValueError,
                                 r"trainer_state.json: field 'step' must be a whole number >= 0, got -4"),
    "checkpoint-state-not-object": (_damaged_trainer(_state(lambda s: [s])), ValueError,
                                    "trainer_state.json: expected a JSON object, got list"),
    "checkpoint-file-listed-missing": (_damaged_trainer(lambda f: (f / "ema.safetensors").unlink()), FileNotFoundError,
                                       "ema.safetensors is missing; trainer_state.json lists it"),
    "atomic-dir-over-a-file": (lambda tmp, pipe: atomic_dir(_file(tmp), overwrite=True).__enter__(), FileExistsError,
                               "is a file, not a folder"),
    "output-parent-is-a-file": (lambda tmp, pipe: check_output_path(_file(tmp) / "x.mp4", "file"), NotADirectoryError,
                                "a-file is a file, not a folder"),
    "output-file-is-a-folder": (lambda tmp, pipe: check_output_path(tmp, "file", (".mp4",)), IsADirectoryError,
                                "is a folder; expected a file name"),
    "train-config-steps-bool-string": (lambda tmp, pipe: TrainConfig(steps="10"), ValueError,
                                       "TrainConfig.steps must be a whole number >= 1, got '10'"),
}


def _corrupt(tmp: Path) -> Path:
    (tmp / "corrupt.png").write_bytes(b"\x89PNG not really")
    return tmp / "corrupt.png"


def _del(file: Path) -> Path:
    file.unlink()
    return file.parent


@pytest.mark.parametrize("row", sorted(ROWS))
def test_bad_input_gets_one_clear_line(row, pipe, tmp_path, recwarn):
    action, exception, message = ROWS[row]
    with pytest.raises(exception, match=message) as info:
        action(tmp_path, pipe)
    assert "\n" not in str(info.value), "one line"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old", ".lock"))]
    assert not leftovers, f"{row} left {leftovers}"  # nothing half-written, no lock left behind


def _wav(tmp: Path, peak: float) -> Path:
    import soundfile as sf

    sf.write(tmp / "loud.wav", SPEECH / 0.1 * peak, 16_000, subtype="FLOAT")
    return tmp / "loud.wav"


def _png(tmp: Path) -> Path:
    from humo_lite.io import write_png

    return write_png(tmp / "ref.png", np.zeros((16, 16, 3), np.float32))


GEN = ["generate", "--preset", "humo-nano", "--prompt", PROMPT, "--steps", "1"]
ST0 = ["train", "stage0", "--preset", "humo-nano", "--vae", str(NANO / "vae"), "--steps", "1"]
ST1 = ["train", "stage1", "--preset", "humo-nano", "--stage0", str(NANO), "--steps", "1"]
ST2 = ["train", "stage2", "--preset", "humo-nano", "--stage1", str(NANO1), "--steps", "1"]
VAE = ["train", "vae", "--preset", "humo-nano"]
# id: (argv given the temporary folder, message on stderr); each exits with status 2, one line, no traceback
CLI_ROWS = {
    "cli-steps-huge": (lambda t: [*GEN[:-1], "1000000000", "--out", str(t / "o.mp4")], r"in 1\.\.1000, got 1000000000"),
    "cli-seed-huge": (lambda t: [*GEN, "--seed", str(10**23), "--out", str(t / "o.mp4")],
                      r"--seed: expected a whole number in 0\.\.9223372036854775807"),
    "cli-seed-negative": (lambda t: [*GEN, "--seed", "-1", "--out", str(t / "o.mp4")], r"--seed: expected a whole"),
    "cli-seed-text": (lambda t: [*GEN, "--seed", "abc", "--out", str(t / "o.mp4")], "got 'abc'"),
    "cli-out-gif": (lambda t: [*GEN, "--out", str(t / "o.gif")], r"expected a file name ending in \.mp4.*'\.gif'"),
    "cli-out-no-extension": (lambda t: [*GEN, "--out", str(t / "o")], r"ending in \.mp4, got 'no extension'"),
    "cli-out-is-a-folder": (lambda t: [*GEN, "--out", str(_mkdir(t / "o.mp4"))], "is a folder; expected a file name"),
    "cli-out-parent-is-a-file": (lambda t: [*GEN, "--out", str(_file(t) / "o.mp4")], "is a file, not a folder"),
    "cli-image-with-stage-0": (lambda t: [*GEN, "--image", str(_png(t)), "--stage", "0", "--out", str(t / "o.mp4")],
                               "--image needs a checkpoint trained with references: --stage 1 or 2"),
    "cli-audio-with-stage-1": (lambda t: [*GEN, "--audio", str(_wav(t, 0.5)), "--stage", "1",
                               "--out", str(t / "o.mp4")],
                               "--audio needs a checkpoint with audio layers: --stage 2"),
    "cli-preset-disagrees": (lambda t: [*GEN[:2], "humo-micro", *GEN[3:], "--checkpoint", str(NANO), "--out",
                                        str(t / "o.mp4")], "made for preset 'humo-nano'"),
    "cli-guidance-nan": (lambda t: [*GEN, "--guidance-scale", "nan", "--out", str(t / "o.mp4")],
                         "expected a finite number, got 'nan'"),
    "cli-guidance-text": (lambda t: [*GEN, "--guidance-scale", "lots", "--out", str(t / "o.mp4")],
                          "expected a number, got 'lots'"),
    "cli-scale-huge": (lambda t: [*GEN, "--scale", "1000", "--out", str(t / "o.mp4")], r"in 1\.\.64, got 1000"),
    "cli-audio-float-loud": (lambda t: [*GEN, "--audio", str(_wav(t, 3.0)), "--out", str(t / "o.mp4")],
                             r"must hold floats in \[-1, 1\]; its peak is 3"),
    "cli-checkpoint-invalid-json": (lambda t: [*GEN, "--checkpoint", str(_edit_json("model_index.json", "{")(t)),
                                               "--out", str(t / "o.mp4")], "model_index.json: invalid JSON"),
    "cli-checkpoint-bit-flip": (lambda t: [*GEN, "--checkpoint", str(_edit_weights("transformer", "flip")(t)), "--out",
                                           str(t / "o.mp4")], "its SHA-256 differs"),
    "cli-checkpoint-z-dim-edited": (lambda t: [*GEN,
                                    "--checkpoint", str(_edit_json("vae/config.json", {"z_dim": 4})(t)),
                                               "--out", str(t / "o.mp4")], r"has shape .*check field.*z_dim"),
    "cli-stage0-sigma-shift-nan": (lambda t: [*ST0, "--sigma-shift", "nan", "--out", str(t / "o")],
                                   "--sigma-shift: expected a finite number, got 'nan'"),
    "cli-stage0-sigma-shift-zero": (lambda t: [*ST0, "--sigma-shift", "0", "--out", str(t / "o")],
                                    r"sigma_shift must be a finite number in \(0"),
    "cli-stage0-role-weight-nan": (lambda t: [*ST0, "--role-weight", "nan", "--out", str(t / "o")],
                                   "--role-weight: expected a finite number"),
    "cli-stage0-role-weight-negative": (lambda t: [*ST0, "--role-weight", "-1", "--out", str(t / "o")],
                                        r"role_weight must be a finite number in \[0"),
    "cli-stage0-eval-clips-negative": (lambda t: [*ST0, "--eval-clips", "-3", "--out", str(t / "o")],
                                       r"--eval-clips: expected a whole number in 0\.\.200, got -3"),
    "cli-stage0-clips-huge": (lambda t: [*ST0, "--clips", "100000", "--out", str(t / "o")],
                              r"num_clips must be a whole number in 1\.\.6000"),
    "cli-stage0-lr-nan": (lambda t: [*ST0, "--lr", "nan", "--out", str(t / "o")], "--lr: expected a finite number"),
    "cli-stage0-lr-zero": (lambda t: [*ST0, "--lr", "0", "--out", str(t / "o")], "TrainConfig.lr must be a positive"),
    "cli-stage0-batch-size-0": (lambda t: [*ST0, "--batch-size", "0", "--out", str(t / "o")],
                                r"expected a whole number >= 1"),
    "cli-stage0-vae-missing": (lambda t: [*ST0[:4], "--vae", str(t / "none"), "--out", str(t / "o")],
                               "no VAE folder at"),
    "cli-stage0-out-is-a-file": (lambda t: [*ST0, "--out", str(_file(t))], "is a file; expected a folder"),
    "cli-stage1-clips-huge": (lambda t: [*ST1, "--clips", "100000", "--out", str(t / "o")],
                              r"num_clips must be a whole number in 1\.\.1500"),
    "cli-stage1-preset-disagrees": (lambda t: [*ST1[:3], "humo-micro", *ST1[4:], "--out", str(t / "o")],
                                    "made for preset 'humo-nano'"),
    "cli-stage1-face-weight-inf": (lambda t: [*ST1, "--face-weight", "inf", "--out", str(t / "o")],
                                   "--face-weight: expected a finite number"),
    "cli-stage1-image-dropout-one": (lambda t: [*ST1, "--image-dropout", "1", "--out", str(t / "o")],
                                     r"image_dropout must be a finite number in \[0, 1\)"),
    "cli-stage2-clips-huge": (lambda t: [*ST2, "--clips", "100000", "--out", str(t / "o")],
                              r"num_clips must be a whole number in 1\.\.4000"),
    "cli-stage2-share-nan": (lambda t: [*ST2, "--share-start", "nan", "--out", str(t / "o")],
                             "--share-start: expected a finite number"),
    "cli-stage2-share-end-2": (lambda t: [*ST2, "--share-end", "2", "--out", str(t / "o")],
                               r"share_end must be a finite number in \[0, 1\]"),
    "cli-stage2-ramp-negative": (lambda t: [*ST2, "--ramp-steps", "-1", "--out", str(t / "o")],
                                 "--ramp-steps: expected a whole number >= 0"),
    "cli-stage2-audio-tokens-0": (lambda t: [*ST2, "--audio-tokens", "0", "--out", str(t / "o")],
                                  "--audio-tokens: expected a whole number >= 1"),
    "cli-stage2-preset-disagrees": (lambda t: [*ST2[:3], "humo-micro", *ST2[4:], "--out", str(t / "o")],
                                    "made for preset 'humo-nano'"),
    "cli-stage2-stage1-missing": (lambda t: [*ST2[:4], "--stage1", str(t / "none"), "--out", str(t / "o")],
                                  "no pipeline folder at"),
    "cli-vae-steps-negative": (lambda t: [*VAE, "--steps", "-1", "--out", str(t / "o")],
                               "--steps: expected a whole number >= 1, got -1"),
    "cli-vae-image-steps-negative": (lambda t: [*VAE, "--image-steps", "-1", "--out", str(t / "o")],
                                     "--image-steps: expected a whole number >= 0"),
    "cli-vae-out-is-a-file": (lambda t: [*VAE, "--out", str(_file(t))], "is a file; expected a folder"),
    "cli-judge-steps-0": (lambda t: ["train", "judge", "--steps", "0", "--out", str(t / "o")],
                          "expected a whole number >= 1"),
    "cli-export-count-negative": (lambda t: ["data", "export", "--count", "-2", "--out", str(t / "o")],
                                  "--count: expected a whole number >= 1, got -2"),
    "cli-export-count-huge": (lambda t: ["data", "export", "--count", "100000", "--out", str(t / "o")],
                              r"--count must be a whole number in 1\.\.400 \(the clips of pool 'stage2'\)"),
    "cli-show-index-huge": (lambda t: ["data", "show", "--index", "100000", "--out", str(t / "o")],
                            r"--index must be a whole number in 0\.\.399"),
    "cli-show-index-negative": (lambda t: ["data", "show", "--index", "-1", "--out", str(t / "o")],
                                "--index: expected a whole number >= 0"),
    "cli-world-seed-negative": (lambda t: ["data", "stats", "--world-seed", "-1"], "--world-seed: expected a whole"),
    "cli-site-chapters-empty": (lambda t: ["site", "--chapters", "", "--out", str(t / "o")],
                                "--chapters: expected a non-empty value"),
}


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("row", sorted(CLI_ROWS))
def test_bad_command_line_gets_one_line_and_no_traceback(row, tmp_path, capsys, cli_status):
    argv, message = CLI_ROWS[row]
    code = cli_status(argv(tmp_path))
    err = capsys.readouterr().err
    assert code == 2, (row, err)
    assert re.search(message, err), (row, err)
    assert "Traceback" not in err and len([line for line in err.splitlines() if " error: " in line]) == 1, err
    assert not (tmp_path / "o.mp4").is_file() and not (tmp_path / "o" / "pipeline").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".lock"))]


def test_the_table_in_the_docs_lists_every_row():
    """docs/bad_inputs.md lists every row of both test files, and at least 120 of them."""
    from test_bad_inputs import CLI_ERRORS, ERRORS

    text = (ROOT / "docs" / "bad_inputs.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9+\-]+)` \|", text.split("\n## The table\n")[1], re.M))
    tested = set(ERRORS) | set(CLI_ERRORS) | set(ROWS) | set(CLI_ROWS) | set(EXTRA)
    assert documented == tested, documented ^ tested
    assert len(tested) >= 120
    count = re.search(r"(\d+) bad inputs", text)
    assert count and int(count.group(1)) == len(tested), "update the count in docs/bad_inputs.md"


# --- what goes on with a warning: the call works, and says what it did ------------------------------------------
@pytest.mark.parametrize("kw, message", [
    ({"guidance_scale": 1e30}, "guidance_scale=1e\\+30 is very large"),
    ({"guidance_scale": -2.0}, "guidance_scale=-2 is negative"),
    ({"audio": "FILE", "sample_rate": 8000}, "sample_rate=8000 is ignored for an audio file"),
], ids=["guidance-huge-warns", "guidance-negative-warns", "sample-rate-with-a-file-warns"])
def test_unusual_but_valid_inputs_warn(pipe, tmp_path, kw, message):
    if kw.get("audio") == "FILE":
        kw["audio"] = write_wav(tmp_path / "a.wav", SPEECH)
    with pytest.warns(UserWarning, match=message):
        try:
            pipe(PROMPT, num_inference_steps=1, **kw)
        except ValueError as error:  # a scale of 1e30 overflows: also said, in one line
            assert "NaN or infinite" in str(error)


def test_a_reference_given_to_a_text_only_model_warns(tmp_path):
    stage0 = HuMoLitePipeline.from_pretrained(NANO)
    with pytest.warns(UserWarning, match="trained without a reference image .* never learnt to use it"):
        stage0(PROMPT, image=np.zeros((16, 16, 3), np.float32), num_inference_steps=1)


def test_an_image_path_is_read(pipe, tmp_path):
    from humo_lite.io import write_png

    ref = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    path = write_png(tmp_path / "ref.png", ref)
    a = pipe(PROMPT, image=path, num_inference_steps=1, generator=torch.Generator().manual_seed(0)).frames
    b = pipe(PROMPT, image=np.asarray(__import__("imageio.v3").v3.imread(path)), num_inference_steps=1,
             generator=torch.Generator().manual_seed(0)).frames
    assert np.array_equal(a, b)


# --- the checksums -------------------------------------------------------------------------------------------------
def test_every_shipped_checkpoint_records_its_checksums_and_a_flipped_byte_is_caught(tmp_path):
    for folder in sorted((ROOT / "data_samples" / "checkpoints").iterdir()):
        if (folder / "manifest.json").is_file():
            assert verify_checksums(folder) >= 2, f"{folder.name}: run scripts/record_checksums.py"
    copy = _copy(tmp_path, NANO2)
    assert verify_checksums(copy) == 4  # transformer, VAE, text encoder, and the mask head saved beside them
    _flip(copy / "vae" / WEIGHTS)
    with pytest.raises(ValueError, match=r"vae/diffusion_pytorch_model.safetensors: its SHA-256 differs"):
        HuMoLitePipeline.from_pretrained(copy)


def test_save_pipeline_records_checksums_that_load_checks(pipe, tmp_path):
    manifest = {"kind": "test"}
    recipes.save_pipeline(pipe, tmp_path / "p", manifest)
    assert set(manifest["sha256"]) == {f"{c}/{WEIGHTS}" for c in ("transformer", "vae", "text_encoder")}
    assert HuMoLitePipeline.from_pretrained(tmp_path / "p").config.height == 16
    _flip(tmp_path / "p" / "text_encoder" / WEIGHTS)
    with pytest.raises(ValueError, match="text_encoder/diffusion_pytorch_model.safetensors: its SHA-256 differs"):
        HuMoLitePipeline.from_pretrained(tmp_path / "p")


# --- one writer per folder -----------------------------------------------------------------------------------------
def _hold(path: str, ready, release) -> None:
    with output_lock(path):
        ready.set()
        release.wait(60)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(str(tmp_path / "run"), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(FolderInUse, match=rf"run is being written by another process \(pid {holder.pid}, host"):
            _train(tmp_path)
        assert main(["train", "stage0", "--preset", "humo-nano", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
        assert re.search(rf"humo-lite: error: .*run is being written by another process \(pid {holder.pid}",
                         capsys.readouterr().err)
    finally:
        release.set()
        holder.join(30)
    assert _train(tmp_path)["steps"] == 6  # the holder gone, the folder is free (the kernel dropped its lock)
    assert not (tmp_path / ".run.lock").exists()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    code = f"from humo_lite.io import output_lock\nimport os\nwith output_lock({str(tmp_path / 'o')!r}):\n  os._exit(9)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / ".o.lock").exists()  # the file stays, the lock does not
    with output_lock(tmp_path / "o"):
        pass


def test_a_write_failure_after_the_work_is_one_line(tmp_path, capsys, monkeypatch):
    """A read-only file system (injected: this runs as root, where permissions do not bite) gives one line."""
    import errno

    import humo_lite.io as io

    def read_only(src, dst):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))

    monkeypatch.setattr(io.os, "replace", read_only)
    assert main([*GEN, "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"humo-lite: error: Read-only file system: .*o\.mp4", err.splitlines()[-1]), err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


EXTRA = {"second-writer": "test_a_second_writer_is_refused_naming_the_holder",
         "cli-second-writer": "test_a_second_writer_is_refused_naming_the_holder",
         "cli-read-only-file-system": "test_a_write_failure_after_the_work_is_one_line",
         "checkpoint-only-old-copy": "test_a_kill_during_a_checkpoint_swap_loses_nothing",
         "guidance-huge-warns": "test_unusual_but_valid_inputs_warn",
         "guidance-negative-warns": "test_unusual_but_valid_inputs_warn",
         "sample-rate-with-a-file-warns": "test_unusual_but_valid_inputs_warn",
         "reference-to-text-only-model-warns": "test_a_reference_given_to_a_text_only_model_warns"}
"""Rows of the table tested by the named test rather than by a row of ROWS / CLI_ROWS."""


def test_extra_rows_name_tests_that_exist():
    assert all(callable(globals().get(name)) for name in EXTRA.values())


# --- the fault-injection test: a kill between each pair of file operations of a checkpoint swap -------------------
# Each case kills the trainer (os._exit: no finally, no cleanup) at one point of its second save (step 4 of 6);
# the next run must resume from the last complete checkpoint and end with the same bytes as an uninterrupted run.
KILL_POINTS = {
    "while-writing-the-new-copy": ("save_file", 2, {".checkpoint.*.tmp", "checkpoint"}, 2),
    "before-moving-the-old-aside": ("replace", 1, {".checkpoint.*.tmp", "checkpoint"}, 2),
    "between-the-two-renames": ("replace", 2, {".checkpoint.*.tmp", ".checkpoint.old"}, 2),
    "after-the-new-is-in-place": ("rmtree", 1, {"checkpoint", ".checkpoint.old"}, 4),
    "halfway-through-deleting-the-old": ("rmtree-half", 1, {"checkpoint", ".checkpoint.old"}, 4),
    "after-deleting-the-old": ("rmtree", 2, {"checkpoint"}, 4),
    "during-the-first-save": ("replace", -1, {".checkpoint.*.tmp"}, 0),
}


def _run_and_kill(out: str, op: str, nth: int) -> None:
    import humo_lite.io as io
    import humo_lite.training.trainer as trainer_module

    counts = {"save_file": 0, "replace": 0, "rmtree": 0}
    real = {"replace": io.os.replace, "rmtree": io.shutil.rmtree, "save_file": trainer_module.save_file}
    saves = {"n": 0}

    def swap_level(path) -> bool:
        return Path(path).parent == Path(out)

    def replace(src, dst):
        if swap_level(dst) and Path(dst).name in ("checkpoint", ".checkpoint.old"):
            counts["replace"] += 1
            first = nth == -1 and saves["n"] == 1
            if (op == "replace" and saves["n"] == 2 and counts["replace"] == nth) or first:
                os._exit(137)
        return real["replace"](src, dst)

    def rmtree(path, ignore_errors=False):
        if swap_level(path) and Path(path).name == ".checkpoint.old" and Path(path).exists() and saves["n"] == 2:
            counts["rmtree"] += 1
            if op == "rmtree-half" and counts["rmtree"] == nth:
                for file in sorted(Path(path).iterdir())[:2]:
                    file.unlink()
                os._exit(137)
            if op == "rmtree" and counts["rmtree"] == nth:
                os._exit(137)
        result = real["rmtree"](path, ignore_errors=ignore_errors)
        if (op == "rmtree" and nth == 2 and swap_level(path) and Path(path).name == ".checkpoint.old"
                and saves["n"] == 2):
            os._exit(137)
        return result

    def save_file(tensors, filename, metadata=None):
        if Path(filename).name.startswith("model-"):
            saves["n"] += 1
            counts["replace"] = 0
        real["save_file"](tensors, filename, metadata=metadata)
        if op == "save_file" and saves["n"] == 2 and Path(filename).name == "ema.safetensors":
            os._exit(137)

    io.os.replace, io.shutil.rmtree, trainer_module.save_file = replace, rmtree, save_file
    try:
        Trainer(_Linear(), _config(), out).train(progress=False)
    finally:
        os._exit(0)  # not killed: the test fails on the state it finds


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    Trainer(_Linear(), _config(), out).train(progress=False)
    return _files(out / "checkpoint")


@pytest.mark.parametrize("case", list(KILL_POINTS))
def test_a_kill_during_a_checkpoint_swap_loses_nothing(case, tmp_path, uninterrupted, capfd):
    op, nth, left, resume_step = KILL_POINTS[case]
    out = tmp_path / "run"
    child = multiprocessing.get_context("fork").Process(target=_run_and_kill, args=(str(out), op, nth))
    child.start()
    child.join(120)
    assert child.exitcode == 137, f"{case}: the process was not killed where asked (exit {child.exitcode})"
    found = {re.sub(r"^\.checkpoint\..+\.tmp$", ".checkpoint.*.tmp", p.name) for p in out.iterdir()
             if not p.name.endswith(".lock")}
    assert found == left, f"{case}: after the kill {found}"
    trainer = Trainer(_Linear(), _config(), out)
    summary = trainer.train(progress=False)
    err = capfd.readouterr().err
    assert summary["steps_this_run"] == 6 - resume_step, f"{case}: resumed at step {6 - summary['steps_this_run']}"
    if left == {".checkpoint.*.tmp", ".checkpoint.old"}:
        assert "found only .checkpoint.old" in err and "resuming from it" in err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint"], "stale copies are cleaned"
    assert _files(out / "checkpoint") == uninterrupted, f"{case}: the resumed run differs from the uninterrupted one"


def test_recover_dir_restores_only_the_old_copy(tmp_path):
    (tmp_path / ".ckpt.old").mkdir()
    (tmp_path / ".ckpt.old" / "w").write_text("complete")
    (tmp_path / ".ckpt.abc.tmp").mkdir()
    assert "found only .ckpt.old" in recover_dir(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "w").read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert recover_dir(tmp_path / "ckpt") is None

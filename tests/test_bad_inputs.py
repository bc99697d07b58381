"""Bad input stops with a clear error that says what was expected, and leaves nothing half-written.

Each row of ``ERRORS`` and ``CLI_ERRORS`` is one bad input and the message it must produce; the same
table, by row id, is in ``docs/bad_inputs.md`` (with ``tests/test_reliability.py``'s rows), and a test keeps
the two in step. The tests
after the tables check what must *not* happen: a damaged checkpoint left as it was, an old folder that
survives a failed swap, a resumed run that silently changes its settings.
"""

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from humo_lite.data import ByoDataset
from humo_lite.flow_matching import make_scheduler
from humo_lite.io import atomic_dir, write_mp4, write_wav
from humo_lite.models import HuMoLiteDiT, build_dit
from humo_lite.models.text_encoder import build_text_encoder
from humo_lite.models.vae import build_vae, load_vae
from humo_lite.pipeline import HuMoLitePipeline
from humo_lite.shipped import default_checkpoint
from humo_lite.training.trainer import TrainConfig, Trainer, TrainingTask

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a person in a red shirt stands in the centre of a blue room, nodding"
NANO = default_checkpoint("humo-nano")


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return HuMoLitePipeline(build_dit("humo-nano").eval(), build_vae("humo-nano").eval(),
                            build_text_encoder("humo-nano").eval(), make_scheduler("unipc", shift=3.0),
                            height=16, width=16, num_frames=9)


def _call(**kw):
    return lambda pipe, tmp: pipe(kw.pop("prompt", PROMPT), num_inference_steps=kw.pop("steps", 1), **kw)


def _truncated(folder: Path, tmp: Path, component: str = "") -> Path:
    """A copy of ``folder`` whose first weights file (in ``component``) is cut in half."""
    copy = tmp / folder.name
    shutil.copytree(folder, copy)
    weights = sorted((copy / component).glob("*.safetensors"))[0]
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return copy


GREY_16BIT = Image.fromarray((np.random.default_rng(0).random((16, 16)) * 65535).astype(np.uint16))
PALETTE = Image.fromarray(np.zeros((16, 16, 3), np.uint8)).convert("P")
SPEECH = (0.1 * np.sin(np.arange(9 * 640) / 5)).astype(np.float32)

# id: (what the user does, exception, message it must carry)
ERRORS = {
    "steps-zero": (_call(steps=0), ValueError, "num_inference_steps must be a whole number >= 1, got 0"),
    "steps-negative": (_call(steps=-3), ValueError, "num_inference_steps must be a whole number >= 1"),
    "guidance-nan": (_call(guidance_scale=math.nan), ValueError, "guidance_scale must be a finite number"),
    "guidance-inf": (_call(guidance_scale=math.inf), ValueError, "guidance_scale must be a finite number"),
    "image-guidance-nan": (_call(image_guidance_scale=math.nan), ValueError,
                           "image_guidance_scale must be a finite number"),
    "guidance-unknown-preset": (_call(guidance="paper"), ValueError, r"unknown guidance 'paper'.*'adaptive'"),
    "guidance-and-a-scale": (_call(guidance="humo-17b", guidance_scale=7.0), ValueError,
                             "carries its own scales; drop guidance_scale"),
    "mode-needs-audio": (_call(mode="TIA", image=np.zeros((16, 16, 3))), ValueError,
                         r"mode 'TIA' needs audio= \(the audio condition\), which was not given"),
    "mode-unknown": (_call(mode="IA"), ValueError, r"mode must be one of \['T', 'TA', 'TI', 'TIA'\]"),
    "output-type": (_call(output_type="pil"), ValueError, "output_type must be one of"),
    "frames-not-4k+1": (_call(num_frames=8), ValueError, r"4k\+1"),
    "latents-wrong-shape": (_call(latents=torch.zeros(1, 8, 2, 4, 4)), ValueError,
                            r"latents must have shape \(1, 8, 3"),
    "prompt-not-text": (_call(prompt=3), TypeError, "prompt must be a string or a non-empty list of strings"),
    "prompt-over-token-limit": (_call(prompt=" ".join(["red"] * 30)), ValueError, "30 tokens, more than max_length=24"),
    "prompt-unknown-word": (_call(prompt="a person in a tuxedo"), ValueError, r"outside the vocabulary: \['tuxedo'\]"),
    "reference-tensor-out-of-range": (_call(image=torch.full((3, 16, 16), 2.0)), ValueError,
                                      r"outside the expected range \[-1, 1\]"),
    "reference-16bit-grey-pil": (_call(image=GREY_16BIT), ValueError, "got PIL mode 'I;16'.*convert\\('RGB'\\)"),
    "reference-palette-pil": (_call(image=PALETTE), ValueError, "got PIL mode 'P'"),
    "reference-no-colour-axis": (_call(image=np.ones((16, 16), np.float32)), ValueError, r"must be \(H, W, 3\) RGB"),
    "reference-wrong-size": (_call(image=np.ones((32, 32, 3), np.float32)), ValueError, "32x32.*resize it first"),
    "audio-array-without-rate": (_call(audio=SPEECH), ValueError, "needs its sample_rate="),
    "audio-bad-rate": (_call(audio=SPEECH, sample_rate=0), ValueError, "sample_rate must be a positive whole number"),
    "audio-too-short": (_call(audio=SPEECH[:1000], sample_rate=16_000), ValueError, "too short"),
    "audio-stereo": (_call(audio=np.stack([SPEECH, SPEECH]), sample_rate=16_000), ValueError, "must be mono"),
    "audio-nan": (_call(audio=SPEECH * np.nan, sample_rate=16_000), ValueError, "NaN"),
    "audio-missing-file": (lambda pipe, tmp: _call(audio=tmp / "none.wav")(pipe, tmp), FileNotFoundError,
                           "audio file not found"),
    "pipeline-missing-folder": (lambda pipe, tmp: HuMoLitePipeline.from_pretrained(tmp / "nowhere"),
                                FileNotFoundError, "no pipeline folder at .*nowhere"),
    "pipeline-truncated-weights": (
        lambda pipe, tmp: HuMoLitePipeline.from_pretrained(_truncated(NANO, tmp, "transformer")),
        ValueError, "transformer.*truncated or corrupted"),
    "dit-missing-folder": (lambda pipe, tmp: HuMoLiteDiT.from_pretrained(tmp / "nowhere"), FileNotFoundError,
                           "no HuMoLiteDiT folder at"),
    "vae-truncated-weights": (lambda pipe, tmp: load_vae(_truncated(NANO / "vae", tmp)), ValueError,
                              "truncated or corrupted"),
    "train-config-checkpoint-every-0": (lambda pipe, tmp: TrainConfig(checkpoint_every=0), ValueError,
                                        "TrainConfig.checkpoint_every must be a whole number >= 1, got 0"),
    "train-config-lr-nan": (lambda pipe, tmp: TrainConfig(lr=math.nan), ValueError,
                            "TrainConfig.lr must be a positive finite number"),
    "mp4-scale-0": (lambda pipe, tmp: write_mp4(tmp / "a.mp4", np.zeros((5, 8, 8, 3), np.float32), scale=0),
                    ValueError, "scale must be a whole number >= 1 .*got 0"),
    "byo-missing-folder": (lambda pipe, tmp: ByoDataset(tmp / "none"), FileNotFoundError, "BYO data folder not found"),
    "byo-empty-folder": (lambda pipe, tmp: ByoDataset(tmp), ValueError, "has no clip sub-folders"),
}


@pytest.mark.parametrize("row", sorted(ERRORS))
def test_bad_input_gets_a_clear_error(row, pipe, tmp_path):
    action, exception, message = ERRORS[row]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(exception, match=message):
        action(pipe, tmp_path)
    after = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(("nano", "vae", "humo-nano")))
    assert after == before, f"{row} left {after}"  # nothing written (copies made by the row itself aside)


def _corrupt_png(tmp: Path) -> Path:
    (tmp / "corrupt.png").write_bytes(b"\x89PNG not really")
    return tmp / "corrupt.png"


GENERATE = ["generate", "--preset", "humo-nano", "--prompt", PROMPT, "--steps", "1"]
# id: (argv given the temporary folder, message on stderr); every one exits with status 2 and writes nothing
CLI_ERRORS = {
    "cli-checkpoint-every-0": (lambda tmp: ["train", "stage0", "--preset", "humo-nano", "--out", str(tmp / "o"),
                                            "--checkpoint-every", "0"], "expected a whole number >= 1, got 0"),
    "cli-scale-0": (lambda tmp: [*GENERATE, "--out", str(tmp / "o.mp4"), "--scale", "0"],
                    "argument --scale: expected a whole number in 1..64, got 0"),
    "cli-steps-0": (lambda tmp: [*GENERATE[:-1], "0", "--out", str(tmp / "o.mp4")],
                    "expected a whole number in 1..1000, got 0"),
    "cli-image-missing": (lambda tmp: [*GENERATE, "--out", str(tmp / "o.mp4"), "--image", str(tmp / "none.png")],
                          "image file not found"),
    "cli-image-corrupt": (lambda tmp: [*GENERATE, "--out", str(tmp / "o.mp4"), "--image", str(_corrupt_png(tmp))],
                          "could not decode image"),
    "cli-audio-missing": (lambda tmp: [*GENERATE, "--out", str(tmp / "o.mp4"), "--audio", str(tmp / "none.wav")],
                          "audio file not found"),
    "cli-checkpoint-missing": (lambda tmp: [*GENERATE, "--out", str(tmp / "o.mp4"), "--checkpoint", str(tmp / "no")],
                               "no pipeline folder at"),
}


@pytest.mark.parametrize("row", sorted(CLI_ERRORS))
def test_bad_command_line_gets_a_clear_error_and_writes_nothing(row, tmp_path, capsys, cli_status):
    argv, message = CLI_ERRORS[row]
    assert cli_status(argv(tmp_path)) == 2
    assert re.search(message, capsys.readouterr().err), row
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o").exists()


def test_the_table_in_the_docs_lists_every_row():
    """docs/bad_inputs.md lists every row tested here (test_reliability.py checks the whole set), and
    docs/design.md and the README point to it with its count."""
    text = (ROOT / "docs" / "bad_inputs.md").read_text()
    documented = set(re.findall(r"^\| `([a-z0-9+\-]+)` \|", text, re.M))
    assert set(ERRORS) | set(CLI_ERRORS) <= documented, (set(ERRORS) | set(CLI_ERRORS)) - documented
    total = int(re.search(r"(\d+) bad inputs", text).group(1))
    for doc in ("README.md", "docs/design.md"):
        count = re.search(r"(\d+) bad inputs, each a", (ROOT / doc).read_text().replace("\n", " "))
        assert count and int(count.group(1)) == total, f"update the count in {doc}"


# --- warnings: the call goes on, and says what it did ---------------------------------------------------
def test_an_empty_prompt_says_it_is_the_null_caption(pipe):
    with pytest.warns(UserWarning, match="empty prompt encodes to the null caption"):
        empty = pipe("", num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    null = pipe(PROMPT, num_inference_steps=2, guidance_scale=0.0, generator=torch.Generator().manual_seed(0))
    assert np.allclose(empty.frames, null.frames, atol=1e-5)  # scale 0 is the null branch alone: the same clip


def test_audio_much_longer_than_the_clip_is_cut_with_a_warning(pipe):
    long = np.tile(SPEECH, 5)
    with pytest.warns(UserWarning, match=r"audio is 1.80 s, the clip 0.36 s: only its first 0.36 s are used"):
        out = pipe(PROMPT, audio=long, sample_rate=16_000, num_inference_steps=1)
    assert np.array_equal(out.audio[0], SPEECH)


# --- what must survive ------------------------------------------------------------------------------------
class _Linear(TrainingTask):
    def __init__(self, dropout=0.0):
        torch.manual_seed(0)
        self.modules = {"net": torch.nn.Linear(4, 1)}
        self.trainable = {"net": lambda name: True}
        self.num_items, self.dropout = 16, dropout

    def hyperparameters(self):
        return {"num_items": self.num_items, "dropout": self.dropout}

    def loss(self, modules, indices, generator, device):
        x = torch.randn(len(indices), 4, generator=generator)
        per = modules["net"](x).squeeze(-1) ** 2
        return per.mean(), {"sigma": torch.rand(len(indices), generator=generator), "loss": per.detach()}


def _config(**kw):
    return TrainConfig(**{"steps": 4, "batch_size": 4, "warmup_steps": 1, "checkpoint_every": 2, **kw})


def test_resuming_with_other_settings_names_the_field_unless_overridden(tmp_path):
    Trainer(_Linear(), _config(), tmp_path).train(progress=False)
    with pytest.raises(ValueError, match=r"cannot resume .*lr=0.001 in the checkpoint but 0.01 now.*override_config"):
        Trainer(_Linear(), _config(steps=6, lr=1e-2), tmp_path).train(progress=False)
    with pytest.raises(ValueError, match=r"task.dropout=0.0 in the checkpoint but 0.5 now"):
        Trainer(_Linear(dropout=0.5), _config(steps=6), tmp_path).train(progress=False)
    summary = Trainer(_Linear(), _config(steps=6, checkpoint_every=3), tmp_path).train(progress=False)
    assert summary["steps_this_run"] == 2  # running longer, checkpointing more often: a plain resume
    summary = Trainer(_Linear(), _config(steps=8, lr=1e-2), tmp_path).train(progress=False, override_config=True)
    assert summary["steps_this_run"] == 2


def test_a_damaged_trainer_checkpoint_is_named_and_left_as_it_was(tmp_path):
    Trainer(_Linear(), _config(), tmp_path).train(progress=False)
    checkpoint = tmp_path / "checkpoint"
    ema = checkpoint / "ema.safetensors"
    ema.write_bytes(ema.read_bytes()[:-10])
    before = {p.name: p.read_bytes() for p in checkpoint.iterdir()}
    with pytest.raises(ValueError, match="ema.safetensors is truncated or corrupted"):
        Trainer(_Linear(), _config(steps=6), tmp_path).train(progress=False)
    (checkpoint / "trainer_state.json").write_text('{"step": 4, "hist')
    before["trainer_state.json"] = (checkpoint / "trainer_state.json").read_bytes()
    with pytest.raises(ValueError, match="trainer_state.json is truncated or corrupted"):
        Trainer(_Linear(), _config(steps=6), tmp_path).train(progress=False)
    assert {p.name: p.read_bytes() for p in checkpoint.iterdir()} == before  # nothing overwritten


def test_a_failed_folder_swap_keeps_the_old_folder(tmp_path, monkeypatch):
    import humo_lite.io as io

    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("old")
    real_replace, calls = io.os.replace, []

    def failing_replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # the first call moves the old folder aside; the second would move the new one in
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"), atomic_dir(target, overwrite=True) as tmp:
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "old"  # the old folder is back where it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary or .old folder left
    assert calls[0][1] == ".ckpt.old" and calls[2] == (".ckpt.old", "ckpt")  # moved aside, then moved back


def test_writing_a_wav_checks_before_it_opens(tmp_path):
    with pytest.raises(ValueError, match="sample rate 8000 Hz; expected 16000"):
        write_wav(tmp_path / "a.wav", SPEECH, sample_rate=8000)
    assert list(tmp_path.iterdir()) == []

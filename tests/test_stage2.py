"""Stage 2 (chapter 04): audio tokens, frame-local audio cross-attention, the task mix, resume, the audio maps."""

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from humo_lite.guidance import default_schedule, talking_schedule
from humo_lite.models import build_dit
from humo_lite.models.attention import AllFramesCrossAttention, FrameLocalCrossAttention, register_condition
from humo_lite.models.attention_maps import AudioAttention, face_effect_share
from humo_lite.models.audio import AudioProjector, add_audio, normalise_bands
from humo_lite.models.dit import DiTBlock
from humo_lite.shipped import default_checkpoint
from humo_lite.training.audio_task import AudioToVideoTask, audio_share
from humo_lite.training.stages import trainable_summary
from humo_lite.training.trainer import TrainConfig, Trainer, weights_checksum

ROOT = Path(__file__).resolve().parents[1]


def _nano_audio_dit(seed=0):
    """A humo-nano DiT with audio modules and a non-zero head (a fresh head is zero, so nothing would train)."""
    torch.manual_seed(seed)
    dit = add_audio(build_dit("humo-nano"))
    with torch.no_grad():
        dit.head.weight.normal_(0, 0.05)
    return dit


def _inputs(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, 8, 3, 4, 4, generator=g)  # humo-nano latents: 3 latent frames of 4 x 4
    text = torch.randn(batch, 5, 32, generator=g)
    ref = torch.randn(batch, 8, 1, 4, 4, generator=g)
    windows = torch.randn(batch, 4, 8, 80, generator=g)  # 3 video frames + 1 reference frame
    return x_t, text, ref, windows


def test_projector_makes_k_tokens_per_frame_and_names_a_wrong_shape():
    proj = AudioProjector(hidden=32, num_tokens=16, width=24)
    tokens = proj(torch.randn(2, 5, 8, 80))
    assert tokens.shape == (2, 5, 16, 24)
    assert torch.allclose(tokens.mean(-1), torch.zeros(2, 5, 16), atol=1e-5)  # ends in a LayerNorm
    silent = proj(torch.zeros(1, 1, 8, 80))
    assert silent.abs().sum() > 0  # zeros are a learned "silent" token set, not nothing (HuMo's nulls)
    with pytest.raises(ValueError, match=r"\[B, frames, 8, 80\]"):
        proj(torch.randn(2, 5, 80))
    with pytest.raises(ValueError, match="num_tokens"):
        AudioProjector(num_tokens=0)


def test_band_norm_removes_a_voices_average_spectrum_and_keeps_loudness_and_nulls():
    g = torch.Generator().manual_seed(0)
    speech = torch.randn(1, 5, 8, 80, generator=g)
    speech[:, 0, :3] = 0  # latent 0's padding
    speech[:, 4] = 0  # a reference frame
    timbre = torch.linspace(-1.0, 1.0, 80)  # another voice: the same speech through another spectral tilt
    other = torch.where(speech != 0, speech + timbre, speech)
    a, b = normalise_bands(speech), normalise_bands(other)
    assert torch.allclose(a, b, atol=1e-5)  # the tilt is gone
    assert not torch.allclose(speech, other)  # (the inputs did differ)
    louder = torch.where(speech != 0, speech + 0.5, speech)  # the same clip 0.5 higher in every band
    assert torch.allclose(normalise_bands(louder), a + 0.5 * (speech != 0), atol=1e-5)  # loudness kept
    assert torch.equal(a[0, 4], torch.zeros(8, 80)) and torch.equal(a[0, 0, :3], torch.zeros(3, 80))
    assert torch.equal(normalise_bands(torch.zeros(2, 3, 8, 80)), torch.zeros(2, 3, 8, 80))  # audio off stays off
    torch.manual_seed(0)
    plain, normed = AudioProjector(hidden=32, width=24), AudioProjector(hidden=32, width=24, band_norm=True)
    normed.load_state_dict(plain.state_dict())
    assert torch.allclose(normed(speech), normed(other), atol=1e-5)
    assert not torch.allclose(plain(speech), plain(other), atol=1e-3)
    assert torch.equal(normed(torch.zeros(1, 2, 8, 80)), plain(torch.zeros(1, 2, 8, 80)))  # the same nulls
    dit = add_audio(build_dit("humo-nano"), band_norm=True)
    assert dit.config.audio_projector["band_norm"] and dit.audio_proj.band_norm
    with pytest.raises(ValueError, match="band_norm"):
        AudioProjector(band_norm="yes")


def test_add_audio_keeps_the_output_until_trained():
    base = build_dit("humo-nano").eval()
    torch.manual_seed(0)
    with torch.no_grad():
        base.head.weight.normal_(0, 0.05)
    dit = add_audio(base).eval()
    x_t, text, ref, windows = _inputs()
    with torch.no_grad():
        before = base(x_t, 500.0, text, ref_latents=ref).sample
        after = dit(x_t, 500.0, text, ref_latents=ref, audio_ctx=windows).sample
    assert torch.equal(before, after)  # zero output projections: audio changes nothing yet
    assert dit.config.audio_projector["num_tokens"] == 16
    with torch.no_grad():  # once the audio layers are trained (here: woken), the audio does change it
        for block in dit.blocks:
            block.cond_attn["audio"].out.weight.normal_(0, 0.5)
        woken = dit(x_t, 500.0, text, ref_latents=ref, audio_ctx=windows).sample
    assert not torch.allclose(before, woken)
    with pytest.raises(ValueError, match="already has audio"):
        add_audio(dit)


def _block_audio_change(attention_class, frame=1):
    """Output of one block for two audio inputs that differ only in latent frame ``frame``: per-frame change."""
    register_condition("audio", attention_class, replace=True)
    try:
        torch.manual_seed(0)
        block = DiTBlock(32, 2, 64, conditions={"audio": 24}).eval()
    finally:
        register_condition("audio", FrameLocalCrossAttention, replace=True)
    with torch.no_grad():
        block.cond_attn["audio"].out.weight.normal_(0, 0.5)
    grid = (4, 2, 2)  # 4 latent frames of 2 x 2 tokens
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 16, 32, generator=g)
    tokens = torch.randn(1, 4, 16, 24, generator=g)  # 16 audio tokens per latent frame
    changed = tokens.clone()
    changed[:, frame] = torch.randn(1, 16, 24, generator=g)
    rotations = torch.ones(16, 8, dtype=torch.complex64)
    args = (torch.zeros(1, 6, 32), torch.randn(1, 3, 32, generator=g), None, rotations, grid)
    with torch.no_grad():
        a, b = block(x, *args, {"audio": tokens}), block(x, *args, {"audio": changed})
    return (a - b).abs().reshape(1, 4, 4, 32).amax(dim=(0, 2, 3))  # (frames,)


def test_audio_of_one_latent_frame_changes_only_that_frame():
    change = _block_audio_change(FrameLocalCrossAttention, frame=1)
    assert change[1] > 1e-3
    assert torch.all(change[[0, 2, 3]] == 0), change  # frame-local: nothing leaks to other frames
    leaky = _block_audio_change(AllFramesCrossAttention, frame=1)  # full cross-attention: every frame sees all audio
    assert torch.all(leaky > 1e-3), leaky


def _task_data(n, seed, frames=3, audio=True):
    g = torch.Generator().manual_seed(seed)
    data = {"latents": torch.randn(n, 8, frames, 4, 4, generator=g),
            "ref_latents": torch.randn(n, 8, 1, 4, 4, generator=g), "text_ctx": torch.randn(n, 6, 32, generator=g),
            "text_mask": torch.ones(n, 6, dtype=torch.bool)}
    if audio:
        data["audio_windows"] = torch.randn(n, frames + 1, 8, 80, generator=g)
    return data


def test_audio_share_ramps_and_the_batch_mix_follows_it():
    assert audio_share(0, 100) == pytest.approx(0.2)
    assert audio_share(50, 100) == pytest.approx(0.35)
    assert audio_share(100, 100) == audio_share(5000, 100) == pytest.approx(0.5)
    task = AudioToVideoTask(_nano_audio_dit(), _task_data(12, 0), _task_data(20, 1, audio=False), ramp_steps=100)
    g = torch.Generator().manual_seed(0)
    for step, expected in ((0, 2), (100, 5)):  # round(0.2 * 10), round(0.5 * 10)
        task.begin_step(step)
        rows, is_audio = task.pick(torch.arange(10), g)
        assert int(is_audio.sum()) == expected
        assert torch.all(rows[is_audio] < 12) and torch.all(rows[~is_audio] >= 12)  # audio rows from the audio pool
    assert task.data["audio_windows"][12:].abs().sum() == 0  # stage-1 triplets: null audio
    hp = task.hyperparameters()
    assert hp["share_start"] == 0.2 and hp["share_end"] == 0.5 and hp["audio_dropout"] == 0.1
    with pytest.raises(ValueError, match="audio modules"):
        AudioToVideoTask(build_dit("humo-nano"), _task_data(4, 0), _task_data(4, 1, audio=False))
    with pytest.raises(ValueError, match="audio_dropout"):
        AudioToVideoTask(_nano_audio_dit(), _task_data(4, 0), _task_data(4, 1, audio=False), audio_dropout=1.5)


def test_stage2_trains_self_attention_and_audio_only():
    dit = _nano_audio_dit()
    names = trainable_summary(dit, "stage2")["names"]
    assert any(n.startswith("audio_proj.") for n in names) and any(".cond_attn.audio." in n for n in names)
    assert any(".self_attn." in n for n in names)
    assert not any(".ffn." in n or ".text_attn." in n or n.startswith("head") for n in names)


def test_stage2_resume_continues_exactly(tmp_path):
    def run(steps, folder):
        task = AudioToVideoTask(_nano_audio_dit(), _task_data(12, 0), _task_data(20, 1, audio=False), ramp_steps=6)
        config = TrainConfig(steps=steps, batch_size=4, warmup_steps=1, checkpoint_every=100, log_every=1)
        trainer = Trainer(task, config, tmp_path / folder)
        trainer.train(progress=False)
        return task, trainer

    full, trainer = run(8, "full")
    run(4, "split")
    resumed, _ = run(8, "split")
    assert weights_checksum(resumed.modules) == weights_checksum(full.modules)
    shares = [h["audio"] for h in trainer.history]  # logged by the trainer, step by step
    assert shares[0] == pytest.approx(0.25) and shares[-1] == pytest.approx(0.5)  # round(0.2*4)/4 → round(0.5*4)/4


def test_trainer_evaluates_on_ema_weights_and_keeps_the_curve(tmp_path):
    task = AudioToVideoTask(_nano_audio_dit(), _task_data(12, 0), _task_data(20, 1, audio=False), ramp_steps=6)
    config = TrainConfig(steps=6, batch_size=4, warmup_steps=1, checkpoint_every=3, log_every=1)
    trainer = Trainer(task, config, tmp_path)
    seen = []

    def evaluate(step, modules):
        time.sleep(0.05)  # a measurement that takes time, so its share of the run shows
        seen.append(modules["transformer"].training)
        return {"norm": float(sum(p.norm() for p in modules["transformer"].audio_proj.parameters()))}

    before = weights_checksum(task.modules)
    summary = trainer.train(progress=False, evaluate=evaluate, evaluate_every=3)
    assert [e["step"] for e in trainer.evaluations] == [3, 6] and seen == [False, False]
    assert 0 < summary["evaluation_time_s"] < summary["wall_time_s"]  # the curve's share of the run, recorded
    assert weights_checksum(task.modules) != before and task.modules["transformer"].training  # restored
    reloaded = Trainer(AudioToVideoTask(_nano_audio_dit(), _task_data(12, 0), _task_data(20, 1, audio=False),
                                        ramp_steps=6), config, tmp_path)
    reloaded.load_checkpoint(tmp_path / "checkpoint")
    assert reloaded.evaluations == trainer.evaluations


def test_audio_attention_records_effect_and_weights():
    dit = _nano_audio_dit()
    with torch.no_grad():
        for block in dit.blocks:
            block.cond_attn["audio"].out.weight.normal_(0, 0.5)
    x_t, text, ref, windows = _inputs()
    with AudioAttention(dit) as rec, torch.no_grad():
        dit(x_t, 500.0, text, ref_latents=ref, audio_ctx=windows)
        dit(x_t, 300.0, text, ref_latents=ref, audio_ctx=windows)
    effect, weights = rec.effect(), rec.weights()
    assert effect.shape == (2, 2, 2, 3, 2, 2)  # calls, rows, blocks, F', h, w
    assert weights.shape == (2, 2, 2, 3, 2, 2, 16)
    assert np.allclose(weights.sum(-1), 1, atol=1e-5)
    face = np.zeros((3, 2, 2))
    face[:, 0, 0] = 1
    share = face_effect_share(effect, face)
    assert share["face_area"] == 0.25 and np.all((share["face_share"] > 0) & (share["face_share"] < 1))
    uniform = face_effect_share(np.ones_like(effect), face)["face_share"]
    assert np.allclose(uniform, 0.25)  # an effect spread evenly lands on the face as often as the face is there
    with pytest.raises(ValueError, match="token grid"):
        face_effect_share(effect, np.ones((3, 4, 4)))
    with pytest.raises(ValueError, match="no audio cross-attention"):
        AudioAttention(build_dit("humo-nano"))
    with AudioAttention(dit) as empty, torch.no_grad():
        dit(x_t, 500.0, text, ref_latents=ref)  # no audio given: the layer is skipped
    with pytest.raises(RuntimeError, match="no audio cross-attention ran"):
        empty.effect()


# --- the pipeline and the CLI with the shipped humo-nano stage 2 --------------------------------------------
PROMPT = "a person in a red shirt stands in the centre of a blue room, nodding"


@pytest.fixture(scope="module")
def talking():
    from humo_lite.cli import default_checkpoint
    from humo_lite.pipeline import HuMoLitePipeline

    pipe = HuMoLitePipeline.from_pretrained(default_checkpoint("humo-nano", 2))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _speech(index=0):
    from humo_lite.data import make_clip, make_pool

    return make_clip(make_pool("heldout_voice")[index], "humo-nano")


def _call(pipe, **kwargs):
    return pipe(PROMPT, num_inference_steps=3, generator=torch.Generator().manual_seed(0), **kwargs)


def test_tia_and_ta_use_the_audio(talking, recwarn):
    clip, other = _speech(0), _speech(1)
    tia = _call(talking, image=clip.reference, audio=clip.audio, sample_rate=16_000, mode="TIA")
    assert not [w for w in recwarn if "does not drive the lips" in str(w.message)]  # it has audio layers
    assert tia.audio.shape == (1, 9 * 640) and tia.dit_passes == 3 * 4  # TIA: four branches per step
    swapped = _call(talking, image=clip.reference, audio=other.audio, sample_rate=16_000)
    assert np.abs(tia.frames - swapped.frames).max() > 1e-3  # another recording, another clip
    ta = _call(talking, audio=clip.audio, sample_rate=16_000, mode="TA")
    assert np.abs(ta.frames - tia.frames).max() > 1e-3 and ta.dit_passes == 3 * 3  # TA: no image branch


def test_audio_bad_inputs_are_clear(talking):
    from humo_lite.cli import default_checkpoint
    from humo_lite.pipeline import HuMoLitePipeline

    clip = _speech(0)
    with pytest.raises(ValueError, match="cover 0 of the clip's 3 latent frames"):
        _call(talking, audio=clip.audio[:500], sample_rate=16_000)  # shorter than one latent frame
    with pytest.raises(ValueError, match="cover 2 of the clip's 3 latent frames"):
        _call(talking, audio=clip.audio[:4000], sample_rate=16_000)
    with pytest.warns(UserWarning, match="audio off"):
        _call(talking, audio=np.zeros(9 * 640, np.float32), sample_rate=16_000)  # allowed: it is the null audio
    with pytest.raises(ValueError, match="cannot be resampled"):
        _call(talking, audio=clip.audio, sample_rate=1)
    stage1 = HuMoLitePipeline.from_pretrained(default_checkpoint("humo-nano", 1))
    for mode in ("TA", "TIA"):
        with pytest.raises(ValueError, match="needs a checkpoint with audio layers"):
            _call(stage1, image=clip.reference if mode == "TIA" else None, audio=clip.audio, sample_rate=16_000,
                  mode=mode)


def test_cli_generate_with_audio_and_image_makes_a_talking_clip(tmp_path, capsys):
    from humo_lite.cli import default_checkpoint, main
    from humo_lite.io import write_png, write_wav

    clip = _speech(2)
    wav, png = write_wav(tmp_path / "speech.wav", clip.audio), write_png(tmp_path / "face.png", clip.reference)
    out = tmp_path / "talk.mp4"
    assert main(["generate", "--preset", "humo-nano", "--audio", str(wav), "--image", str(png), "--steps", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "humo-nano-stage2" in printed and "with sound" in printed, printed
    import subprocess

    import imageio_ffmpeg

    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True,
                           text=True)
    streams = [line for line in probe.stderr.splitlines() if "Stream #" in line]
    assert any("Audio: aac" in s for s in streams) and any("Video: h264" in s for s in streams), streams
    photo = default_checkpoint("humo-nano").parents[1] / "byo_example" / "astronaut_pan" / "reference.png"  # 96x96
    assert main(["generate", "--preset", "humo-nano", "--audio", str(wav), "--image", str(photo), "--steps", "1",
                 "--out", str(tmp_path / "photo.mp4")]) == 0
    assert "resized from 96x96 to the model's 16x16" in capsys.readouterr().out
    write_png(tmp_path / "wide.png", np.zeros((16, 24, 3), np.float32))
    assert main(["generate", "--preset", "humo-nano", "--audio", str(wav), "--image", str(tmp_path / "wide.png"),
                 "--out", str(tmp_path / "wide.mp4")]) == 2
    assert "crop it to that aspect ratio" in capsys.readouterr().err and not (tmp_path / "wide.mp4").exists()


def test_shipped_stage2_manifests_hold_the_recipe_and_the_check():
    import json

    from humo_lite.cli import default_checkpoint

    for preset in ("humo-nano", "humo-micro"):
        folder = default_checkpoint(preset, 2)
        if not folder.is_dir() and preset == "humo-micro":
            pytest.fail(f"{folder} is missing: ship it with scripts/ship_checkpoint.py")
        manifest = json.loads((folder / "manifest.json").read_text())
        task = manifest["task"]
        assert (task["share_start"], task["share_end"]) == (0.2, 0.5) and task["ramp_steps"] > 0
        assert {"text_dropout", "image_dropout", "audio_dropout"} <= set(task)
        assert 0 < manifest["trainable"]["share"] < 1 and manifest["wall_time_s"] > 0
        assert not manifest["stage1"].startswith("/"), manifest["stage1"]  # paths relative to the repository
        checks = manifest["metrics"]["checks"]
        assert {"TIA", "TA", "TIA, audio guidance off", "stage 1, TI"} <= set(checks)
        assert len(checks["TIA"]["per_seed"]) >= 3 and checks["TIA"]["num_clips"] >= 16
        for key in ("real", "reconstruction"):  # the ceilings the ratios are taken against
            assert checks["TIA"]["ceilings"][key]["sync_c"] > checks["TIA"]["ceilings"][key]["sync_c_shuffled"]
        assert manifest["curve"] and all("heldout_loss" in point for point in manifest["curve"])
        assert checks["TIA"]["guidance_formula"] == default_schedule().formula("TIA")  # scored at today's default
        assert checks["stage 1, TI"]["guidance_formula"] == talking_schedule().formula("TI")  # the same scales


def test_the_second_training_is_scored_with_the_shipped_check():
    """``stage2_second_training.json`` (the recipe trained again with another training seed) was scored on the shipped
    check's clips, seeds, judge, VAE and guidance — both ceilings are the same numbers — and its summary is its
    checks'."""
    folder = default_checkpoint("humo-micro", 2)
    manifest = json.loads((folder / "manifest.json").read_text())
    shipped = manifest["metrics"]["checks"]["TIA"]
    second = json.loads((folder.parents[1] / "ablations" / "stage2_second_training.json").read_text())
    tia = second["checks"]["TIA"]
    assert (tia["num_clips"], tia["seeds"], tia["guidance_formula"]) == (
        shipped["num_clips"], shipped["seeds"], shipped["guidance_formula"])
    assert tia["ceilings"] == shipped["ceilings"] and second["training_seed"] != manifest["seed"]
    assert second["summary"]["sync_c_margin_share"] == round(tia["ratios"]["sync_c_margin_share"], 3)
    assert second["summary"]["r_within_clip"].startswith(f"{tia['mean']['r_within_clip']:.3f}")


def test_the_second_training_script_refuses_what_is_not_a_stage2_of_the_recipe(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("second", ROOT / "scripts" / "stage2_second_training.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for src, message in ((ROOT / "docs", "is not a pipeline folder"),
                         (default_checkpoint("humo-micro", 1), "is not a stage 2 trained with the shipped recipe")):
        with pytest.raises(SystemExit):
            script.main([str(src)])
        assert message in capsys.readouterr().err
    shipped = json.loads((default_checkpoint("humo-micro", 2) / "manifest.json").read_text())
    other_seed = json.loads(json.dumps(shipped))
    other_seed["settings"]["train"]["seed"] = 1
    assert script.recipe(other_seed) == script.recipe(shipped)  # another training seed is the same recipe...
    plain = json.loads(json.dumps(shipped))
    plain["settings"]["audio_band_norm"] = False
    assert script.recipe(plain) != script.recipe(shipped)  # ...a stage 2 without band normalisation is not


def test_the_shipped_stage2_check_and_chapter_07_agree():
    """The manifest's TIA check and chapter 07's "TIA, default guidance" row score the same weights, clips, seeds and
    guidance, so they are the same numbers (either one made with another default, or other weights, fails this)."""
    folder = default_checkpoint("humo-micro", 2)
    manifest = json.loads((folder / "manifest.json").read_text())
    schedules = json.loads((folder.parents[1] / "ablations" / "stage2_guidance_schedules.json").read_text())
    weights = manifest["sha256"]["transformer/diffusion_pytorch_model.safetensors"]
    assert schedules["setup"]["checkpoint_sha256"] == weights
    check = manifest["metrics"]["checks"]["TIA"]
    row = schedules["rows"]["TIA, default guidance"]["per_seed"]
    assert check["num_clips"] == schedules["setup"]["num_clips"] and [str(s) for s in check["seeds"]] == sorted(row)
    for scored in check["per_seed"]:
        other = row[str(scored["seed"])]
        for key in ("sync_c", "sync_c_shuffled", "sync_d", "r_within_clip", "abs_offset", "id_lite", "tva_lite"):
            assert scored[key] == pytest.approx(other[key], abs=1e-6), (scored["seed"], key)


def test_face_weight_reweights_audio_triplets_only():
    def loss(face_weight, share):
        audio, plain = _task_data(8, 0), _task_data(8, 1, audio=False)
        audio["face_share"] = torch.full((8, 3, 4, 4), share) if share is not None else torch.rand(8, 3, 4, 4)
        plain["face_share"] = torch.rand(8, 3, 4, 4)
        task = AudioToVideoTask(_nano_audio_dit(), audio, plain, ramp_steps=0, face_weight=face_weight)
        task.begin_step(0)
        with torch.no_grad():
            value, logs = task.loss(task.modules, torch.arange(8), torch.Generator().manual_seed(3), "cpu")
        return float(value), logs["loss"][~logs["audio"].bool()]

    plain_loss, plain_rows = loss(0.0, None)
    weighted, weighted_rows = loss(4.0, None)
    assert abs(weighted - plain_loss) > 1e-6  # the face of audio triplets counts more
    assert torch.allclose(plain_rows, weighted_rows)  # stage-1 triplets keep the plain loss
    assert loss(4.0, 0.0)[0] == pytest.approx(plain_loss)  # no face in the cells: nothing to weigh
    assert loss(4.0, 1.0)[0] == pytest.approx(plain_loss)  # a uniform weight is normalised away
    with pytest.raises(KeyError, match="face_share"):
        AudioToVideoTask(_nano_audio_dit(), _task_data(4, 0), _task_data(4, 1, audio=False), face_weight=2.0)


def test_shipped_micro_stage2_listens_and_does_not_memorise():
    """Recomputed from the shipped weights, on held-out people speaking in a held-out voice: the audio lowers the
    held-out loss below stage 1's (a model that memorised its audio pool would raise it), and the judged mouth
    follows the clip's own audio better than another clip's."""
    from humo_lite.cli import default_checkpoint
    from humo_lite.eval import load_judge
    from humo_lite.eval.heldout_loss import heldout_data, heldout_loss
    from humo_lite.eval.identity_check import generate_clips
    from humo_lite.eval.sync_check import heldout_voice_clips, lip_sync
    from humo_lite.pipeline import HuMoLitePipeline

    stage1, stage2 = (HuMoLitePipeline.from_pretrained(default_checkpoint("humo-micro", s)) for s in (1, 2))
    data = heldout_data(stage1, num_clips=8)
    with_audio = heldout_loss(stage2.transformer, data)["loss"]
    assert with_audio < heldout_loss(stage1.transformer, data)["loss"]
    assert with_audio < heldout_loss(stage2.transformer, data, use_audio=False)["loss"]  # the audio itself helps
    stage2.set_progress_bar_config(disable=True)
    clips = heldout_voice_clips(8)
    frames = generate_clips(stage2, clips, True, 0, 8, use_audio=True, num_inference_steps=10)
    sync = lip_sync(load_judge(), frames, np.stack([c.mouth for c in clips]))
    assert sync["sync_c"] > sync["sync_c_shuffled"] + 0.02 and sync["r_within_clip"] > 0.5, sync


def test_train_stage2_command_defers_to_the_config_defaults(monkeypatch, tmp_path):
    import humo_lite.recipes as recipes
    from humo_lite.cli import main
    from humo_lite.recipes import Stage2Config
    from humo_lite.training.trainer import TrainConfig

    calls, real = [], recipes.train_stage2
    with pytest.raises(TypeError, match="Stage2Config"):
        real("humo-nano", None, tmp_path / "c", TrainConfig())  # the optimiser's config alone is not enough
    monkeypatch.setattr(recipes, "train_stage2", lambda *a, **kw: calls.append((a, kw)) or {})
    main(["train", "stage2", "--out", str(tmp_path / "a")])
    main(["train", "stage2", "--out", str(tmp_path / "b"), "--steps", "900", "--clips", "400", "--face-weight", "0",
          "--no-curve", "--focus-weight", "0", "--curve-every", "100", "--voice-rates", "0.15", "--no-audio-band-norm"])
    (args, kwargs), (args2, _) = calls
    assert args[3] == Stage2Config() and set(kwargs) == {"command", "override_config"}  # nothing else passed
    expected = Stage2Config(train=replace(Stage2Config().train, steps=900), num_clips=400, face_weight=0.0, curve=False,
                            focus_weight=0.0, curve_every=100, voice_rates=0.15, audio_band_norm=False)
    assert args2[3] == expected and args2[3].train.lr == TrainConfig(lr=1e-3).lr
    assert Stage2Config().focus_weight > 0  # the shipped recipe is HuMo's: with focus-by-predicting
    assert Stage2Config().audio_band_norm  # ...and ours: band normalisation (chosen on the validation pool)


def test_joint_training_starts_from_stage_0_and_says_so(tmp_path):
    from humo_lite.cli import default_checkpoint
    from humo_lite.recipes import Stage2Config, stage2_config, train_stage2

    config = Stage2Config(stage2_config(steps=2, checkpoint_every=100), num_clips=8, num_plain_clips=8, eval_clips=0,
                          curve=False, share_start=0.5, share_end=0.5, ramp_steps=0, focus_weight=0.0)
    manifest = train_stage2("humo-nano", default_checkpoint("humo-nano", 0), tmp_path / "joint", config, progress=False)
    assert manifest["start"] == "stage0" and manifest["task"]["share_start"] == manifest["task"]["share_end"] == 0.5
    assert manifest["trainable"]["stage"] == "stage2" and not any(k.startswith("mask_head") for k in manifest["sha256"])
    with pytest.raises(ValueError, match="focus_blocks must be at most"):
        train_stage2("humo-nano", None, tmp_path / "bad", Stage2Config(stage2_config(steps=2), eval_clips=0,
                                                                       curve=False, focus_blocks=3), progress=False)
    with pytest.raises(ValueError, match="voice_rates must be"):
        train_stage2("humo-nano", None, tmp_path / "bad", Stage2Config(stage2_config(steps=2), eval_clips=0,
                                                                       curve=False, voice_rates=0.6), progress=False)


def test_sync_by_speech_splits_the_check_by_what_was_spoken():
    """``sync_by_group``: a group whose mouth follows its lip law keeps its margin and r; a group whose mouth is
    another clip's does not. ``sync_by_speech`` on the shipped nano stage 2: both kinds of speech, each beside its
    reconstruction."""
    from humo_lite.eval.sync_check import sync_by_group, sync_by_speech
    from humo_lite.pipeline import HuMoLitePipeline
    from humo_lite.shipped import default_checkpoint

    rng = np.random.default_rng(0)
    lips = np.clip(rng.random((8, 25)) ** 2, 0, 1)
    mouth = lips.copy()
    mouth[4:] = lips[rng.permutation(8)][4:][:, ::-1]  # the second group: some other clip's mouth, reversed
    groups = sync_by_group(mouth, lips, ["follows"] * 4 + ["other"] * 4)
    follows, other = groups["follows"], groups["other"]
    assert follows["num_clips"] == other["num_clips"] == 4
    assert follows["r_within_clip"] > 0.99 and follows["abs_offset"] == 0 and follows["margin"] > 0.1, follows
    assert other["r_within_clip"] < 0.5 and other["margin"] < follows["margin"] / 2, other

    pipe = HuMoLitePipeline.from_pretrained(default_checkpoint("humo-nano", 2))
    pipe.set_progress_bar_config(disable=True)
    out = sync_by_speech(pipe, num_clips=8, seeds=(0,), num_inference_steps=2, batch_size=8, preset="humo-nano")
    assert set(out["by_speech"]) == {"bank", "synth"} and out["seeds"] == [0]
    assert sum(part["num_clips"] for part in out["by_speech"].values()) == 8
    for part in out["by_speech"].values():
        generated, margin = part["generated"], part["reconstruction"]["margin"]
        assert {"margin_share", "r_within_clip", "sync_c"} <= set(generated)
        assert (generated["margin_share"] is None) == (margin <= 1e-6), part  # no share of a margin that is not there

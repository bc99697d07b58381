"""HuMoLitePipeline and stage 0: save/load, determinism, inputs checked, the MP4 with sound, the CLI."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from humo_lite.cli import main
from humo_lite.data import make_clip, make_pool
from humo_lite.flow_matching import make_scheduler
from humo_lite.io import read_video
from humo_lite.models import build_dit
from humo_lite.models.text_encoder import build_text_encoder
from humo_lite.models.vae import build_vae
from humo_lite.pipeline import HuMoLitePipeline

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a person in a red shirt stands in the centre of a blue room, nodding"


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    dit = build_dit("humo-nano")
    with torch.no_grad():  # a non-trivial head, so the output depends on every input
        dit.head.weight.normal_(0, 0.02)
    return HuMoLitePipeline(dit.eval(), build_vae("humo-nano").eval(), build_text_encoder("humo-nano").eval(),
                            make_scheduler("unipc", shift=3.0), height=16, width=16, num_frames=9)


def _run(pipe, seed=0, **kw):
    return pipe(PROMPT, num_inference_steps=3, generator=torch.Generator().manual_seed(seed), **kw)


def test_same_seed_same_bytes_other_seed_differs(pipe):
    a, b, c = _run(pipe), _run(pipe), _run(pipe, seed=1)
    assert a.frames.shape == (1, 9, 16, 16, 3) and a.frames.dtype == np.float32
    assert 0 <= a.frames.min() and a.frames.max() <= 1
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    assert a.audio is None


def test_output_types_batch_and_guidance(pipe):
    pt = _run(pipe, output_type="pt").frames
    assert pt.shape == (1, 3, 9, 16, 16) and -1 <= pt.min() and pt.max() <= 1
    assert _run(pipe, output_type="latent").frames.shape == (1, 8, 3, 4, 4)
    two = pipe([PROMPT, PROMPT], num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert two.frames.shape[0] == 2 and two.dit_passes == 2 * 2 * 2  # 2 prompts x 2 branches x 2 steps
    off, on = _run(pipe, guidance_scale=1.0), _run(pipe, guidance_scale=5.0)
    assert not np.array_equal(off.frames, on.frames)
    assert (off.dit_passes, on.dit_passes) == (3, 6)  # guidance off: one branch per step, not two


def test_guidance_is_the_text_branches_combined(pipe):
    """One step by hand: the two branches' velocities from separate calls, combined, equal the pipeline's."""
    conditions, _ = pipe.prepare_conditions([PROMPT], None, None, None, None, 9, "error")
    branches, combine = pipe.guidance_schedule(None, 4.0).plan(0.7, conditions.given)
    assert branches == [frozenset(), frozenset({"text"})]
    x, t = torch.randn(1, 8, 3, 4, 4), torch.tensor(700.0)
    batched = combine(pipe.branch_velocities(x, t, conditions, branches))
    one_by_one = [pipe.branch_velocities(x, t, conditions, [b])[0] for b in branches]
    assert torch.allclose(batched, one_by_one[0] + 4.0 * (one_by_one[1] - one_by_one[0]), atol=1e-5)
    assert not torch.allclose(one_by_one[0], one_by_one[1], atol=1e-4)  # the null text really differs


def test_each_branch_gets_the_null_of_what_it_drops(pipe, audio_dit):
    """Three conditions, several branches: a dropped image is zero reference latents, dropped audio zero windows."""
    audio_pipe = HuMoLitePipeline(audio_dit, pipe.vae, pipe.text_encoder, pipe.scheduler, 16, 16, 9)
    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    conditions, _ = audio_pipe.prepare_conditions([PROMPT], None, clip.reference, clip.audio, 16_000, 9, "error")
    assert conditions.given == {"text", "image", "audio"}
    assert conditions.audio_ctx.shape == (1, 3 + 1, 8, 80)  # 3 latent frames + 1 reference frame
    assert not conditions.audio_ctx[:, -1].any()  # the reference frame's window is zeros (HuMo's code)
    branches = [frozenset({"text", "image", "audio"}), frozenset({"text"}), frozenset()]
    rows = conditions.rows(branches)
    assert torch.equal(rows["ref_latents"][0], conditions.ref_latents[0]) and not rows["ref_latents"][1:].any()
    assert rows["audio_ctx"][0].any() and not rows["audio_ctx"][1:].any()
    assert rows["text_mask"][:2].any(-1).all() and not rows["text_mask"][2].any()
    x, t = torch.randn(1, 8, 3, 4, 4), torch.tensor(500.0)
    full, text_only, null = audio_pipe.branch_velocities(x, t, conditions, branches)
    assert not torch.allclose(full, text_only) and not torch.allclose(text_only, null)
    one_at_a_time = [audio_pipe.branch_velocities(x, t, conditions, [b])[0] for b in branches]
    for batched, alone in zip((full, text_only, null), one_at_a_time, strict=True):
        assert torch.allclose(batched, alone, atol=1e-5)  # rows of one call = separate calls


def test_old_guidance_name_still_works_with_a_warning(pipe):
    with pytest.warns(FutureWarning, match="a number as guidance= is now guidance_scale="):
        old = _run(pipe, guidance=3.0)
    assert np.array_equal(old.frames, _run(pipe, guidance_scale=3.0).frames)


def test_warnings_name_the_line_that_called_the_pipeline(pipe):
    """Each warning skips the pipeline's own frames (the steps, __call__, torch.no_grad's wrapper): a warning
    issued in __call__'s deprecate(), one step down (check_inputs, prepare_conditions) and two (prepare_audio)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe("", audio=np.zeros(9 * 640, np.float32), sample_rate=16_000, guidance=3.0, num_inference_steps=1,
             generator=torch.Generator().manual_seed(0))  # this line is where every warning must point
    line = sys._getframe().f_lineno - 2
    ours = {str(w.message).split(" ")[1]: (Path(w.filename).name, w.lineno) for w in caught
            if str(w.message).startswith(("a number as guidance=", "an empty prompt", "the audio is all zeros",
                                          "this checkpoint has no audio"))}
    assert set(ours) == {"number", "empty", "audio", "checkpoint"}, [str(w.message) for w in caught]
    assert set(ours.values()) == {(Path(__file__).name, line)}, ours


def test_save_and_load_round_trip(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "p", safe_serialization=True)
    assert not list((tmp_path / "p").rglob("*.bin"))  # safetensors only
    loaded = HuMoLitePipeline.from_pretrained(tmp_path / "p")
    assert loaded.config.num_frames == 9
    assert np.array_equal(_run(pipe).frames, _run(loaded).frames)


def test_reference_image_and_audio(pipe):
    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    with pytest.warns(UserWarning, match="no audio cross-attention"):
        out = _run(pipe, image=clip.reference, audio=clip.audio, sample_rate=16_000)
    assert out.audio.shape == (1, 9 * 640) and np.array_equal(out.audio[0], clip.audio[: 9 * 640])
    assert not np.array_equal(out.frames, _run(pipe).frames)  # the reference latent reaches the DiT
    as_uint8 = _run(pipe, image=np.round(clip.reference * 255).astype(np.uint8)).frames
    as_tensor = _run(pipe, image=torch.from_numpy(clip.reference).permute(2, 0, 1) * 2 - 1).frames
    as_uint16 = _run(pipe, image=np.round(clip.reference * 65535).astype(np.uint16)).frames  # a 16-bit PNG's pixels
    for other in (as_tensor, as_uint16):
        assert np.abs(as_uint8 - other).max() < 0.02  # every image layout reads the same picture
    two_refs = _run(pipe, image=[clip.reference, clip.reference[:, ::-1].copy()], output_type="latent").frames
    assert two_refs.shape == (1, 8, 3, 4, 4)  # two reference frames in, video latents out


def test_audio_at_another_rate_is_resampled(pipe, tmp_path):
    import librosa

    from humo_lite.io import write_wav

    clip = make_clip(make_pool("stage2")[0], "humo-nano")
    at_8k = librosa.resample(clip.audio, orig_sr=16_000, target_sr=8_000)
    with pytest.warns(UserWarning, match="no audio cross-attention"):
        out = _run(pipe, audio=at_8k, sample_rate=8_000)
        from_file = _run(pipe, audio=write_wav(tmp_path / "speech.wav", clip.audio))
    assert out.audio.shape == (1, 9 * 640)
    assert np.corrcoef(out.audio[0], clip.audio[: 9 * 640])[0, 1] > 0.9  # the same speech, back at 16 kHz
    assert np.abs(from_file.audio[0] - clip.audio[: 9 * 640]).max() < 1e-3  # a path needs no sample_rate


def test_stage0_trains_saves_a_pipeline_and_the_cli_generates_with_sound(tmp_path, capsys):
    from humo_lite.shipped import default_checkpoint

    vae = default_checkpoint("humo-nano") / "vae"
    out = tmp_path / "stage0"
    argv = ["train", "stage0", "--preset", "humo-nano", "--vae", str(vae), "--out", str(out), "--steps", "6",
            "--clips", "32", "--batch-size", "4", "--eval-clips", "4"]
    code = main(argv)
    assert code == 0
    import json

    manifest = json.loads((out / "pipeline" / "manifest.json").read_text())
    assert manifest["preset"] == "humo-nano" and manifest["config"]["steps"] == 6
    assert manifest["metrics"]["num_clips"] == 4  # the scene check's numbers: tests/test_shipped.py reproduces them
    assert manifest["command"] == "humo-lite " + " ".join(argv)  # the command given to main(), not pytest's
    wav = tmp_path / "speech.wav"
    from humo_lite.io import write_wav

    write_wav(wav, make_clip(make_pool("stage2")[1], "humo-nano").audio)
    mp4 = tmp_path / "clip.mp4"
    code = main(["generate", "--preset", "humo-nano", "--checkpoint", str(out / "pipeline"), "--prompt", PROMPT,
                 "--audio", str(wav), "--steps", "2", "--out", str(mp4), "--scale", "2"])
    assert code == 0 and mp4.exists()
    frames, fps = read_video(mp4)
    assert frames.shape[0] == 9 and fps == 25
    assert main(["generate", "--preset", "humo-nano", "--checkpoint", str(tmp_path / "nowhere"),
                 "--prompt", PROMPT]) == 2
    assert "no pipeline" in capsys.readouterr().err

    # ship it as data_samples/ does: float16 weights that load back as float32, re-measured, no local paths
    from safetensors import safe_open

    from humo_lite.ship import ship_checkpoint

    shipped = ship_checkpoint(out / "pipeline", tmp_path / "shipped")
    assert shipped["stored_dtype"] == {"transformer": "float16", "text_encoder": "float16"}
    assert shipped["metrics"]["num_clips"] == 4 and shipped["metrics_float32"] == manifest["metrics"]
    with safe_open(tmp_path / "shipped" / "transformer" / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    loaded = HuMoLitePipeline.from_pretrained(tmp_path / "shipped")
    assert loaded.transformer.dtype == torch.float32 and (tmp_path / "shipped" / "vae" / "manifest.json").is_file()
    assert not any("_name_or_path" in p.read_text() for p in (tmp_path / "shipped").rglob("*.json"))


@pytest.mark.parametrize("preset", ["humo-nano", "humo-micro"])
def test_shipped_checkpoints_load_and_carry_their_manifests(preset):
    import json

    from humo_lite.shipped import default_checkpoint

    folder = default_checkpoint(preset)
    for manifest_path in (folder / "manifest.json", folder / "vae" / "manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        for key in ("command", "seed", "wall_time_s", "machine", "metrics"):
            assert key in manifest, f"{manifest_path} lacks {key!r}"
    for weights in folder.rglob("*.safetensors"):  # "a few MB each"
        size = weights.stat().st_size / 2**20
        assert size < 8, f"{weights} weighs {size:.1f} MB; keep shipped checkpoints small (float16, see data_samples)"
    pipe = HuMoLitePipeline.from_pretrained(folder)
    frames = pipe(PROMPT, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames
    assert frames.shape[1:] == (pipe.config.num_frames, pipe.config.height, pipe.config.width, 3)


def test_mismatched_checkpoint_names_the_key(tmp_path):
    from humo_lite.models import HuMoLiteDiT

    build_dit("humo-nano").save_pretrained(tmp_path / "t")
    config = (tmp_path / "t" / "config.json").read_text().replace('"num_layers": 2', '"num_layers": 3')
    (tmp_path / "t" / "config.json").write_text(config)
    with pytest.raises(Exception, match=r"blocks\.2\."):
        HuMoLiteDiT.from_pretrained(tmp_path / "t")

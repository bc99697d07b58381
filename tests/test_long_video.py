"""Long clips (chapter 09): the window plan, motion frames by replacement, the audio across seams, decoding in
chunks, and the long-clip metrics (identity per window, the seam score) — each with the case that must fail."""

import numpy as np
import pytest
import torch

from humo_lite.data.audio import audio_features, audio_windows
from humo_lite.long_video import (
    CausalDecoder,
    MotionFrames,
    Window,
    check_long_frames,
    frames_for_audio,
    generate_long,
    plan_windows,
    seam_frames,
    window_audio,
)


@pytest.fixture(scope="module")
def talking():
    from humo_lite.pipeline import HuMoLitePipeline
    from humo_lite.shipped import default_checkpoint

    pipe = HuMoLitePipeline.from_pretrained(default_checkpoint("humo-nano", 2))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def long_clip():
    """A held-out person speaking 1.32 s of held-out speech at humo-nano's size: 33 frames, 9 latent frames."""
    from humo_lite.data import make_pool
    from humo_lite.eval.long_clips import render_long_clip

    return render_long_clip(make_pool("heldout_voice")[1], 33, "humo-nano")


def _generate(pipe, clip, **kwargs):
    return generate_long(pipe, clip.caption, image=clip.reference, audio=clip.audio, sample_rate=16_000,
                         num_inference_steps=kwargs.pop("steps", 3), generator=torch.Generator().manual_seed(0),
                         progress=False, **kwargs)


# --- the plan -------------------------------------------------------------------------------------------
def test_the_plan_covers_the_clip_with_full_windows_that_carry_motion_frames():
    plan = plan_windows(26, 5, 1)  # humo-micro, 101 frames
    assert plan[0] == Window(0, 5, 0) and all(w.size == 5 for w in plan) and plan[-1].end == 26
    for before, after in zip(plan[:-1], plan[1:], strict=True):
        assert after.carried == before.end - after.start >= 1  # each window carries the one before's last frames
    assert [w.carried for w in plan] == [0, 1, 1, 1, 1, 1, 4]  # the last slides back to stay full length
    assert seam_frames(plan) == [17, 33, 49, 65, 81, 97]  # latent l starts at video frame 4l - 3
    assert [w.carried for w in plan_windows(26, 5, 2)][1:3] == [2, 2]
    assert plan_windows(3, 5) == [Window(0, 3, 0)]  # shorter than a window: one window
    with pytest.raises(ValueError, match=r"motion_latents must be a whole number in 1\.\.4"):
        plan_windows(26, 5, 5)
    with pytest.raises(ValueError, match="at least 2 latent frames"):
        plan_windows(26, 1)


def test_frames_follow_the_audio_and_must_be_4k_plus_1():
    assert frames_for_audio(4 * 16_000) == 97 and frames_for_audio(101 * 640) == 101  # rounded down to 4k+1
    assert frames_for_audio(640) == 1
    with pytest.raises(ValueError, match="audio is too short: 639 samples"):
        frames_for_audio(639)
    speech = [np.zeros(101 * 640, np.float32)]
    assert check_long_frames(None, speech, 17) == 101 and check_long_frames(None, None, 17) == 17
    with pytest.raises(ValueError, match=r"4k\+1 .*got 100 \(nearest below: 97, above: 101\)"):
        check_long_frames(100, None, 17)
    with pytest.raises(ValueError, match=r"num_frames must be a whole number 4k\+1"):
        check_long_frames(True, None, 17)
    with pytest.raises(ValueError, match=r"audio is too short: 4\.04 s covers 101 frames, the clip has 105"):
        check_long_frames(105, speech, 17)


def test_each_window_hears_its_slice_of_the_whole_clips_audio(talking, long_clip, monkeypatch):
    seen = []
    denoise = talking.denoise

    def spy(latents, conditions, schedule, steps):
        seen.append(conditions.audio_ctx.clone())
        return denoise(latents, conditions, schedule, steps)

    monkeypatch.setattr(talking, "denoise", spy)
    out = _generate(talking, long_clip, steps=1)
    whole = torch.from_numpy(audio_windows(audio_features(long_clip.audio, 33)[0]))  # (9, 8, 80): the long clip's
    assert len(seen) == len(out.windows) == 4
    for window, ctx in zip(out.windows, seen, strict=True):
        assert torch.equal(ctx[0, :window.size], whole[window.start:window.end])  # the same windows, not recomputed
        assert not ctx[0, window.size:].any()  # the reference frame's window is silent
    # inside the clip a latent frame's window does not depend on where the clip was cut
    own = audio_windows(audio_features(long_clip.audio[:17 * 640], 17)[0])
    assert np.allclose(own[1:4], whole[1:4].numpy(), atol=0.3) and not np.allclose(own[1:4], whole[5:8].numpy())
    fresh = window_audio(whole[None], out.windows[1], num_ref=1, fresh_start=True)
    assert not fresh[0, 0, :3].any() and torch.equal(fresh[0, 0, 3:], whole[out.windows[1].start, 3:])


# --- motion frames --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["unipc", "euler"])
def test_held_frames_stay_on_the_path_of_the_known_latents(sampler):
    from humo_lite.flow_matching import make_scheduler

    class Plain:  # one branch, its velocity as it is
        def plan(self, sigma, given):
            return [frozenset()], lambda v: v[0]

    g = torch.Generator().manual_seed(0)
    known, noise = torch.randn(2, 4, 1, 3, 3, generator=g), torch.randn(2, 4, 3, 3, 3, generator=g)
    hold = MotionFrames(Plain(), known, noise[:, :, :1])
    scheduler = make_scheduler(sampler, shift=3.0)
    scheduler.set_timesteps(6)
    x = hold.start(noise, float(scheduler.sigmas[0]))
    for i, t in enumerate(scheduler.timesteps):
        _, combine = hold.plan(float(t) / 1000, frozenset())
        x = scheduler.step(combine([torch.randn(2, 4, 3, 3, 3, generator=g)]), t, x).prev_sample
        sigma = float(scheduler.sigmas[i + 1])
        assert torch.allclose(x[:, :, :1], (1 - sigma) * known + sigma * noise[:, :, :1], atol=1e-4), (sampler, i)
    assert torch.allclose(x[:, :, :1], known, atol=1e-4) and not torch.allclose(x[:, :, 1:2], known[:, :, :1], atol=0.5)
    unheld = MotionFrames(Plain())  # nothing known: the velocity passes through
    v = torch.randn(2, 4, 3, 3, 3)
    assert torch.equal(unheld.plan(0.5, frozenset())[1]([v]), v) and torch.equal(unheld.start(noise, 1.0), noise)


def test_seam_latents_are_the_previous_windows_and_one_window_is_the_pipeline(talking, long_clip):
    out = _generate(talking, long_clip, return_latents=True)
    assert out.frames.shape == (1, 33, 16, 16, 3) and out.audio.shape == (1, 33 * 640) and out.seams == [9, 17, 25]
    for before, after, window in zip(out.latents[:-1], out.latents[1:], out.windows[1:], strict=True):
        assert torch.equal(after[:, :, :window.carried], before[:, :, -window.carried:])
    alone = _generate(talking, long_clip, method="independent", return_latents=True)
    assert torch.equal(alone.latents[0], out.latents[0])  # same noise, same first window
    assert not torch.allclose(alone.latents[1][:, :, :1], out.latents[0][:, :, -1:], atol=0.1)  # a fresh start
    assert np.array_equal(alone.frames[:, :9], out.frames[:, :9]) and not np.allclose(alone.frames, out.frames)
    with pytest.warns(UserWarning, match=r"audio is 1\.32 s, the clip 0\.36 s: only its first 0\.36 s are used"):
        short = _generate(talking, long_clip, num_frames=9)  # one window: exactly the pipeline's clip
    pipe = talking(long_clip.caption, image=long_clip.reference, audio=long_clip.audio[:9 * 640], sample_rate=16_000,
                   num_inference_steps=3, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(short.frames, pipe.frames) and short.dit_passes == pipe.dit_passes


def test_the_naive_long_window_and_bad_methods(talking, long_clip):
    out = _generate(talking, long_clip, method="one-window", steps=1)
    assert out.frames.shape == (1, 33, 16, 16, 3) and len(out.windows) == 1 and out.seams == []
    with pytest.raises(ValueError, match=r"method must be one of \('motion', 'independent', 'one-window'\)"):
        _generate(talking, long_clip, method="sliding")
    with pytest.raises(ValueError, match=r"4k\+1"):
        _generate(talking, long_clip, num_frames=30)
    with pytest.raises(ValueError, match="needs its sample_rate="):
        generate_long(talking, long_clip.caption, audio=long_clip.audio, progress=False)


def test_decoding_in_chunks_is_decoding_the_whole_stream(talking):
    from humo_lite.models.vae import decode_latents

    latents = torch.randn(2, 8, 7, 4, 4, generator=torch.Generator().manual_seed(0))
    whole = decode_latents(talking.vae, latents).clamp(-1, 1)
    decoder = CausalDecoder(talking.vae)
    parts = [decoder(latents[:, :, a:b]) for a, b in ((0, 3), (3, 4), (4, 7))]
    assert [p.shape[2] for p in parts] == [9, 4, 12]
    assert torch.allclose(torch.cat(parts, 2), whole, atol=1e-5)
    fresh = CausalDecoder(talking.vae)(latents[:, :, 3:4])  # without the cache: frame 0 of a new clip
    assert fresh.shape[2] == 1 and not torch.allclose(fresh, parts[1][:, :, :1], atol=1e-3)


# --- the metrics ----------------------------------------------------------------------------------------
def test_long_speech_reads_the_groups_recordings_in_turn():
    from humo_lite.data.speech import SpeechSpec, bank_keys, bank_recording
    from humo_lite.eval.long_clips import PAUSE_S, long_speech

    keys = bank_keys("unseen_voice")
    speech = long_speech(SpeechSpec("bank", key=keys[2]), 8 * 16_000)
    first, second = bank_recording(keys[2]), bank_recording(keys[3])
    assert len(speech) == 8 * 16_000 and np.array_equal(speech[:len(first)], first)  # the spec's own sentence first
    gap = len(first) + int(PAUSE_S * 16_000)
    assert not speech[len(first):gap].any() and np.array_equal(speech[gap:gap + len(second)], second)
    assert long_speech(SpeechSpec("synth", seed=7), 5000).shape == (5000,)
    with pytest.raises(KeyError, match="no recording 'nobody'"):
        long_speech(SpeechSpec("bank", key="nobody"), 100)


def test_the_seam_score_sees_a_jump_at_the_seams_only(long_clip):
    from humo_lite.eval.long_clips import frame_changes, seam_score

    real = long_clip.video[None]  # (1, 33, 16, 16, 3)
    same = seam_score(real, real, [9, 17, 25])
    assert same["seam_score"] == pytest.approx(1.0) and same["seam_change_over_real"] == pytest.approx(1.0)
    jumped = real.copy()
    for s in (9, 17, 25):
        jumped[:, s:] = np.clip(jumped[:, s:] + 0.15, 0, 1)  # the picture brightens at each seam
    assert seam_score(jumped, real, [9, 17, 25])["seam_score"] > 3
    assert frame_changes(jumped).shape == (1, 32)
    with pytest.raises(ValueError, match=r"seams must be first frames of latent frames"):
        seam_score(real, real, [10])
    with pytest.raises(ValueError, match="differ in shape"):
        seam_score(real, real[:, :29], [9])


def test_identity_per_window_falls_when_the_person_changes(long_clip):
    from humo_lite.data import make_pool
    from humo_lite.eval.long_clips import long_clip_scores, render_long_clip

    other = render_long_clip(make_pool("heldout_voice")[4], 33, "humo-nano")
    assert other.spec.identity != long_clip.spec.identity
    real = long_clip_scores(None, long_clip.video[None], [long_clip], [9, 17, 25])
    assert len(real["id_per_window"]) == 4 and real["id_last_over_first"] > 0.9 and real["seam_score"] == 1.0
    swapped = np.concatenate([long_clip.video[:17], other.video[17:]])[None]  # another person from window 3 on
    drifted = long_clip_scores(None, swapped, [long_clip], [9, 17, 25])
    assert drifted["id_last_over_first"] < 0.7 * real["id_last_over_first"] and drifted["id_drift"] < real["id_drift"]


def test_cli_generate_makes_a_clip_as_long_as_the_audio(tmp_path, capsys, cli_status, long_clip):
    import imageio_ffmpeg

    from humo_lite.io import write_png, write_wav

    wav = write_wav(tmp_path / "speech.wav", long_clip.audio[:int(1.3 * 16_000)])  # 1.3 s: 32 frames -> 29
    png = write_png(tmp_path / "face.png", long_clip.reference)
    out = tmp_path / "talk.mp4"
    assert cli_status(["generate", "--preset", "humo-nano", "--audio", str(wav), "--image", str(png), "--steps", "1",
                       "--scale", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "(29 frames, 1.16 s, with sound)" in printed.out and "4 window(s) of 9 frames" in printed.out, printed.out
    assert "4 windows x 1 steps" in printed.err  # the progress bar, over windows and steps
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 29
    assert cli_status(["generate", "--preset", "humo-nano", "--audio", str(wav), "--image", str(png), "--num-frames",
                       "30", "--out", str(tmp_path / "bad.mp4")]) == 2
    assert "4k+1" in capsys.readouterr().err and not (tmp_path / "bad.mp4").exists()

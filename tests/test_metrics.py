"""The metrics, validated where the answer is known (issue 4): every test has a case that must score low."""

import numpy as np
import pytest
import torch

from humo_lite.data import lip_law, make_clip, make_pool
from humo_lite.data.attributes import Scene
from humo_lite.data.captions import TEMPLATES, caption
from humo_lite.eval import (
    EvalTable,
    effect_size,
    evaluate,
    frechet_distance,
    load_judge,
    metric_validation,
    parse_caption,
    render_set,
    shift_audio,
    sync_lite,
)
from humo_lite.eval.judge_data import judge_specs
from humo_lite.layouts import as_video


@pytest.fixture(scope="module")
def judge():
    return load_judge()


@pytest.fixture(scope="module")
def real():
    """48 real clips of held-out identities speaking held-out speech (not the clips the ceiling used)."""
    return render_set(judge_specs(48, "heldout", seed=7), "humo-micro")


@pytest.fixture(scope="module")
def validation(judge, real):
    return metric_validation(judge, real, seed=0)


# --- inputs ------------------------------------------------------------------------------------------
def test_parse_caption_reads_every_template_and_rejects_others():
    rng = np.random.default_rng(0)
    for scene in Scene.all()[::7]:
        for template in range(len(TEMPLATES)):
            text = caption(scene, rng, template)
            assert parse_caption(text) == {
                k: getattr(scene, k) for k in ("background", "clothing", "position", "motion")
            }
    with pytest.raises(ValueError, match="clothing"):
        parse_caption("a person stands on the left of a blue room, nodding")


def test_judge_clips_takes_a_judge_checkpoint_as_every_metric_does(judge, real):
    """A checkpoint, or None for the shipped one, give the judge's reading; the bare network is a clear error."""
    from humo_lite.eval.metrics import judge_clips

    video = as_video(real["video"][:2])  # (B, F, 3, H, W)
    out = judge_clips(judge, video)
    assert torch.equal(out["mouth"], judge.model.judge_video(video)["mouth"])
    assert torch.equal(judge_clips(None, video)["mouth"], out["mouth"])
    with pytest.raises(TypeError, match="judge must be a JudgeCheckpoint, a judge folder or None .* got Judge "
                                        r"\(the network alone"):
        judge_clips(judge.model, video)


def test_videos_in_every_pipeline_layout_score_the_same(judge, real):
    video = real["video"][:3].astype(np.float32) / 255  # (B, F, H, W, 3) in [0, 1]: output_type="np"
    pt = torch.from_numpy(video).permute(0, 4, 1, 2, 3) * 2 - 1  # [B, 3, F, H, W] in [-1, 1]
    a = evaluate(
        video,
        real["captions"][:3],
        real["reference"][:3],
        real["audio"][:3],
        judge=judge,
        frechet_ceiling=False,
    )
    b = evaluate(
        pt,
        real["captions"][:3],
        torch.from_numpy(real["reference"][:3]).permute(0, 3, 1, 2) / 127.5 - 1,  # the model layout, [-1, 1]
        torch.from_numpy(real["audio"][:3]),
        judge=judge,
        frechet_ceiling=False,
    )
    for metric, value in a.to_dict().items():
        assert b[metric] == pytest.approx(value, abs=1e-4), metric
    assert torch.allclose(as_video(real["video"][:2]), as_video(video[:2]), atol=1e-6)  # uint8 too
    with pytest.raises(ValueError, match="value_range"):
        as_video(pt.permute(0, 2, 1, 3, 4) * 3)  # [B, F, 3, H, W] assumed [0, 1], values far outside
    with pytest.raises(ValueError, match="samples"):
        evaluate(video, audio=real["audio"][:3, :100], judge=judge)


# --- validation: real near the ceiling, corrupted low ----------------------------------------------
def test_real_heldout_clips_score_near_the_ceiling(judge, real):
    table = evaluate(real["video"], real["captions"], real["reference"], real["audio"], judge=judge)
    assert isinstance(table, EvalTable) and "Sync-C-lite" in repr(table) and "<table>" in table._repr_html_()
    ratios = {r["metric"]: r["ratio"] for r in table.rows}
    assert ratios["TVA-lite"] >= 0.97 and ratios["ID-lite"] >= 0.9, table
    assert 0.8 <= ratios["Sync-C-lite"] <= 1.25 and ratios["Sync-D-lite"] <= 1.25, table
    assert ratios["Quality-lite"] <= 5, table  # real vs real: tiny and noisy (corruptions land at x30-x100)
    assert table["Sync-|offset|"] <= 0.2, table


def test_shuffled_audio_drops_sync_c_and_scatters_the_offset(validation):
    v = validation
    assert v["shuffled_audio"]["Sync-C-lite"].mean() < 0.5 * v["true"]["Sync-C-lite"].mean()
    assert v["effect_size"]["Sync-C-lite"] > 1.2 and v["effect_size"]["Sync-D-lite"] > 1.2
    assert (v["offset_true"] == 0).mean() >= 0.9
    assert (v["offset_shuffled"] == 0).mean() <= 0.4 and v["offset_shuffled"].std() > 2 * v["offset_true"].std()


@pytest.mark.parametrize("shift", [3, -3])
def test_audio_shifted_by_k_frames_gives_best_offset_k(judge, real, shift):
    shifted = shift_audio(real["audio"], shift)
    table = evaluate(real["video"], audio=shifted, judge=judge, frechet_ceiling=False)
    offsets = table.per_clip["sync_offset"]
    assert (offsets == shift).mean() >= 0.9, offsets


def test_sync_sign_convention_without_the_judge():
    """Delayed audio (sound plays after the mouth moves) is a positive offset; no judge involved."""
    clip = make_clip(make_pool("heldout_speech", size=4)[1], "humo-micro")
    for k in (-4, -1, 0, 2, 3, 4):
        lips = lip_law(shift_audio(clip.audio, k), clip.num_frames)
        assert sync_lite(clip.mouth[None], lips[None])["offset"][0] == k


def test_wrong_identity_reference_drops_id_lite(validation):
    v = validation
    assert v["wrong_reference"]["ID-lite"].mean() < v["true"]["ID-lite"].mean() - 0.3
    assert v["effect_size"]["ID-lite"] > 2


def test_wrong_caption_drops_tva_lite(validation):
    v = validation
    assert v["true"]["TVA-lite"].mean() >= 0.97 and v["wrong_caption"]["TVA-lite"].mean() < 0.6
    assert v["effect_size"]["TVA-lite"] > 2


def test_frechet_real_vs_real_small_noise_and_blur_large(validation):
    fd = validation["frechet"]
    assert fd["noise"].min() > 3 * fd["real"].max() and fd["blur"].min() > 3 * fd["real"].max(), fd
    assert (
        validation["effect_size"]["Quality-lite (noise)"] > 2 and validation["effect_size"]["Quality-lite (blur)"] > 2
    )


# --- the formulas ------------------------------------------------------------------------------------
def test_frechet_distance_and_effect_size_formulas():
    eye = np.eye(3)
    assert frechet_distance(np.zeros(3), eye, np.zeros(3), eye) == pytest.approx(0, abs=1e-8)
    # 1-D: (mu1 - mu2)^2 + (s1 - s2)^2
    assert frechet_distance([1.0], [[4.0]], [0.0], [[1.0]]) == pytest.approx(1 + 1)
    assert effect_size([1, 2, 3], [1, 2, 3]) == 0 and effect_size([2, 3, 4], [1, 2, 3]) == pytest.approx(1.0)

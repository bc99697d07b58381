"""Focus-by-predicting (chapter 05): the face-mask head, its target and size-weighted loss, its training-only place,
and the stage-2 ablations' bookkeeping."""

import json
import shutil

import numpy as np
import pytest
import torch

from humo_lite.models.focus import FaceMaskHead, face_mask_target, focus_blocks, mask_iou, size_weighted_bce
from humo_lite.training.audio_task import AudioToVideoTask
from humo_lite.training.trainer import TrainConfig, Trainer, weights_checksum
from tests.test_stage2 import _nano_audio_dit, _task_data


def _with_faces(data, seed):
    g = torch.Generator().manual_seed(seed)
    share = torch.zeros(len(data["latents"]), 3, 4, 4)
    share[:, :, :2, torch.randint(0, 3, (1,), generator=g).item():][..., :2] = 1.0  # a 2 x 2 face, somewhere
    return {**data, "face_share": share}


def test_focus_blocks_follow_humo_and_small_models():
    assert focus_blocks(6) == 4 and focus_blocks(8) == 4  # humo-micro, humo-small: HuMo's last four
    assert focus_blocks(2) == 2  # humo-nano: both
    with pytest.raises(ValueError, match="whole number"):
        focus_blocks(0)


def test_face_mask_target_pools_the_patch_and_thresholds_at_half():
    share = torch.zeros(1, 1, 4, 4)
    share[0, 0, :2, :2] = 1.0  # one whole 2 x 2 patch is face: token (0, 0)
    share[0, 0, 2:, 2:] = 0.25  # another patch a quarter face: not face
    share[0, 0, 0:2, 2] = 1.0  # half of patch (0, 1): face (at least half)
    target = face_mask_target(share)
    assert target.shape == (1, 1, 2, 2)
    assert target[0, 0].tolist() == [[1.0, 1.0], [0.0, 0.0]]
    with pytest.raises(ValueError, match=r"\[B, F', H, W\]"):
        face_mask_target(torch.zeros(4, 4))


def test_size_weight_makes_a_small_face_count_as_much_as_a_big_one():
    big, small = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    big[..., :2, :] = 1  # half the frame
    small[..., 0, 0] = 1  # one cell of 16
    miss_big, miss_small = 1 - big, 1 - small  # a head that says "face" exactly where there is none... scaled
    pred_big, pred_small = 0.5 * big + 0.3, 0.5 * small + 0.3  # the same error per face cell in both
    plain = torch.nn.functional.binary_cross_entropy
    assert size_weighted_bce(pred_big, big).item() == pytest.approx(2 * plain(pred_big, big).item(), rel=1e-5)
    assert size_weighted_bce(pred_small, small).item() == pytest.approx(16 * plain(pred_small, small).item(), rel=1e-5)
    assert size_weighted_bce(miss_small.clamp(0.01, 0.99), small) > size_weighted_bce(miss_big.clamp(0.01, 0.99), big)
    empty = torch.zeros(1, 1, 4, 4)  # a frame without face keeps the plain loss, no division by zero
    assert size_weighted_bce(torch.full_like(empty, 0.2), empty).item() == pytest.approx(plain(
        torch.full_like(empty, 0.2), empty).item(), rel=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        size_weighted_bce(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2))


def test_mask_head_averages_its_blocks_and_iou_scores_it():
    head = FaceMaskHead(dim=8, num_blocks=2)
    with torch.no_grad():
        for i, sign in enumerate((1.0, -1.0)):
            head.logits[i].weight.zero_()
            head.logits[i].bias.fill_(sign * 50)  # block 0 says face everywhere, block 1 nowhere
    hidden = [torch.randn(3, 8, 2, 4, 4) for _ in range(2)]
    out = head(hidden)
    assert out.shape == (3, 2, 4, 4) and torch.allclose(out, torch.full_like(out, 0.5))  # the average
    with pytest.raises(ValueError, match="return_hidden_states=2"):
        head(hidden[:1])
    target = torch.zeros(1, 2, 4, 4)
    target[..., 1:3, 1:3] = 1
    assert mask_iou(target, target).item() == 1.0 and mask_iou(1 - target, target).item() == 0.0
    assert mask_iou(target * 0.4, target).item() == 0.0  # below the threshold


def _focus_task(weight=0.5, seed=0, head_seed=0):
    torch.manual_seed(head_seed)
    head = FaceMaskHead(dim=32, num_blocks=2) if weight else None
    return AudioToVideoTask(_nano_audio_dit(seed), _with_faces(_task_data(12, 0), 0),
                            _with_faces(_task_data(20, 1, audio=False), 1), ramp_steps=0, mask_head=head,
                            focus_weight=weight)


def test_focus_loss_adds_to_audio_samples_and_reaches_the_dit():
    plain, focus = _focus_task(0.0), _focus_task(0.5)
    values = []
    for task in (plain, focus):
        task.begin_step(0)
        loss, logs = task.loss(task.modules, torch.arange(8), torch.Generator().manual_seed(3), "cpu")
        values.append((loss, logs))
    (plain_loss, plain_logs), (focus_loss, focus_logs) = values
    assert torch.allclose(plain_logs["loss"], focus_logs["loss"])  # the flow-matching part is the same
    assert focus_loss.item() > plain_loss.item() and "mask_loss" in focus_logs and "mask_loss" not in plain_logs
    assert 0 <= focus_logs["mask_iou"].min() <= focus_logs["mask_iou"].max() <= 1
    focus_loss.backward()
    dit = focus.modules["transformer"]
    audio_grad = sum(float(p.grad.abs().sum()) for n, p in dit.named_parameters()
                     if "cond_attn.audio" in n and p.grad is not None)
    assert audio_grad > 0  # the mask loss's gradient reaches the audio cross-attention through the hidden states
    head_grad = sum(float(p.grad.abs().sum()) for p in focus.modules["mask_head"].parameters())
    assert head_grad > 0 and focus.trainable["mask_head"]("logits.0.weight")
    assert focus.hyperparameters()["focus_weight"] == 0.5 and focus.hyperparameters()["focus_blocks"] == 2


def test_focus_needs_a_head_and_a_weight_and_faces():
    with pytest.raises(ValueError, match="mask_head and focus_weight"):
        AudioToVideoTask(_nano_audio_dit(), _with_faces(_task_data(4, 0), 0),
                         _with_faces(_task_data(4, 1, audio=False), 1), focus_weight=0.5)
    with pytest.raises(ValueError, match="focus_weight must be a finite number"):
        AudioToVideoTask(_nano_audio_dit(), _with_faces(_task_data(4, 0), 0),
                         _with_faces(_task_data(4, 1, audio=False), 1),
                         mask_head=FaceMaskHead(32, 2), focus_weight=float("nan"))
    with pytest.raises(KeyError, match="face_share"):
        AudioToVideoTask(_nano_audio_dit(), _task_data(4, 0), _task_data(4, 1, audio=False),
                         mask_head=FaceMaskHead(32, 2), focus_weight=0.5)


def test_focus_training_resumes_exactly(tmp_path):
    def run(steps, folder):
        task = _focus_task(0.5)
        config = TrainConfig(steps=steps, batch_size=4, warmup_steps=1, checkpoint_every=100, log_every=1)
        Trainer(task, config, tmp_path / folder).train(progress=False)
        return task

    full = run(6, "full")
    run(3, "split")
    resumed = run(6, "split")
    assert weights_checksum(resumed.modules) == weights_checksum(full.modules)  # the mask head included
    assert "mask_head" in full.modules


@pytest.fixture(scope="module")
def focus_run(tmp_path_factory):
    from humo_lite.recipes import Stage2Config, stage2_config, train_stage2

    out = tmp_path_factory.mktemp("focus") / "run"
    config = Stage2Config(stage2_config(steps=4, checkpoint_every=100), num_clips=16, num_plain_clips=16,
                          eval_clips=0, curve=False, focus_weight=0.5)
    manifest = train_stage2("humo-nano", out_dir=out, config=config, progress=False)
    return out / "pipeline", manifest


def test_saved_pipeline_never_holds_or_runs_the_mask_head(focus_run):
    from humo_lite.pipeline import HuMoLitePipeline
    from humo_lite.stage2_ablations import load_mask_head

    folder, manifest = focus_run
    assert (folder / "mask_head").is_dir() and "mask_head" not in json.loads((folder / "model_index.json").read_text())
    assert manifest["task"]["focus_weight"] == 0.5 and "mask_head/diffusion_pytorch_model.safetensors" in manifest[
        "sha256"]
    pipe = HuMoLitePipeline.from_pretrained(folder)
    modules = [m for c in (pipe.transformer, pipe.vae, pipe.text_encoder) for m in c.modules()]
    assert not any(isinstance(m, FaceMaskHead) for m in modules)
    assert not any("mask" in name for name in pipe.transformer.state_dict())
    head = load_mask_head(folder)
    assert isinstance(head, FaceMaskHead) and head.config.num_blocks == 2  # humo-nano: both blocks
    pipe.set_progress_bar_config(disable=True)
    without = folder.parent / "without_head"  # the same folder with the mask head removed
    shutil.copytree(folder, without)
    shutil.rmtree(without / "mask_head")
    manifest = json.loads((without / "manifest.json").read_text())
    manifest["sha256"] = {k: v for k, v in manifest["sha256"].items() if not k.startswith("mask_head/")}
    (without / "manifest.json").write_text(json.dumps(manifest))
    other = HuMoLitePipeline.from_pretrained(without)
    other.set_progress_bar_config(disable=True)
    frames = [p("a person in a red shirt", audio=np.sin(np.linspace(0, 72, 5760)).astype(np.float32),
                sample_rate=16_000, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames
              for p in (pipe, other)]
    assert np.array_equal(*frames)  # the head's presence changes nothing the pipeline makes


def test_heldout_mask_check_reports_every_position(focus_run):
    from humo_lite.eval.heldout_loss import heldout_data
    from humo_lite.eval.mask_check import heldout_mask_check
    from humo_lite.pipeline import HuMoLitePipeline
    from humo_lite.stage2_ablations import load_mask_head

    folder, _ = focus_run
    pipe = HuMoLitePipeline.from_pretrained(folder)
    data = heldout_data(pipe, num_clips=12, preset="humo-nano")
    result = heldout_mask_check(pipe.transformer, load_mask_head(folder), data, sigmas=(0.5,))
    assert set(result["by_position"]) <= {"left", "centre", "right"} and len(result["by_position"]) >= 2
    assert 0 <= result["iou"] <= 1 and result["num_clips"] == 12 and 0 < result["face_area"] < 1


def test_ablation_summary_pairs_seeds_and_tests_the_difference(tmp_path):
    from humo_lite.stage2_ablations import run_folder, summarise

    def write(run, seed, sync):
        folder = run_folder(tmp_path, run, seed)
        folder.mkdir(parents=True)
        check = {"ratios": {"sync_c": sync, "sync_d": 1.5, "sync_c_margin_share": sync - 0.3},
                 "mean": {"r_within_clip": 0.8, "id_lite": 0.7, "tva_lite": 1.0}, "focus": {"face_share": 0.3}}
        (folder / "check.json").write_text(json.dumps({"check": check, "wall_time_s": 1.0}))

    for seed, base in enumerate((0.80, 0.70, 0.75)):
        write("progressive, focus (HuMo)", seed, base + 0.05 + 0.001 * seed)
        write("progressive, no focus", seed, base)
        write("joint, focus", seed, base + 0.05 + 0.001 * seed)
    out = summarise(tmp_path, tmp_path / "stage2.json", "humo-nano", {"command": "test"})
    focus = out["comparisons"]["focus-by-predicting"]["Sync-C-lite / recon"]
    assert focus["mean"] == pytest.approx(0.051) and focus["p_value"] < 0.01  # paired: the seeds' spread cancels
    joint = out["comparisons"]["progressive training"]
    assert joint["seeds"] == [0, 1, 2] and joint["Sync-C-lite / recon"]["p_value"] is None  # no difference at all
    assert out["table"]["progressive, no focus"]["Sync-C-lite / recon"]["values"] == [0.8, 0.7, 0.75]
    assert out["table"]["joint, focus"]["mask IoU"] is None  # that run's check has no mask


def test_shipped_stage2_is_humos_recipe_and_its_head_finds_the_face():
    from humo_lite.shipped import default_checkpoint

    for preset in ("humo-nano", "humo-micro"):
        folder = default_checkpoint(preset, 2)
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["task"]["focus_weight"] > 0 and (folder / "mask_head" / "config.json").is_file(), preset
        assert "mask_head" not in json.loads((folder / "model_index.json").read_text())
    mask = manifest["metrics"]["mask"]  # humo-micro: held-out people speaking held-out recordings
    assert mask["num_clips"] >= 48 and set(mask["by_position"]) == {"left", "centre", "right"}, mask
    assert min(mask["by_position"].values()) >= 0.7, mask["by_position"]  # the face found at every position

"""Stage 1: what trains, the reference task, TI mode in the pipeline, attention maps, the identity check."""

import json

import numpy as np
import pytest
import torch

from humo_lite.data import make_clip, make_pool
from humo_lite.flow_matching import velocity_target
from humo_lite.models import build_dit
from humo_lite.models.attention import attention, attention_weights
from humo_lite.models.attention_maps import ReferenceAttention, subject_attention, token_mask
from humo_lite.models.text_encoder import build_text_encoder
from humo_lite.models.vae import build_vae
from humo_lite.training.latent_cache import latent_face_share
from humo_lite.training.reference_task import ReferenceToVideoTask
from humo_lite.training.stages import describe_trainable, trainable_predicate, trainable_summary
from humo_lite.training.trainer import TrainConfig, Trainer

PROMPT = "a person in a red shirt stands in the centre of a blue room, nodding"


def _data(n=8, frames=3, refs=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    dit = build_dit("humo-nano")
    c = dit.config.in_channels
    return {"latents": torch.randn(n, c, frames, 4, 4, generator=g),
            "ref_latents": torch.randn(n, c, refs, 4, 4, generator=g),
            "text_ctx": torch.randn(n, 6, dit.config.text_dim, generator=g),
            "text_mask": torch.ones(n, 6, dtype=torch.bool)}


# ------------------------------------------------------------------ what trains
def test_stage1_selects_self_attention_only():
    dit = build_dit("humo-micro")
    s = trainable_summary(dit, "stage1")
    assert s["names"] and all(".self_attn." in n for n in s["names"])
    per_block = {"qkv.weight", "qkv.bias", "norm_q.weight", "norm_k.weight", "out.weight", "out.bias"}
    assert {n.split(".self_attn.")[1] for n in s["names"]} == per_block
    assert len(s["names"]) == len(per_block) * dit.config.num_layers
    assert 0.1 < s["share"] < 0.25  # 6 of 3.95 M ... about 17 %
    assert "self-attention" in describe_trainable(dit, "stage1") and "%" in describe_trainable(dit, "stage1")
    assert trainable_summary(dit, "full")["share"] == 1.0


def test_stage2_adds_the_audio_modules_and_unknown_stages_are_errors():
    dit = build_dit("humo-nano", conditions={"audio": 80})
    names = trainable_summary(dit, "stage2")["names"]
    assert any(".cond_attn.audio." in n for n in names) and any(".cond_norm.audio." in n for n in names)
    assert not any(".text_attn." in n or ".ffn." in n or "modulation" in n for n in names)
    with pytest.raises(ValueError, match="unknown stage 'stage9'"):
        trainable_predicate("stage9")


def test_training_stage1_changes_self_attention_and_nothing_else(tmp_path):
    dit = build_dit("humo-nano")
    for block in dit.blocks:  # a trained-looking model: the zero-initialised projections made non-zero
        torch.nn.init.normal_(block.self_attn.out.weight, std=0.02)
    torch.nn.init.normal_(dit.head.weight, std=0.02)
    before = {k: v.clone() for k, v in dit.state_dict().items()}
    task = ReferenceToVideoTask(dit, _data(), stage="stage1")
    Trainer(task, TrainConfig(steps=3, batch_size=4, lr=1e-2, warmup_steps=0, checkpoint_every=100), tmp_path).train(
        progress=False)
    changed = {k for k, v in dit.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(".self_attn." in k for k in changed)
    assert any(".self_attn.qkv." in k for k in changed)


# ------------------------------------------------------------------ the task
class Recorder(torch.nn.Module):
    """Stands in for the DiT: records what it was given, returns zeros of the video's shape."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = []

    def forward(self, x_t, timestep, text_ctx, text_mask=None, ref_latents=None):
        self.calls.append({"x_t": x_t, "text_mask": text_mask, "ref_latents": ref_latents})
        return type("Out", (), {"sample": x_t * self.w})()


def test_condition_dropout_rates_and_nulls():
    data = _data(n=256)
    recorder = Recorder()
    task = ReferenceToVideoTask(recorder, data, text_dropout=0.3, image_dropout=0.5, stage="full")
    task.loss({"transformer": recorder}, torch.arange(256), torch.Generator().manual_seed(0), "cpu")
    call = recorder.calls[0]
    dropped_ref = (call["ref_latents"].flatten(1) == 0).all(1)
    kept_ref = torch.isclose(call["ref_latents"], data["ref_latents"]).flatten(1).all(1)
    assert bool((dropped_ref ^ kept_ref).all())  # each reference is either itself or all zeros
    assert 0.4 < dropped_ref.float().mean() < 0.6
    dropped_text = ~call["text_mask"].any(1)
    assert 0.2 < dropped_text.float().mean() < 0.4
    assert 0.05 < (dropped_text & dropped_ref).float().mean() < 0.25  # independent: ~15 % null samples
    assert call["x_t"].shape == data["latents"].shape  # the reference goes in ref_latents, after the video


@torch.no_grad()
def test_reference_first_is_the_reference_as_frame_zero_of_the_video():
    dit = build_dit("humo-nano").eval()
    torch.nn.init.normal_(dit.head.weight, std=0.02)
    g = torch.Generator().manual_seed(0)
    c = dit.config.in_channels
    x, ref = torch.randn(2, c, 3, 4, 4, generator=g), torch.randn(2, c, 1, 4, 4, generator=g)
    text = torch.randn(2, 5, dit.config.text_dim)
    after = dit(x, 500.0, text, ref_latents=ref).sample
    assert ReferenceToVideoTask(dit, _data()).hyperparameters()["reference_position"] == "after"
    dit.set_reference_position("before")  # set where the DiT is prepared; the task reads and records it
    assert dit.config.reference_position == "before"
    assert ReferenceToVideoTask(dit, _data()).hyperparameters()["reference_position"] == "before"
    before = dit(x, 500.0, text, ref_latents=ref).sample
    as_video = dit(torch.cat([ref, x], dim=2), 500.0, text).sample[:, :, 1:]  # [ref ; x_t], time positions 0, 1..
    assert before.shape == x.shape and torch.allclose(before, as_video, atol=1e-5)
    assert (before - after).abs().max() > 1e-4
    with pytest.raises(ValueError, match="reference_position"):
        build_dit("humo-nano", reference_position="middle")


def test_task_rejects_bad_settings():
    with pytest.raises(KeyError, match="ref_latents"):
        ReferenceToVideoTask(Recorder(), {k: v for k, v in _data().items() if k != "ref_latents"})
    with pytest.raises(ValueError, match="image_dropout"):
        ReferenceToVideoTask(Recorder(), _data(), image_dropout=1.0)
    with pytest.raises(ValueError, match="reference_position must be 'after' .HuMo. or 'before', got 'middle'"):
        build_dit("humo-nano").set_reference_position("middle")
    with pytest.raises(KeyError, match="face_share"):  # the face weight needs the face's cells
        ReferenceToVideoTask(Recorder(), _data(), face_weight=4.0)
    with pytest.raises(ValueError, match="face_weight must be a finite number >= 0"):
        ReferenceToVideoTask(Recorder(), {**_data(), "face_share": torch.zeros(8, 3, 4, 4)}, face_weight=-1.0)


def test_latent_face_share_follows_the_vaes_cells():
    """Frame 0 is latent frame 0 alone, frames 1-4 latent frame 1, ...; each cell a 4x4 patch of pixels."""
    mask = np.zeros((9, 16, 16), bool)
    mask[0, :4, :4] = True  # frame 0, top-left patch
    mask[1:3, 4:8, 4:8] = True  # half of frames 1-4, cell (1, 1)
    share = latent_face_share(mask, (4, 4))
    assert share.shape == (3, 4, 4)
    assert share[0, 0, 0] == 1 and share[0].sum() == 1
    assert share[1, 1, 1] == 0.5 and share[1].sum() == 0.5 and share[2].sum() == 0
    with pytest.raises(ValueError, match="F = 4k\\+1"):
        latent_face_share(np.zeros((8, 16, 16)), (4, 4))


def test_face_weight_is_the_weighted_mean_of_the_squared_error():
    """The loss with face_weight w: sum((1 + w * face) * err) / sum(1 + w * face). With a model that predicts
    zeros, err is the squared velocity target, drawn from the same generator as the task draws it."""
    data = _data(seed=1)  # (seed 0 would draw the latents equal to the noise: a zero target)
    data["face_share"] = torch.zeros(8, 3, 4, 4)
    data["face_share"][:, :, 1:3, 1:3] = 1.0
    losses = {}
    for w in (0.0, 4.0):
        recorder = Recorder()
        task = ReferenceToVideoTask(recorder, data, face_weight=w, stage="full")
        generator = torch.Generator().manual_seed(0)
        losses[w] = task.loss({"transformer": recorder}, torch.arange(8), generator, "cpu")[1]["loss"]
    noise = torch.randn(data["latents"].shape, generator=torch.Generator().manual_seed(0))
    error = velocity_target(data["latents"], noise) ** 2  # (B, C, F', h, w)
    weight = (1 + 4.0 * data["face_share"])[:, None].expand_as(error)
    assert torch.allclose(losses[0.0], error.mean(dim=(1, 2, 3, 4)), atol=1e-6)
    assert torch.allclose(losses[4.0], (weight * error).sum(dim=(1, 2, 3, 4)) / weight.sum(dim=(1, 2, 3, 4)),
                          atol=1e-6)
    assert not torch.allclose(losses[0.0], losses[4.0])


# ------------------------------------------------------------------ attention maps
def test_attention_weights_are_what_attention_mixes_values_with():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 7, 12, generator=g) for _ in range(3))
    w = attention_weights(q, k, num_heads=3)  # (B, heads, Lq, Lk)
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, 7))
    mixed = torch.einsum("bnqk,bknd->bqnd", w, v.view(2, 7, 3, 4)).reshape(2, 7, 12)
    assert torch.allclose(mixed, attention(q, k, v, 3), atol=1e-6)


@torch.no_grad()
def test_reference_attention_records_every_block_and_call():
    dit = build_dit("humo-nano").eval()
    x, ref = torch.randn(2, dit.config.in_channels, 3, 4, 4), torch.randn(2, dit.config.in_channels, 1, 4, 4)
    text = torch.randn(2, 5, dit.config.text_dim)
    with ReferenceAttention(dit) as rec:
        dit(x, torch.tensor([500.0, 500.0]), text, ref_latents=ref)
        dit(x, torch.tensor([100.0, 100.0]), text, ref_latents=ref)
    dit(x, 500.0, text, ref_latents=ref)  # outside the context: not recorded (hooks removed)
    maps = rec.maps()
    h = w = 4 // dit.config.patch_size[1]
    assert maps.shape == (2, 2, dit.config.num_layers, 3, h, w, 1, h, w)
    total_ref = maps.sum(axis=(-3, -2, -1))  # share of each video token's attention that goes to the reference
    assert np.all(total_ref > 0) and np.all(total_ref < 1)


@torch.no_grad()
def test_uniform_attention_gives_one_over_all_keys():
    dit = build_dit("humo-nano").eval()
    for block in dit.blocks:  # q = k = 0: every key equally likely, over video AND reference tokens
        block.self_attn.qkv.weight.zero_()
        block.self_attn.qkv.bias.zero_()
    x, ref = torch.randn(1, dit.config.in_channels, 3, 4, 4), torch.randn(1, dit.config.in_channels, 2, 4, 4)
    with ReferenceAttention(dit) as rec:
        dit(x, 500.0, torch.randn(1, 5, dit.config.text_dim), ref_latents=ref)
    maps = rec.maps()
    tokens = 5 * (4 // dit.config.patch_size[1]) ** 2  # 3 video + 2 reference frames
    assert np.allclose(maps, 1 / tokens, atol=1e-6)


def test_maps_without_a_reference_are_an_error():
    dit = build_dit("humo-nano").eval()
    with ReferenceAttention(dit) as rec, torch.no_grad():
        dit(torch.randn(1, dit.config.in_channels, 3, 4, 4), 500.0, torch.randn(1, 5, dit.config.text_dim))
    with pytest.raises(ValueError, match="no reference frames"):
        rec.maps()
    with pytest.raises(RuntimeError, match="no DiT call"):
        ReferenceAttention(dit).maps()


def test_subject_attention_lifts():
    h = w = 4
    face = np.zeros((3, 16, 16), bool)
    face[:, 4:12, 4:12] = True  # centre 2x2 cells
    subject = np.zeros((16, 16), bool)
    subject[0:8, 0:8] = True  # top-left 2x2 cells
    assert token_mask(subject, (h, w))[0, 0] == 1.0 and token_mask(face, (h, w))[0, 0] == 0.0
    maps = np.full((2, h, w, 1, h, w), 0.01)  # (F', h, w, R', h, w)
    maps[:, 1:3, 1:3, 0, 0:2, 0:2] = 0.05  # face cells look 5x harder at the subject
    out = subject_attention(maps, face, subject)
    assert np.isclose(out["face_lift"], 5.0) and np.isclose(out["background_lift"], 1.0)
    assert np.isclose(out["subject_area"], 4 / 16)
    assert np.isclose(out["face_subject_share"], 4 * 0.05 / (4 * 0.05 + 12 * 0.01))
    swapped = subject_attention(maps, ~face, subject)  # the masks the wrong way round: no lift for "faces"
    assert swapped["face_lift"] < 2.0 < swapped["background_lift"]
    with pytest.raises(ValueError, match="cover some of the frame"):
        subject_attention(maps, face, np.zeros((16, 16), bool))


# ------------------------------------------------------------------ the pipeline in TI mode
@pytest.fixture(scope="module")
def pipe():
    from humo_lite.flow_matching import make_scheduler
    from humo_lite.pipeline import HuMoLitePipeline

    torch.manual_seed(0)
    dit = build_dit("humo-nano")
    torch.nn.init.normal_(dit.head.weight, std=0.02)  # so the output depends on the conditions
    p = HuMoLitePipeline(dit.eval(), build_vae("humo-nano").eval(), build_text_encoder("humo-nano").eval(),
                         make_scheduler("unipc", shift=3.0), height=16, width=16, num_frames=9,
                         null_reference_frames=1)
    p.set_progress_bar_config(disable=True)
    return p


def test_per_prompt_references_equal_one_call_each(pipe):
    refs = [make_clip(make_pool("stage1")[i], "humo-nano").reference for i in range(2)]
    noise = torch.randn(2, *pipe.latent_shape(1, 9)[1:], generator=torch.Generator().manual_seed(1))
    both = pipe([PROMPT, PROMPT], image=[[refs[0]], [refs[1]]], latents=noise, num_inference_steps=2).frames
    for i in range(2):
        one = pipe(PROMPT, image=refs[i], latents=noise[i:i + 1], num_inference_steps=2).frames
        np.testing.assert_allclose(both[i], one[0], atol=1e-5)
    assert np.abs(both[0] - both[1]).max() > 1e-4  # the references matter
    with pytest.raises(ValueError, match="expected 2 lists"):
        pipe([PROMPT, PROMPT], image=[[refs[0]]], num_inference_steps=1)


def test_no_image_is_the_trained_null_reference(pipe, tmp_path):
    from humo_lite.pipeline import HuMoLitePipeline

    noise = torch.randn(*pipe.latent_shape(1, 9), generator=torch.Generator().manual_seed(2))
    ref = pipe.null_image_latents(1, 9)
    assert ref.shape[2] == 1 and not ref.any()
    plain = pipe(PROMPT, latents=noise, num_inference_steps=2, output_type="latent").frames
    conditions, _ = pipe.prepare_conditions([PROMPT], None, None, None, None, 9, "error")
    assert conditions.ref_latents is not None and "image" not in conditions.given
    stage0 = HuMoLitePipeline(pipe.transformer, pipe.vae, pipe.text_encoder, pipe.scheduler, 16, 16, 9)
    assert stage0.null_image_latents(1, 9) is None
    other = stage0(PROMPT, latents=noise, num_inference_steps=2, output_type="latent").frames
    assert (plain - other).abs().max() > 1e-5  # the zero reference frame is seen by the model
    pipe.save_pretrained(tmp_path / "p", safe_serialization=True)
    assert HuMoLitePipeline.from_pretrained(tmp_path / "p").config.null_reference_frames == 1


# ------------------------------------------------------------------ the identity check
class RealClips:
    """A 'pipeline' that returns the real clips of the prompts it is given (or flat grey)."""

    def __init__(self, grey=False):
        self.clips = {c.caption: c for c in (make_clip(s) for s in make_pool("heldout_identity")[:24])}
        self.grey = grey

    def __call__(self, prompts, image=None, **kw):
        video = np.stack([self.clips[p].video for p in prompts])
        return type("Out", (), {"frames": np.full_like(video, 0.5) if self.grey else video})()


class OtherPeople(RealClips):
    """Each caption's real clip replaced by the next clip's: real frames of another person."""

    def __call__(self, prompts, image=None, **kw):
        captions = list(self.clips)
        video = np.stack([self.clips[captions[(captions.index(p) + 1) % len(captions)]].video for p in prompts])
        return type("Out", (), {"frames": video})()


def test_identity_check_reads_real_clips_as_themselves_and_grey_as_nobody():
    from humo_lite.eval.identity_check import heldout_identity_check

    real = heldout_identity_check(RealClips(), num_clips=24, batch_size=12, progress=False)
    assert real["retrieval_top1"] >= 0.9 and real["id_lite"] > 0.7
    assert real["judge"]["tva_lite"] > 0.95 and real["retrieval_identities"] == 60
    assert min(real["identity_attributes"].values()) > 0.5 and real["identity_attributes"]["hair_colour"] > 0.9
    other = heldout_identity_check(OtherPeople(), num_clips=24, batch_size=12, progress=False)  # another face
    assert other["retrieval_top1"] < 0.2 and other["id_lite"] < real["id_lite"] - 0.3
    grey = heldout_identity_check(RealClips(grey=True), num_clips=24, batch_size=12, progress=False)
    assert grey["retrieval_top1"] < 0.2 and grey["id_lite"] < real["id_lite"] - 0.3
    mean = lambda r: np.mean(list(r["identity_attributes"].values()))  # noqa: E731
    assert mean(grey) < mean(real) - 0.3
    assert real["white_frame0"] < 0.02 and real["reference_distance"] > 0.1  # real clips copy nothing


def test_copying_the_reference_is_caught():
    from humo_lite.eval.identity_check import heldout_identity_check

    class Paste(RealClips):  # every frame is the reference itself: the copy-paste failure
        def __call__(self, prompts, image=None, **kw):
            refs = np.stack([refs[0] for refs in image])  # (B, H, W, 3)
            return type("Out", (), {"frames": np.repeat(refs[:, None], 17, axis=1)})()

    pasted = heldout_identity_check(Paste(), num_clips=12, batch_size=12, progress=False)
    assert pasted["white_frame0"] > 0.3 and pasted["reference_distance"] < 1e-6
    assert pasted["pixels"]["background"] < 0.3


# ------------------------------------------------------------------ the recipe and the command
def test_stage1_recipe_trains_saves_and_scores(tmp_path, capsys):
    from humo_lite.cli import main

    out = tmp_path / "s1"
    argv = ["train", "stage1", "--preset", "humo-nano", "--out", str(out), "--steps", "4", "--clips", "32",
            "--eval-clips", "4", "--batch-size", "4"]
    assert main(argv) == 0
    manifest = json.loads((out / "pipeline" / "manifest.json").read_text())
    assert manifest["kind"] == "stage1" and manifest["trainable"]["stage"] == "stage1"
    assert manifest["task"]["image_dropout"] == 0.1 and manifest["task"]["text_dropout"] == 0.1
    assert set(manifest["metrics"]) == {"TI", "T"} and manifest["metrics"]["TI"]["use_reference"]
    assert (out / "pipeline" / "stage0_manifest.json").is_file()
    assert "held-out identities, TI" in capsys.readouterr().out
    from humo_lite.pipeline import HuMoLitePipeline

    assert HuMoLitePipeline.from_pretrained(out / "pipeline").config.null_reference_frames == 1
    assert main(["train", "stage1", "--preset", "humo-nano", "--out", str(tmp_path / "x"), "--stage0",
                 str(tmp_path / "nowhere")]) == 2


def test_shipped_nano_stage1_reproduces_its_manifest():
    """The shipped CI stage-1 checkpoint loads as a TI pipeline and its stored check is what it scores."""
    from humo_lite.eval.identity_check import heldout_identity_check
    from humo_lite.pipeline import HuMoLitePipeline
    from humo_lite.recipes import STAGE1_CHECK_GUIDANCE
    from humo_lite.shipped import default_checkpoint

    folder = default_checkpoint("humo-nano", stage=1)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "stage1" and manifest["trainable"]["stage"] == "stage1"
    pipe = HuMoLitePipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.config.null_reference_frames == 1 and pipe.transformer.config.reference_position == "after"
    stored = manifest["metrics"]["TI"]
    again = heldout_identity_check(pipe, stored["num_clips"], seed=manifest["seed"], preset="humo-nano",
                                   progress=False, **STAGE1_CHECK_GUIDANCE["TI"])
    assert (stored["guidance"], stored["image_guidance"]) == tuple(STAGE1_CHECK_GUIDANCE["TI"].values())
    # Tolerances: a BLAS or torch update moves ID-lite (a mean cosine) by ~1e-5 and may flip one clip's
    # attribute (1 / num_clips of a share); another guidance or check moves them by more (the case below)
    assert again["id_lite"] == pytest.approx(stored["id_lite"], abs=5e-3)
    assert again["judge"] == pytest.approx(stored["judge"], abs=1 / stored["num_clips"] + 1e-9)
    other = heldout_identity_check(pipe, stored["num_clips"], seed=manifest["seed"], preset="humo-nano",
                                   progress=False, guidance_scale=1.0, image_guidance_scale=1.0)
    assert abs(other["id_lite"] - stored["id_lite"]) > 5e-3


def test_generate_with_a_reference_uses_the_stage1_checkpoint(tmp_path, capsys):
    from humo_lite.cli import main
    from humo_lite.io import write_png

    png = write_png(tmp_path / "ref.png", make_clip(make_pool("heldout_identity")[0], "humo-nano").reference)
    argv = ["generate", "--preset", "humo-nano", "--prompt", PROMPT, "--steps", "2"]
    assert main([*argv, "--image", str(png), "--out", str(tmp_path / "ti.mp4")]) == 0
    assert "humo-nano-stage1" in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "t.mp4")]) == 0
    out = capsys.readouterr().out
    assert "humo-nano-stage1" not in out and "humo-nano" in out


def test_shipped_micro_stage1_is_the_defaults_and_says_what_trained():
    """`humo-lite train stage1` with no flags trains the shipped humo-micro stage 1: the task Stage1Config's
    defaults build records what the shipped manifest does (it predates face_weight, so 0 there: the plain loss)."""
    from humo_lite.recipes import Stage1Config, stage1_config, stage1_task
    from humo_lite.shipped import default_checkpoint

    manifest = json.loads((default_checkpoint("humo-micro", stage=1) / "manifest.json").read_text())
    assert {k: v for k, v in manifest["config"].items() if k != "betas"} == {
        k: v for k, v in vars(stage1_config()).items() if k != "betas"}

    def task_of(config: Stage1Config) -> dict:
        data = {k: torch.zeros(config.num_clips, 1) for k in ("latents", "ref_latents", "text_ctx", "text_mask")}
        return stage1_task(build_dit("humo-micro"), data, config).hyperparameters()

    defaults = task_of(Stage1Config())
    assert set(defaults) - set(manifest["task"]) == {"face_weight"} and defaults["face_weight"] == 0.0
    assert {k: defaults[k] for k in manifest["task"]} == manifest["task"]
    other = task_of(Stage1Config(reference_position="before"))  # a default changed would be caught
    assert {k: other[k] for k in manifest["task"]} != manifest["task"]
    assert manifest["trainable"]["trainable"] == trainable_summary(build_dit("humo-micro"), "stage1")["trainable"]


def test_ablations_train_each_variant_and_summarise_over_seeds(tmp_path):
    from humo_lite import ablations
    from humo_lite.recipes import STAGE1_CHECK_GUIDANCE

    variants = ["self-attention only (HuMo)", "full fine-tuning"]
    quick = dict(steps=2, num_clips=16, eval_clips=2, command="test")

    def run(results):
        runs = ablations.train_variants("humo-nano", variants, [0, 1], tmp_path / "runs", **quick)
        ablations.write_results(results, "humo-nano", runs, variants, {"command": "test"})

    results = tmp_path / "stage1.json"
    run(results)
    data = json.loads(results.read_text())
    assert [(r["variant"], r["seed"]) for r in data["runs"]] == [
        ("self-attention only (HuMo)", 0), ("self-attention only (HuMo)", 1), ("full fine-tuning", 0),
        ("full fine-tuning", 1)]
    assert data["runs"][0]["trainable_share"] < 0.5 < data["runs"][2]["trainable_share"] == 1.0
    summary = data["summary"]["full fine-tuning"]["ID-lite"]
    assert summary["mean"] == pytest.approx(np.mean(summary["values"])) and summary["std"] is not None
    # the same command again: finished runs are read back, not retrained (their wall times kept)
    run(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["runs"] == data["runs"]
    # two halves written by two processes, merged: the same runs and summary as one file
    halves = []
    for k, variant in enumerate(("self-attention only (HuMo)", "full fine-tuning")):
        halves.append(tmp_path / f"half{k}.json")
        other = {**data, "runs": [r for r in data["runs"] if r["variant"] == variant]}
        halves[-1].write_text(json.dumps(other))
    merged = tmp_path / "merged.json"
    ablations.merge_results(halves, merged, "humo-nano", "test")
    assert json.loads(merged.read_text())["summary"] == data["summary"]
    # scored again with today's check: a run scored with other scales is recomputed (its old numbers kept),
    # the runs already scored with today's check are left as they are
    assert all(ablations.scored_with_check(r["metrics"], 2) for r in data["runs"])
    stale = json.loads(merged.read_text())
    stale["runs"][1]["metrics"]["TI"]["image_guidance"] = 1.0
    merged.write_text(json.dumps(stale))
    assert not ablations.scored_with_check(stale["runs"][1]["metrics"], 2)
    ablations.rescore_results(merged, "humo-nano", 2, "test")
    again = json.loads(merged.read_text())
    assert again["runs"][1]["metrics_at_training"] == stale["runs"][1]["metrics"]
    assert again["runs"][1]["metrics"] == data["runs"][1]["metrics"]  # the same check, deterministic
    assert [r for k, r in enumerate(again["runs"]) if k != 1] == [r for k, r in enumerate(data["runs"]) if k != 1]
    ti = again["runs"][1]["metrics"]["TI"]
    assert (ti["guidance"], ti["image_guidance"]) == tuple(STAGE1_CHECK_GUIDANCE["TI"].values())
    assert "rescored_with" in again

"""The DiT (Wan2.1 block + HuMo's reference injection): shapes, extension points, checkpoints, clear errors.

Parity with diffusers' ``WanTransformer3DModel`` is in ``test_wan_parity.py``.
"""

import pytest
import torch
from torch import nn

from humo_lite.models import (
    CONDITION_ATTENTION,
    CrossAttention,
    FrameLocalCrossAttention,
    HuMoLiteDiT,
    build_dit,
    grid_positions,
    register_condition,
)
from humo_lite.presets import PRESETS

TINY = dict(in_channels=4, dim=24, num_layers=2, num_heads=2, ffn_dim=48, text_dim=16, rope_max_positions=64)
B, C, F, H, W = 2, 4, 3, 4, 6  # latents; tokens per frame (H/2)*(W/2) = 6


def tiny(**overrides) -> HuMoLiteDiT:
    torch.manual_seed(0)
    return HuMoLiteDiT(**{**TINY, **overrides}).eval()


def wake_head(model: HuMoLiteDiT) -> HuMoLiteDiT:
    """Give the zero-initialised head random weights so the output depends on everything upstream."""
    torch.manual_seed(1)
    with torch.no_grad():
        model.head.weight.normal_(0, 0.5)
        model.head.bias.normal_(0, 0.5)
    return model


def inputs(refs: int = 0, text_len: int = 5, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(B, C, F, H, W, generator=g)
    timestep = torch.tensor([250.0, 800.0])
    text_ctx = torch.randn(B, text_len, TINY["text_dim"], generator=g)
    ref = torch.randn(B, C, refs, H, W, generator=g) if refs else None
    return x_t, timestep, text_ctx, ref


@pytest.fixture
def registered():
    """Register test-only condition names, and remove them afterwards."""
    names = []

    def register(name, cls):
        names.append(name)
        return register_condition(name, cls)

    yield register
    for name in names:
        CONDITION_ATTENTION.pop(name, None)


# --- the block and its initialisation ---------------------------------------------------------------------


def test_fresh_model_predicts_zero_and_a_woken_head_does_not():
    model = tiny()
    x_t, timestep, text_ctx, _ = inputs()
    with torch.no_grad():
        assert torch.equal(model(x_t, timestep, text_ctx).sample, torch.zeros_like(x_t))
        assert wake_head(model)(x_t, timestep, text_ctx).sample.abs().amax() > 0.1


def test_timestep_and_text_change_the_output():
    model = wake_head(tiny())
    x_t, timestep, text_ctx, _ = inputs()
    with torch.no_grad():
        out = model(x_t, timestep, text_ctx).sample
        assert not torch.allclose(out, model(x_t, timestep + 100, text_ctx).sample)
        assert not torch.allclose(out, model(x_t, timestep, text_ctx + 1).sample)
        scalar = model(x_t, 250.0, text_ctx).sample  # a scalar timestep is broadcast to the batch
        assert torch.allclose(scalar[0], out[0], atol=1e-6)


def test_gradient_checkpointing_gives_the_same_gradients():
    x_t, timestep, text_ctx, ref = inputs(refs=1)
    grads = []
    for checkpointing in (False, True):
        model = wake_head(tiny()).train()
        if checkpointing:
            model.enable_gradient_checkpointing()
        model(x_t, timestep, text_ctx, ref_latents=ref).sample.square().mean().backward()
        grads.append(model.blocks[0].self_attn.qkv.weight.grad)
    assert grads[0].abs().amax() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


# --- reference frames (HuMo §3.3) -----------------------------------------------------------------------


@pytest.mark.parametrize("refs", [0, 1, 2])
def test_output_covers_video_frames_only(refs):
    model = wake_head(tiny())
    x_t, timestep, text_ctx, ref = inputs(refs=refs)
    with torch.no_grad():
        out = model(x_t, timestep, text_ctx, ref_latents=ref)
    assert out.sample.shape == (B, C, F, H, W)


def test_reference_latents_change_the_video_output():
    model = wake_head(tiny())
    x_t, timestep, text_ctx, ref = inputs(refs=1)
    with torch.no_grad():
        with_ref = model(x_t, timestep, text_ctx, ref_latents=ref).sample
        other_ref = model(x_t, timestep, text_ctx, ref_latents=ref + 1).sample
        no_ref = model(x_t, timestep, text_ctx).sample
    assert (with_ref - other_ref).abs().amax() > 1e-3
    assert (with_ref - no_ref).abs().amax() > 1e-3


def test_zero_reference_frames_equal_no_reference():
    model = wake_head(tiny())
    x_t, timestep, text_ctx, _ = inputs()
    empty = torch.zeros(B, C, 0, H, W)
    with torch.no_grad():
        none = model(x_t, timestep, text_ctx, ref_latents=None).sample
        zero_frames = model(x_t, timestep, text_ctx, ref_latents=empty).sample
    assert torch.equal(none, zero_frames)


def test_first_reference_frame_takes_the_next_rope_time_position(monkeypatch):
    model = wake_head(tiny())
    x_t, timestep, text_ctx, ref = inputs(refs=2)
    seen = {}
    rope_forward = model.rope.forward

    def spy(positions):
        seen["positions"], seen["rotations"] = positions, rope_forward(positions)
        return seen["rotations"]

    monkeypatch.setattr(model.rope, "forward", spy)
    with torch.no_grad():
        model(x_t, timestep, text_ctx, ref_latents=ref)
    tokens_per_frame = (H // 2) * (W // 2)
    positions = seen["positions"]
    assert positions.shape == ((F + 2) * tokens_per_frame, 3)
    assert positions[F * tokens_per_frame].tolist() == [F, 0, 0]  # first reference token
    assert positions[F * tokens_per_frame - 1].tolist() == [F - 1, H // 2 - 1, W // 2 - 1]  # last video token
    assert positions[:, 0].max() == F + 1
    # The rotation of the time channels at that token is exactly position F.
    time_pairs = model.rope.split[0] // 2
    inv_freq = 1.0 / 10000 ** (
        torch.arange(0, model.rope.split[0], 2, dtype=torch.float64) / model.rope.split[0]
    )
    expected = torch.polar(torch.ones(time_pairs, dtype=torch.float64), F * inv_freq).to(torch.complex64)
    assert torch.allclose(seen["rotations"][F * tokens_per_frame, :time_pairs], expected, atol=1e-6)


def test_grid_positions_are_frame_major():
    pos = grid_positions(2, 2, 3)
    assert pos.shape == (12, 3)
    assert pos[:4].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 0]]
    assert pos[6].tolist() == [1, 0, 0]


# --- text mask -------------------------------------------------------------------------------------------


def test_padded_text_tokens_are_masked_out():
    model = wake_head(tiny())
    x_t, timestep, text_ctx, _ = inputs(text_len=5)
    padded = torch.cat([text_ctx, torch.randn(B, 3, TINY["text_dim"])], dim=1)  # 3 garbage pad tokens
    mask = torch.zeros(B, 8, dtype=torch.bool)
    mask[:, :5] = True
    with torch.no_grad():
        short = model(x_t, timestep, text_ctx).sample
        masked = model(x_t, timestep, padded, text_mask=mask).sample
        unmasked = model(x_t, timestep, padded).sample
        all_true = model(x_t, timestep, text_ctx, text_mask=torch.ones(B, 5, dtype=torch.bool)).sample
    assert torch.allclose(short, masked, atol=1e-5)
    assert (short - unmasked).abs().amax() > 1e-3  # without the mask the padding is read
    assert torch.equal(short, all_true)


def test_a_sample_without_text_gets_no_text_and_no_nan():
    model = wake_head(tiny())
    x_t, timestep, text_ctx, _ = inputs()
    mask = torch.ones(B, text_ctx.shape[1], dtype=torch.bool)
    mask[1] = False
    with torch.no_grad():
        out = model(x_t, timestep, text_ctx, text_mask=mask).sample
        other_text = model(x_t, timestep, torch.randn_like(text_ctx), text_mask=mask).sample
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1], other_text[1], atol=1e-6)  # sample 1 reads no text at all
    assert (out[0] - other_text[0]).abs().amax() > 1e-3


# --- extra condition cross-attentions (HuMo's audio) -----------------------------------------------------


def test_adding_a_condition_leaves_the_output_unchanged_until_trained():
    base = wake_head(tiny())
    with_audio = tiny(conditions={"audio": 10})
    missing, unexpected = with_audio.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(".cond_" in k for k in missing)
    x_t, timestep, text_ctx, ref = inputs(refs=1)
    audio = torch.randn(B, F + 1, 4, 10)  # K = 4 tokens for every latent frame, reference frame included
    with torch.no_grad():
        expected = base(x_t, timestep, text_ctx, ref_latents=ref).sample
        same = with_audio(x_t, timestep, text_ctx, ref_latents=ref, audio_ctx=audio).sample
        assert torch.equal(with_audio.blocks[0].cond_attn["audio"].out.weight, torch.zeros(24, 24))
        assert torch.allclose(expected, same, atol=1e-6)
        with_audio.blocks[0].cond_attn["audio"].out.weight.normal_()  # "trained": now audio matters
        changed = with_audio(x_t, timestep, text_ctx, ref_latents=ref, audio_ctx=audio).sample
        skipped = with_audio(x_t, timestep, text_ctx, ref_latents=ref).sample  # audio left out: skipped
    assert (changed - expected).abs().amax() > 1e-3
    assert torch.allclose(skipped, expected, atol=1e-6)


def test_frame_local_attention_reads_only_its_own_frame():
    torch.manual_seed(0)
    layer = FrameLocalCrossAttention(dim=24, num_heads=2, ctx_dim=10)
    nn.init.normal_(layer.out.weight)
    grid, tokens_per_frame = (3, 2, 3), 6
    x = torch.randn(B, 3 * tokens_per_frame, 24)
    ctx = torch.randn(B, 3, 4, 10)
    edited = ctx.clone()
    edited[:, 1] += 1  # change frame 1's audio only
    with torch.no_grad():
        out, out_edited = layer(x, ctx, grid), layer(x, edited, grid)
        flat = layer(x, ctx.flatten(1, 2), grid)  # (B, frames * K, ctx_dim) is accepted too
    frame = torch.arange(3).repeat_interleave(tokens_per_frame)
    assert torch.equal(out[:, frame != 1], out_edited[:, frame != 1])
    assert (out[:, frame == 1] - out_edited[:, frame == 1]).abs().amax() > 1e-3
    assert torch.allclose(out, flat)
    with pytest.raises(ValueError, match="3 frames"):
        layer(x, torch.randn(B, 2, 4, 10), grid)


def test_a_registered_condition_is_built_and_called(registered):
    calls = []

    class Recording(CrossAttention):
        def forward(self, x, ctx, grid, ctx_mask=None):
            calls.append((tuple(ctx.shape), grid))
            return super().forward(x, ctx, grid)

    registered("test_style", Recording)
    model = tiny(conditions={"test_style": 7})
    assert isinstance(model.blocks[1].cond_attn["test_style"], Recording)
    assert model.blocks[1].cond_attn["test_style"].out.weight.abs().sum() == 0
    x_t, timestep, text_ctx, ref = inputs(refs=1)
    with torch.no_grad():
        model(x_t, timestep, text_ctx, ref_latents=ref, test_style_ctx=torch.randn(B, 3, 7))
    assert calls == [((B, 3, 7), (F + 1, H // 2, W // 2))] * TINY["num_layers"]


def test_condition_registry_errors(registered):
    with pytest.raises(KeyError, match="no cross-attention class registered for condition 'smell'"):
        tiny(conditions={"smell": 4})
    with pytest.raises(ValueError, match="Python identifier"):
        register_condition("not-a-name", CrossAttention)
    with pytest.raises(ValueError, match="already registered as FrameLocalCrossAttention"):
        register_condition("audio", CrossAttention)

    class NoOut(nn.Module):
        def __init__(self, dim, num_heads, ctx_dim, eps):
            super().__init__()
            self.proj = nn.Linear(ctx_dim, dim)

    registered("test_no_out", NoOut)
    with pytest.raises(TypeError, match="needs an output projection `out`"):
        tiny(conditions={"test_no_out": 4})
    x_t, timestep, text_ctx, _ = inputs()
    with pytest.raises(TypeError, match="unexpected argument 'audio_ctx'; this DiT's conditions take \\[\\]"):
        tiny()(x_t, timestep, text_ctx, audio_ctx=torch.randn(B, F, 4, 8))


# --- hidden states for the face-mask head ----------------------------------------------------------------


def test_return_hidden_states_gives_the_last_blocks_video_tokens():
    model = wake_head(tiny(num_layers=3))
    x_t, timestep, text_ctx, ref = inputs(refs=1)
    with torch.no_grad():
        plain = model(x_t, timestep, text_ctx, ref_latents=ref)
        out = model(x_t, timestep, text_ctx, ref_latents=ref, return_hidden_states=2)
        sample, hidden = model(
            x_t, timestep, text_ctx, ref_latents=ref, return_hidden_states=3, return_dict=False
        )
    assert plain.hidden_states is None
    assert torch.equal(plain.sample, out.sample) and torch.equal(sample, out.sample)
    assert len(out.hidden_states) == 2 and len(hidden) == 3
    assert all(h.shape == (B, TINY["dim"], F, H // 2, W // 2) for h in hidden)
    assert torch.equal(out.hidden_states[1], hidden[2])  # the last block's, either way
    assert not torch.allclose(hidden[0], hidden[1])


# --- checkpoints -----------------------------------------------------------------------------------------


def test_save_and_load_pretrained_round_trip(tmp_path):
    model = wake_head(tiny(conditions={"audio": 10}))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    loaded = HuMoLiteDiT.from_pretrained(tmp_path).eval()
    assert loaded.config.conditions == {"audio": 10}
    x_t, timestep, text_ctx, ref = inputs(refs=1)
    audio = torch.randn(B, F + 1, 4, 10)
    with torch.no_grad():
        expected = model(x_t, timestep, text_ctx, ref_latents=ref, audio_ctx=audio).sample
        assert torch.equal(expected, loaded(x_t, timestep, text_ctx, ref_latents=ref, audio_ctx=audio).sample)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (dict(ffn_dim=32), "blocks.0.ffn.0.bias"),  # another shape
        (dict(num_layers=3), "blocks.2."),  # a key the checkpoint lacks
        (dict(num_layers=1), "blocks.1."),  # a key the config lacks
    ],
)
def test_checkpoint_that_does_not_match_the_config_names_the_key(tmp_path, overrides, key):
    tiny().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"does not match the config.*{key}"):
        HuMoLiteDiT.from_pretrained(tmp_path, **overrides)
    with pytest.raises(RuntimeError, match=key):  # plain load_state_dict is strict too
        tiny(**overrides).load_state_dict(tiny().state_dict())


# --- presets and clear errors ----------------------------------------------------------------------------


def test_build_dit_from_every_preset_and_describe():
    for name, preset in PRESETS.items():
        model = build_dit(name)
        c = preset.dit_config()
        assert model.config.dim == c["dim"]
        n = sum(p.numel() for p in model.parameters())  # counted here, not by the model
        text = model.describe()
        assert f"{n / 1e6:.2f}M parameters" in text
        assert f"{c['num_layers']} blocks x {c['num_heads']} heads of {c['dim'] // c['num_heads']}" in text
        assert f"{c['in_channels']} latent channels" in text
        assert repr(model).splitlines()[0] == text  # the repr leads with the summary line
    assert build_dit("humo-nano", num_layers=1).describe() != build_dit("humo-nano").describe()
    assert build_dit("humo-nano", conditions={"audio": 16}).config.conditions == {"audio": 16}


def test_preset_latents_fit_the_model():
    for name in ("humo-nano", "humo-micro"):
        preset, model = PRESETS[name], build_dit(name).eval()
        world = preset.world
        x_t = torch.randn(
            1, model.config.in_channels, world.num_latent_frames, world.height // 4, world.width // 4
        )
        with torch.no_grad():
            out = model(
                x_t,
                torch.tensor([500.0]),
                torch.randn(1, 3, model.config.text_dim),
                ref_latents=x_t[:, :, :1],
            )
        assert out.sample.shape == x_t.shape


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'humo-giant'; expected one of \\['humo-micro'"):
        build_dit("humo-giant")


def test_bad_inputs_are_clear_errors():
    model = tiny()
    x_t, timestep, text_ctx, ref = inputs(refs=1)
    with pytest.raises(ValueError, match="x_t has 3 channels; this DiT expects in_channels=4"):
        model(x_t[:, :3], timestep, text_ctx)
    with pytest.raises(ValueError, match="3x3x6 is not divisible by the patch 1x2x2"):
        model(torch.randn(B, C, 3, 3, 6), timestep, text_ctx)
    with pytest.raises(ValueError, match="3x4x5 is not divisible by the patch 1x2x2"):
        model(torch.randn(B, C, 3, 4, 5), timestep, text_ctx)
    with pytest.raises(ValueError, match="3x4x6 is not divisible by the patch 2x2x2"):
        tiny(patch_size=(2, 2, 2))(x_t, timestep, text_ctx)
    with pytest.raises(ValueError, match="video latents \\[B, C, F, H, W\\]"):
        model(x_t[:, :, 0], timestep, text_ctx)
    with pytest.raises(ValueError, match="ref_latents .* do not match x_t: expected \\(2, 4, 'R', 4, 6\\)"):
        model(x_t, timestep, text_ctx, ref_latents=ref[..., :4])
    with pytest.raises(ValueError, match="text_ctx must be \\[B, Lt, text_dim\\] = \\[2, Lt, 16\\]"):
        model(x_t, timestep, text_ctx[..., :8])
    with pytest.raises(ValueError, match="text_mask must be a bool tensor"):
        model(x_t, timestep, text_ctx, text_mask=torch.ones(B, 5))
    with pytest.raises(ValueError, match="timestep must be a scalar or shape \\(2,\\)"):
        model(x_t, torch.ones(3), text_ctx)
    with pytest.raises(ValueError, match="exceeds RoPE's 64 positions"):
        model(torch.randn(1, C, 1, 4, 130), timestep[:1], text_ctx[:1])

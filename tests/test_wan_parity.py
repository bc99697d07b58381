"""``HuMoLiteDiT.from_wan`` reproduces diffusers' ``WanTransformer3DModel`` (max abs diff <= 1e-5, fp32).

The Wan model gets random non-zero weights everywhere (its head included), so every parameter matters.
"""

import pytest
import torch
from diffusers import WanTransformer3DModel

from humo_lite.models import HuMoLiteDiT
from humo_lite.models.wan_weights import convert_wan_state_dict, to_wan_state_dict, wan_config_from_dit

WAN_CONFIG = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=12,
    in_channels=4,
    out_channels=4,
    text_dim=16,
    freq_dim=32,
    ffn_dim=40,
    num_layers=2,
    rope_max_seq_len=32,
)
B, C, F, H, W = 2, 4, 3, 4, 6
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def wan():
    torch.manual_seed(0)
    model = WanTransformer3DModel(**WAN_CONFIG).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.ndim > 1 else 0.1) + (1.0 if "norm" in name else 0.0))
    return model


def inputs(frames: int = F, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, C, frames, H, W, generator=g)
    timestep = torch.tensor([130.0, 870.0])
    text_ctx = torch.randn(B, 7, WAN_CONFIG["text_dim"], generator=g)
    return x, timestep, text_ctx


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@torch.no_grad()
def test_from_wan_model_matches_diffusers(wan):
    ours = HuMoLiteDiT.from_wan(wan).eval()
    x, timestep, text_ctx = inputs()
    expected = wan(x, timestep, text_ctx).sample
    assert expected.abs().mean() > 0.1  # a non-trivial output
    assert max_diff(ours(x, timestep, text_ctx).sample, expected) <= TOLERANCE
    mask = torch.ones(B, 7, dtype=torch.bool)  # an all-real mask is the same as none
    assert max_diff(ours(x, timestep, text_ctx, text_mask=mask).sample, expected) <= TOLERANCE
    assert max_diff(ours(x, timestep + 1, text_ctx).sample, expected) > 1e-3  # the comparison can fail


@torch.no_grad()
def test_from_wan_folder_and_state_dict_match_diffusers(wan, tmp_path):
    wan.save_pretrained(tmp_path)
    x, timestep, text_ctx = inputs(seed=3)
    expected = wan(x, timestep, text_ctx).sample
    for ours in (
        HuMoLiteDiT.from_wan(tmp_path),
        HuMoLiteDiT.from_wan(wan.state_dict(), config=dict(wan.config)),
    ):
        assert max_diff(ours.eval()(x, timestep, text_ctx).sample, expected) <= TOLERANCE


@torch.no_grad()
@pytest.mark.parametrize("refs", [1, 2])
def test_reference_frames_are_wan_frames_after_the_video(wan, refs):
    """[x_t ; ref] through Wan, cropped to the video, is our output with ref_latents: the references take the
    next RoPE time positions and the sample's timestep, and only their outputs are dropped."""
    ours = HuMoLiteDiT.from_wan(wan).eval()
    x, timestep, text_ctx = inputs(frames=F + refs, seed=4)
    video, ref = x[:, :, :F], x[:, :, F:]
    expected = wan(x, timestep, text_ctx).sample[:, :, :F]
    assert max_diff(ours(video, timestep, text_ctx, ref_latents=ref).sample, expected) <= TOLERANCE


@torch.no_grad()
def test_to_wan_round_trip(wan):
    ours = HuMoLiteDiT.from_wan(wan)
    back = ours.to_wan().eval()
    assert back.state_dict().keys() == wan.state_dict().keys()
    assert all(torch.equal(back.state_dict()[k], v) for k, v in wan.state_dict().items())
    x, timestep, text_ctx = inputs(seed=5)
    assert max_diff(back(x, timestep, text_ctx).sample, wan(x, timestep, text_ctx).sample) == 0
    assert wan_config_from_dit(ours.config)["attention_head_dim"] == 12


def test_wan_state_dict_with_a_wrong_key_names_it(wan):
    state = dict(wan.state_dict())
    state["blocks.1.attn1.to_k.weight_renamed"] = state.pop("blocks.1.attn1.to_k.weight")
    with pytest.raises(KeyError, match="unexpected key 'blocks.1.attn1.to_k.weight_renamed'"):
        HuMoLiteDiT.from_wan(state, config=dict(wan.config))
    state = dict(wan.state_dict())
    del state["blocks.0.ffn.net.2.bias"]
    with pytest.raises(KeyError, match="missing key 'blocks.0.ffn.net.2.bias'"):
        HuMoLiteDiT.from_wan(state, config=dict(wan.config))


def test_wan_state_dict_with_a_wrong_shape_names_the_key(wan):
    state = dict(wan.state_dict())
    state["blocks.1.ffn.net.0.proj.weight"] = torch.zeros(41, 24)
    with pytest.raises(
        ValueError, match="shape mismatch for 'blocks.1.ffn.0.weight'.*blocks.1.ffn.net.0.proj.weight"
    ):
        HuMoLiteDiT.from_wan(state, config=dict(wan.config))


def test_unsupported_wan_config_is_named(wan):
    with pytest.raises(ValueError, match="'image_dim' = 8 is not supported"):
        HuMoLiteDiT.from_wan(wan.state_dict(), config={**wan.config, "image_dim": 8})
    with pytest.raises(ValueError, match="unknown Wan config key 'window'"):
        HuMoLiteDiT.from_wan(wan.state_dict(), config={**wan.config, "window": 3})
    with pytest.raises(ValueError, match="needs config="):
        HuMoLiteDiT.from_wan(wan.state_dict())


def test_our_state_dict_back_to_wan_names_extra_keys(wan):
    ours = convert_wan_state_dict(wan.state_dict(), num_layers=2)
    assert to_wan_state_dict(ours, 2).keys() == wan.state_dict().keys()
    with pytest.raises(KeyError, match="'blocks.0.cond_attn.audio.q.weight' has no WanTransformer3DModel"):
        to_wan_state_dict({**ours, "blocks.0.cond_attn.audio.q.weight": torch.zeros(1)}, 2)

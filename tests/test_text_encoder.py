"""The text encoder: shapes, padding, save/load, bad ids; presets agree with the DiT's text_dim."""

import pytest
import torch

from humo_lite.data.captions import MAX_TOKENS, VOCAB, Tokenizer
from humo_lite.models.text_encoder import TextEncoder, build_text_encoder
from humo_lite.presets import PRESETS

CAPTIONS = ["a person in a red shirt stands on the left of a blue room, nodding", "swaying", ""]


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return build_text_encoder("humo-nano").eval()


def test_shapes_and_padding_zeroed(encoder):
    ids, mask = Tokenizer().encode(CAPTIONS)
    ctx = encoder(ids, mask)
    assert ctx.shape == (3, MAX_TOKENS, PRESETS["humo-nano"].text_encoder["text_dim"])
    assert torch.isfinite(ctx).all()
    assert (ctx[~mask] == 0).all() and (ctx[mask].abs().sum(-1) > 0).all()
    assert (ctx[2] == 0).all()  # the null caption encodes to zeros


def test_padding_does_not_change_real_tokens(encoder):
    ids, mask = Tokenizer().encode(CAPTIONS[1:2])  # 1 real token, 23 padding
    full = encoder(ids, mask)
    short = encoder(ids[:, :1], mask[:, :1])  # the same caption with no padding at all
    assert torch.allclose(full[:, :1], short, atol=1e-5)
    other = ids.clone()
    other[0, 5:] = 7  # different ids under the padding mask must not leak into real tokens
    assert torch.allclose(encoder(other, mask)[:, :1], full[:, :1], atol=1e-5)
    # a different real token does change the output (the test above can fail)
    ids2, mask2 = Tokenizer().encode(["nodding"])
    assert not torch.allclose(encoder(ids2, mask2)[:, :1], full[:, :1], atol=1e-3)


def test_save_load_round_trip(encoder, tmp_path):
    encoder.save_pretrained(tmp_path / "text_encoder", safe_serialization=True)
    assert (tmp_path / "text_encoder" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = TextEncoder.from_pretrained(tmp_path / "text_encoder").eval()
    ids, mask = Tokenizer().encode(CAPTIONS)
    assert loaded.config.vocab_size == len(VOCAB)
    assert torch.equal(loaded(ids, mask), encoder(ids, mask))


def test_bad_inputs(encoder):
    ids, mask = Tokenizer().encode(CAPTIONS)
    bad = ids.clone()
    bad[0, 0] = len(VOCAB)
    with pytest.raises(ValueError, match="vocabulary"):
        encoder(bad, mask)
    with pytest.raises(ValueError, match=r"\[B, L\]"):
        encoder(ids, mask[:, :5])
    with pytest.raises(TypeError):
        encoder(ids, mask.long())


def test_encode_and_gradients(encoder):
    ctx, mask = encoder.encode(CAPTIONS[:2])
    assert ctx.shape[:2] == mask.shape == (2, MAX_TOKENS)
    encoder.train()
    ids, mask = Tokenizer().encode(CAPTIONS)
    encoder(ids, mask).square().sum().backward()
    assert all(p.grad is not None for n, p in encoder.named_parameters() if n != "token_embedding.weight")


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_text_dim_matches_dit(name):
    preset = PRESETS[name]
    assert preset.text_encoder["text_dim"] == preset.dit["text_dim"]

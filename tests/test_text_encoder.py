"""The text encoder: shapes, padding, save/load, bad ids; presets agree with the DiT's text_dim."""

import numpy as np
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
    with pytest.raises(TypeError, match="text_mask bool"):
        encoder(ids, mask.long())


def test_encode_and_gradients(encoder):
    ctx, mask = encoder.encode(CAPTIONS[:2])
    assert ctx.shape[:2] == mask.shape == (2, MAX_TOKENS)
    encoder.train()
    ids, mask = Tokenizer().encode(CAPTIONS)
    encoder(ids, mask).square().sum().backward()
    skip = ("token_embedding.weight", "role_head.weight", "role_head.bias")  # the role head is a training-only read-out
    assert all(p.grad is not None for n, p in encoder.named_parameters() if n not in skip)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_dit_widths_come_from_its_inputs(name):
    """The DiT's text_dim is the text encoder's output and its in_channels the VAE's z_dim, by construction."""
    from humo_lite.models import build_dit

    preset = PRESETS[name]
    assert "text_dim" not in preset.dit and "in_channels" not in preset.dit  # stated once, not twice
    config = build_dit(preset).config
    assert config.text_dim == preset.text_encoder["text_dim"] and config.in_channels == preset.vae["z_dim"]


def test_token_roles_bind_colours_to_room_and_shirt():
    from humo_lite.data.attributes import Scene
    from humo_lite.data.captions import IGNORE_ROLE, ROLES, TEMPLATES, caption, token_roles

    green_room_blue_shirt = Scene(background=1, clothing=1, position=0, motion=0)  # a held-out pair
    for template in range(len(TEMPLATES)):
        text = caption(green_room_blue_shirt, template=template)
        roles = token_roles(text)
        words = Tokenizer().decode(Tokenizer().encode(text)[0]).replace(",", " ,").split()
        named = {ROLES[int(r)]: w for w, r in zip(words, roles, strict=False) if r > 0}
        assert named == {"room colour": "green", "shirt colour": "blue"}, (text, named)
        assert (roles[len(words):] == IGNORE_ROLE).all()


def test_role_objective_teaches_binding_to_held_out_pairs():
    """Trained on training-pool captions only, the role head reads the held-out (green room, blue shirt)."""
    import torch.nn.functional as F

    from humo_lite.data import make_pool
    from humo_lite.data.attributes import Scene
    from humo_lite.data.captions import IGNORE_ROLE, caption, token_roles

    torch.manual_seed(0)
    encoder = build_text_encoder("humo-nano")  # one layer is enough: a colour's role is its neighbour's word
    rng = np.random.default_rng(0)
    texts = [caption(spec.scene, rng) for spec in make_pool("foundation")[:512]]
    ids, mask = Tokenizer().encode(texts)
    roles = torch.stack([token_roles(t) for t in texts])
    opt = torch.optim.AdamW(encoder.parameters(), lr=3e-3)
    for step in range(120):
        batch = torch.arange(64) + (step * 64) % 512
        logits = encoder.role_logits(encoder(ids[batch], mask[batch]))
        loss = F.cross_entropy(logits.flatten(0, 1), roles[batch].flatten(), ignore_index=IGNORE_ROLE)
        opt.zero_grad()
        loss.backward()
        opt.step()
    held_out = [caption(Scene(1, 1, p, m), template=t) for p in range(3) for m in range(3) for t in range(4)]
    ids, mask = Tokenizer().encode(held_out)
    want = torch.stack([token_roles(t) for t in held_out])
    with torch.no_grad():
        got = encoder.role_logits(encoder(ids, mask)).argmax(-1)
    colour = want > 0
    assert (got[colour] == want[colour]).float().mean() >= 0.95


def test_role_weight_needs_roles_and_a_role_head():
    from humo_lite.models import build_dit
    from humo_lite.training import TextToVideoTask

    data = {"latents": torch.zeros(2, 8, 3, 4, 4), "text_ids": torch.zeros(2, 24, dtype=torch.long),
            "text_mask": torch.zeros(2, 24, dtype=torch.bool)}
    with pytest.raises(KeyError, match="text_roles"):
        TextToVideoTask(build_dit("humo-nano"), build_text_encoder("humo-nano"), data, role_weight=0.1)
    data["text_roles"] = torch.zeros(2, 24, dtype=torch.long)
    with pytest.raises(ValueError, match="role head"):
        TextToVideoTask(build_dit("humo-nano"), build_text_encoder("humo-nano", num_roles=0), data, role_weight=0.1)

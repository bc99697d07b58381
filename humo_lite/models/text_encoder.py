"""The text encoder: a small transformer over the world's word-level tokens, standing in for umT5.

Paper: HuMo §3.1 conditions Wan's DiT on text through cross-attention; the text comes from a
**frozen umT5-XXL encoder** (4096-d, 24 layers, 512 tokens; ``docs/paper_notes.md`` §1.4), which HuMo never
trains. Upstream code it mirrors: Wan2.1's ``wan/modules/t5.py`` (``T5Encoder``: token embedding ->
pre-norm transformer blocks -> final norm; padded positions masked out of attention), at toy size.

Our captions come from a few templates over a fixed vocabulary (:mod:`humo_lite.data.captions`), so
a pretrained language model would be overkill, and there is none at our size. Instead:

- **Stage 0 trains it** jointly with the DiT on text-to-video (the lead's trainer), standing in for
  umT5's pretraining: it has to learn that different wordings name the same scene.
- **Afterwards it is frozen** for stages 1 and 2, exactly as HuMo freezes umT5 — subject preservation
  and audio sync never touch the text pathway.
- **Binding.** umT5 arrives knowing grammar; ours learns only what the video loss forces. Trained on
  video alone it learned a shortcut: "blue" and "green" are both room and shirt colours, and the
  training pools contain a blue room with a green shirt but (held out) never a green room with a blue
  shirt, so the encoder represented *any* caption with both words as the blue room — and stage 0 drew
  the held-out pair with its colours swapped (chapter 02 measures it). With ``num_roles`` > 0 a linear
  ``role_head`` reads each output token's grammatical role (:data:`humo_lite.data.captions.ROLES`:
  room colour, shirt colour, other), and stage 0 adds its cross-entropy to the loss: a small stand-in
  for the language pretraining umT5 brings. The head is not used at inference.

Shapes: ``text_ids`` ``[B, L]`` (int64, ``L = MAX_TOKENS = 24``), ``text_mask`` ``[B, L]`` (bool, True
on real tokens) -> ``text_ctx`` ``[B, L, text_dim]`` with padded positions set to zero (as Wan zeroes
the T5 output beyond each caption's length). ``text_dim`` must equal the DiT's ``text_dim``, whose own
``text_embedding`` MLP then maps it to the model width (Wan's 4096 -> dim).

Scale-up route: any ``transformers`` encoder loaded from a local path (umT5 itself:
``UMT5EncoderModel.from_pretrained(path, local_files_only=True)``) produces ``last_hidden_state``
``[B, L, d]``; zero it where ``attention_mask`` is 0 and build the DiT with ``text_dim = d``. Nothing
else in the library depends on this class.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from torch import nn

from humo_lite.data.captions import MAX_TOKENS, VOCAB, Tokenizer
from humo_lite.models.loading import ModelMixin, StrictModelMixin  # noqa: F401  (ModelMixin: see loading.py)
from humo_lite.presets import Preset, get_preset


class TextEncoder(StrictModelMixin, ConfigMixin):
    """Token + position embedding -> pre-norm transformer encoder -> LayerNorm -> Linear(text_dim)."""

    @register_to_config
    def __init__(
        self,
        vocab_size: int = len(VOCAB),  # the world's word list, <pad> = 0 and <unk> = 1 included
        max_length: int = MAX_TOKENS,  # token positions (captions are padded to this)
        dim: int = 64,  # transformer width
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int = 256,
        text_dim: int = 64,  # output width = the DiT's text_dim
        dropout: float = 0.0,
        num_roles: int = 0,  # > 0: a linear head reading each token's role (the binding objective)
    ):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position_embedding = nn.Parameter(torch.randn(max_length, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, ffn_dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, text_dim)
        self.role_head = nn.Linear(text_dim, num_roles) if num_roles else None

    def role_logits(self, text_ctx: torch.Tensor) -> torch.Tensor:
        """``text_ctx`` [B, L, text_dim] -> logits over :data:`~humo_lite.data.captions.ROLES` [B, L, num_roles]."""
        if self.role_head is None:
            raise ValueError("this text encoder has no role head; build it with num_roles > 0")
        return self.role_head(text_ctx)

    def check_inputs(self, text_ids: torch.Tensor, text_mask: torch.Tensor) -> None:
        """Clear errors for wrong shapes, dtypes and ids outside the vocabulary."""
        if text_ids.ndim != 2 or text_ids.shape != text_mask.shape:
            raise ValueError(
                f"text_ids and text_mask must both be [B, L], got {tuple(text_ids.shape)} and "
                f"{tuple(text_mask.shape)}"
            )
        if text_ids.dtype not in (torch.int64, torch.int32) or text_mask.dtype != torch.bool:
            raise TypeError(
                f"text_ids must be int64 and text_mask bool, got {text_ids.dtype} and {text_mask.dtype}"
            )
        if text_ids.shape[1] > self.config.max_length:
            raise ValueError(f"at most {self.config.max_length} tokens per caption, got {text_ids.shape[1]}")
        if text_ids.numel() and (text_ids.min() < 0 or text_ids.max() >= self.config.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {self.config.vocab_size}) (this encoder's vocabulary), got "
                f"[{int(text_ids.min())}, {int(text_ids.max())}]; encode captions with "
                f"humo_lite.data.captions.Tokenizer"
            )

    def forward(self, text_ids: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """``text_ids`` [B, L], ``text_mask`` [B, L] -> ``text_ctx`` [B, L, text_dim], zero on padding."""
        self.check_inputs(text_ids, text_mask)
        length = text_ids.shape[1]
        x = self.token_embedding(text_ids) + self.position_embedding[:length]  # (B, L, dim)
        # Padding keys are masked out of attention. The null caption (all padding) would leave a row
        # with nothing to attend to (NaN), so such rows attend freely; their output is zeroed below.
        empty = ~text_mask.any(dim=1, keepdim=True)  # (B, 1)
        x = self.blocks(x, src_key_padding_mask=~(text_mask | empty))  # (B, L, dim)
        x = self.proj(self.norm(x))  # (B, L, text_dim)
        return x * text_mask[..., None].to(x.dtype)

    @torch.no_grad()
    def encode(
        self, captions: str | list[str], tokenizer: Tokenizer | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions -> ``(text_ctx [B, L, text_dim], text_mask [B, L])``, for inference and notebooks."""
        ids, mask = (tokenizer or Tokenizer(max_length=self.config.max_length)).encode(
            [captions] if isinstance(captions, str) else list(captions)
        )
        device = self.position_embedding.device
        return self(ids.to(device), mask.to(device)), mask.to(device)


def build_text_encoder(preset: str | Preset = "humo-micro", **overrides) -> TextEncoder:
    """A freshly initialised text encoder at a preset's size; ``overrides`` replace config entries."""
    return TextEncoder(**{**get_preset(preset).text_encoder, **overrides})

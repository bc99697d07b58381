"""``HuMoLitePipeline``: prompt (+ reference image, + audio) → video, the diffusers way.

Mirrors diffusers' ``WanPipeline`` (``pipelines/wan/pipeline_wan.py``) and HuMo's ``generate.py``:
encode the prompt, prepare noise latents, encode the reference image with the VAE into one latent
frame appended after the video (HuMo §3.3), turn the audio into per-latent-frame windows, run the
scheduler's denoising loop with classifier-free guidance, decode with the VAE.

Components (each saved in its own sub-folder by ``save_pretrained``; ``from_pretrained`` reloads them):
``transformer`` (:class:`humo_lite.models.HuMoLiteDiT`), ``vae`` (diffusers ``AutoencoderKLWan``),
``text_encoder`` (:class:`humo_lite.models.text_encoder.TextEncoder`) and ``scheduler`` (diffusers'
``UniPCMultistepScheduler`` or ``FlowMatchEulerDiscreteScheduler`` in flow-matching mode). The word
tokenizer is rebuilt from the fixed toy vocabulary, so it needs no files.

Prompts may only use the toy world's vocabulary (``humo_lite.data.captions.VOCAB``): a prompt with
other words stops with an error naming them, unless ``unknown_words="unk"`` maps them to ``<unk>``
(which the model has never seen, so they carry no meaning).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput

from .data.audio import audio_features, audio_windows, check_audio
from .data.captions import NULL_CAPTION, Tokenizer
from .models.dit import HuMoLiteDiT  # noqa: F401  (imported so from_pretrained can find the class)
from .models.text_encoder import TextEncoder  # noqa: F401  (likewise)
from .models.vae import decode_latents, encode_image
from .presets import SAMPLES_PER_FRAME, check_num_frames, num_latent_frames


@dataclass
class HuMoLitePipelineOutput(BaseOutput):
    """``frames``: ``np`` → ``(B, F, H, W, 3)`` float in [0, 1]; ``pt`` → ``[B, 3, F, H, W]`` in [−1, 1];
    ``latent`` → the denoised latents. ``audio``: ``(B, F·640)`` at 16 kHz when audio was given, else None."""

    frames: np.ndarray | torch.Tensor
    audio: np.ndarray | None = None


def _image_to_tensor(image, height: int, width: int) -> torch.Tensor:
    """A reference image → ``[1, 3, H, W]`` in [−1, 1]; accepts PIL, ``(H, W, 3|4)`` arrays, or tensors."""
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL
        if image.mode not in ("RGB", "RGBA"):
            raise ValueError(f"reference image must be RGB or RGBA, got PIL mode {image.mode!r}")
        image = np.asarray(image)
    if isinstance(image, torch.Tensor):  # [3, H, W] or [1, 3, H, W] in [-1, 1]
        tensor = image[None] if image.ndim == 3 else image
        if tensor.ndim != 4 or tensor.shape[:2] != (1, 3):
            raise ValueError(f"reference tensor must be [3, H, W] or [1, 3, H, W] in [-1, 1], got {tuple(image.shape)}")
    else:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[-1] not in (3, 4):
            raise ValueError(f"reference image must be (H, W, 3) RGB or (H, W, 4) RGBA, got shape {array.shape}")
        array = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
        if array.min() < 0 or array.max() > 1:
            raise ValueError("a float reference image must lie in [0, 1] (uint8 images are divided by 255)")
        if array.shape[-1] == 4:  # composite onto white, as HuMo's references are
            array = array[..., :3] * array[..., 3:] + (1.0 - array[..., 3:])
        tensor = torch.from_numpy(array).permute(2, 0, 1)[None] * 2 - 1
    if tensor.shape[-2:] != (height, width):
        raise ValueError(f"reference image is {tensor.shape[-2]}x{tensor.shape[-1]}, the model makes "
                         f"{height}x{width} videos; resize it first")
    return tensor.float()


class HuMoLitePipeline(DiffusionPipeline):
    """Text (+ image, + audio) to video with a HuMo-lite checkpoint.

    >>> pipe = HuMoLitePipeline.from_pretrained("data_samples/checkpoints/humo-micro")
    >>> out = pipe("a person in a red shirt stands in the centre of a blue room, nodding",
    ...            generator=torch.Generator().manual_seed(0))
    >>> out.frames.shape                       # (1, 17, 32, 32, 3), floats in [0, 1]
    """

    model_cpu_offload_seq = "text_encoder->transformer->vae"

    def __init__(self, transformer, vae, text_encoder, scheduler, height: int = 32, width: int = 32,
                 num_frames: int = 17):
        super().__init__()
        self.register_modules(transformer=transformer, vae=vae, text_encoder=text_encoder, scheduler=scheduler)
        self.register_to_config(height=height, width=width, num_frames=check_num_frames(num_frames))

    # 1. Inputs -----------------------------------------------------------------------------------------
    def encode_prompt(self, prompt: list[str], unknown_words: str = "error") -> tuple[torch.Tensor, torch.Tensor]:
        """Captions → text context ``[B, L, text_dim]`` and mask ``[B, L]``; the empty caption has no tokens."""
        ids, mask = Tokenizer(on_unknown=unknown_words).encode(list(prompt))
        device = self._execution_device
        return self.text_encoder(ids.to(device), mask.to(device)), mask.to(device)

    def prepare_audio(self, audio, batch: int, num_frames: int) -> tuple[np.ndarray, torch.Tensor]:
        """16 kHz mono audio (one array, or one per prompt) → cut waveforms and windows ``[B, F', 8, 80]``."""
        clips = list(audio) if isinstance(audio, (list, tuple)) else [audio] * batch
        if len(clips) != batch:
            raise ValueError(f"got {len(clips)} audio clips for {batch} prompts")
        need = num_frames * SAMPLES_PER_FRAME
        waves = np.stack([check_audio(a, min_samples=need)[:need] for a in clips])  # (B, S)
        windows = np.stack([audio_windows(audio_features(w, num_frames)[0]) for w in waves])
        return waves, torch.from_numpy(windows)

    # 2. The call --------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        image=None,
        audio=None,
        num_inference_steps: int = 20,
        guidance: float = 5.0,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        num_frames: int | None = None,
        unknown_words: str = "error",
        return_dict: bool = True,
    ) -> HuMoLitePipelineOutput | tuple:
        """Generate one clip per prompt.

        Args:
            prompt: caption(s) in the toy vocabulary. image: a reference image (PIL / array / tensor) at
                the model's size, one for all prompts. audio: 16 kHz mono waveform(s), at least the clip's
                length. num_inference_steps: scheduler steps. guidance: text classifier-free guidance
                scale (1 = off; each step then runs one pass instead of two, batched).
            generator: a ``torch.Generator`` for the initial noise (on the CPU: same seed, same bytes).
            output_type: ``"np"``, ``"pt"`` or ``"latent"``. num_frames: 4k+1 (default: the checkpoint's).
            unknown_words: ``"error"`` (default) or ``"unk"``.
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise TypeError("prompt must be a string or a non-empty list of strings")
        if output_type not in ("np", "pt", "latent"):
            raise ValueError(f"output_type must be 'np', 'pt' or 'latent', got {output_type!r}")
        num_frames = check_num_frames(num_frames or self.config.num_frames)
        batch, device = len(prompts), self._execution_device
        height, width = self.config.height, self.config.width

        # 1. Conditions: text (with the null text for guidance), reference latents, audio windows.
        text_ctx, text_mask = self.encode_prompt(prompts, unknown_words)  # (B, L, text_dim), (B, L)
        use_cfg = guidance != 1.0
        if use_cfg:
            null_ctx, null_mask = self.encode_prompt([NULL_CAPTION] * batch)
            text_ctx, text_mask = torch.cat([text_ctx, null_ctx]), torch.cat([text_mask, null_mask])  # 2B rows
        extra = {"text_mask": text_mask}
        if image is not None:
            ref = encode_image(self.vae, _image_to_tensor(image, height, width).to(device))  # (1, C, 1, h, w)
            extra["ref_latents"] = ref.expand(batch, -1, -1, -1, -1)
        waves = None
        if audio is not None:
            waves, windows = self.prepare_audio(audio, batch, num_frames)
            if "audio" in (self.transformer.config.conditions or {}):
                extra["audio_ctx"] = windows.to(device)
            else:
                warnings.warn("this checkpoint has no audio cross-attention (stage 0/1); the audio is returned "
                              "with the frames but does not drive the lips", stacklevel=3)
        if use_cfg:  # the unconditional row keeps image and audio: guidance here is on the text only
            extra = {k: v if k == "text_mask" else torch.cat([v, v]) for k, v in extra.items()}

        # 2. Initial noise, drawn on the CPU so a seed gives the same video on any device.
        channels = self.transformer.config.in_channels
        stride = 2 ** (len(self.vae.config.dim_mult) - 1)
        shape = (batch, channels, num_latent_frames(num_frames), height // stride, width // stride)
        latents = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)

        # 3. Denoising loop: velocity from the DiT, one scheduler step per timestep.
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        for t in self.progress_bar(self.scheduler.timesteps):
            model_in = torch.cat([latents, latents]) if use_cfg else latents
            velocity = self.transformer(model_in, t.expand(len(model_in)), text_ctx, **extra).sample
            if use_cfg:
                cond, uncond = velocity.chunk(2)
                velocity = uncond + guidance * (cond - uncond)
            latents = self.scheduler.step(velocity, t, latents).prev_sample

        # 4. Decode.
        if output_type == "latent":
            frames = latents
        else:
            video = decode_latents(self.vae, latents).clamp(-1, 1)  # (B, 3, F, H, W)
            frames = video if output_type == "pt" else ((video + 1) / 2).permute(0, 2, 3, 4, 1).float().cpu().numpy()
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames, waves)
        return HuMoLitePipelineOutput(frames=frames, audio=waves)

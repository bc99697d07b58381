"""``HuMoLitePipeline``: prompt (+ reference image, + audio) → video, the diffusers way.

Shaped like diffusers' ``WanPipeline`` (``pipelines/wan/pipeline_wan.py``): ``check_inputs`` →
``encode_prompt`` → the conditions (reference latents, audio windows) → ``prepare_latents`` → the
scheduler's denoising loop with classifier-free guidance → VAE decode. HuMo's ``generate.py`` does the
same with its three conditions (``docs/paper_notes.md`` §2.2, §3.2, §7): the reference image becomes one
clean latent frame appended after the video, the audio one 8-frame window per latent frame.

**Guidance branches.** Every condition has a null: the null caption (no tokens, or ``negative_prompt``),
zero reference latents, zero audio windows. A *branch* is the set of conditions one DiT pass keeps
(:data:`CONDITIONS`); all branches a step needs run as rows of **one batched DiT call**
(:meth:`HuMoLitePipeline.branch_velocities`), and a guidance schedule (:mod:`humo_lite.guidance`)
says, at each step's σ, which branches to run and how to combine them. Every default is the paper's Eq. 4
with a time switch at σ = 0.98: ``v = v(∅) + s_t·[v(T) − v(∅)] + s_i·[v(TI) − v(T)] + s_a·[v(TIA) − v(TI)]``,
terms for conditions not given dropped. With text, image and audio (TIA) it is the *talking schedule*
(``guidance="talking"``): scales (text, image, audio) = (5, 3, 1) above the switch and (3, 7.5, 5.5) below, the two
phases chapter 07 chose on the ``validation_voice`` pool. In the other modes, and whenever a call gives a scale, it is
``guidance="adaptive"``: one text scale ``guidance_scale`` and one image scale ``image_guidance_scale``
throughout, the audio scale ``audio_guidance_scale`` only below the switch, each defaulting to
:data:`humo_lite.guidance.TOY_SCALES` (read at call time: one source). Any other schedule or preset name goes
in ``guidance=``.

Components (each saved in its own sub-folder by ``save_pretrained``; ``from_pretrained`` reloads them,
from a local folder and safetensors only): ``transformer`` (:class:`humo_lite.models.HuMoLiteDiT`),
``vae`` (diffusers ``AutoencoderKLWan``), ``text_encoder`` (:class:`humo_lite.models.text_encoder.TextEncoder`)
and ``scheduler`` (diffusers' ``UniPCMultistepScheduler`` or ``FlowMatchEulerDiscreteScheduler`` in
flow-matching mode). The word tokenizer is rebuilt from the fixed toy vocabulary, so it needs no files.

Prompts may only use the toy world's vocabulary (``humo_lite.data.captions.VOCAB``): a prompt with
other words stops with an error naming them, unless ``unknown_words="unk"`` maps them to ``<unk>``
(which the model has never seen, so they carry no meaning).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput, deprecate

from .data.audio import audio_features, audio_windows, check_audio, load_wav, resample
from .data.captions import NULL_CAPTION, Tokenizer
from .guidance import MODES, GuidanceSchedule, check_scale, default_schedule, get_schedule, humo_lite_schedule
from .io import check_safetensors, read_image, read_json
from .layouts import as_images, video_to_numpy
from .models.dit import HuMoLiteDiT  # noqa: F401  (imported so from_pretrained can find the class)
from .models.loading import check_component, check_config_file, check_local_folder, checking_once
from .models.text_encoder import TextEncoder  # noqa: F401  (likewise)
from .models.vae import decode_latents, encode_image, latent_shape
from .presets import SAMPLE_RATE, SAMPLES_PER_FRAME, check_num_frames

OUTPUT_TYPES = ("np", "pt", "latent")
MAX_FRAMES = 257  # 64 latent frames: far beyond what any checkpoint here was trained on (9 or 17 frames)
LARGE_SCALE = 30.0  # guidance scales beyond this (or below 0) are allowed, with a warning: frames turn flat
NO_GRAD_FRAMES = 1  # torch.no_grad as a decorator wraps __call__ in one more frame
GUIDANCE_NUMBER_DEPRECATION = ("a number as guidance=", "1.0.0")
"""diffusers' ``deprecate()`` takes the thing deprecated and a version at which it raises instead of warning, and
compares that version with *diffusers'* own (it is written for diffusers' code): 1.0.0 keeps it a warning on every
diffusers 0.x. When humo_lite drops the old meaning is said in the message."""


def stacklevel_to_caller(frames_below_call: int) -> int:
    """The ``stacklevel`` that makes a warning name the line that called the pipeline, for a warning issued
    ``frames_below_call`` frames below ``__call__`` (1: in a step ``__call__`` calls, such as ``check_inputs``;
    2: in a step of that step). Counted from the warning's frame: those frames, ``__call__``, torch.no_grad's
    wrapper around it (:data:`NO_GRAD_FRAMES`), then the caller's line."""
    return frames_below_call + 1 + NO_GRAD_FRAMES + 1


def _number_as_guidance_scale(guidance, guidance_scale: float) -> tuple:
    """``(guidance, guidance_scale)`` as a call means them: a number given as ``guidance=`` (its old meaning) is the
    text scale, with diffusers' ``deprecate()`` FutureWarning pointing at the caller's line."""
    if isinstance(guidance, (int, float)) and not isinstance(guidance, bool):
        deprecate(*GUIDANCE_NUMBER_DEPRECATION, "a number as guidance= is now guidance_scale= (diffusers' name); "
                  "guidance= takes a schedule or a preset name (humo_lite 0.2 drops the number)",
                  standard_warn=False, stacklevel=stacklevel_to_caller(2))  # deprecate, this, __call__, ...
        return None, guidance
    return guidance, guidance_scale


def _check_denoised(latents: torch.Tensor, schedule: GuidanceSchedule) -> None:
    """An error naming the guidance if the denoised latents are not all finite."""
    if not bool(torch.isfinite(latents).all()):
        formula = str(schedule).replace("\n", "; ")
        raise ValueError(f"the denoised latents became NaN or infinite (guidance {formula}: scales too large?); "
                         f"expected scales of about 1..{LARGE_SCALE:g}")


@dataclass
class HuMoLitePipelineOutput(BaseOutput):
    """``frames``: ``np`` → ``(B, F, H, W, 3)`` float in [0, 1]; ``pt`` → ``[B, 3, F, H, W]`` in [−1, 1];
    ``latent`` → the denoised latents. ``audio``: ``(B, F·640)`` at 16 kHz when audio was given, else None.
    ``dit_passes``: how many sample-passes through the DiT the call ran (batch rows x steps)."""

    frames: np.ndarray | torch.Tensor
    audio: np.ndarray | None = None
    dit_passes: int = 0


@dataclass
class Conditions:
    """What the DiT is conditioned on, for a batch of B prompts, with each condition's null.

    ``text_ctx [B, L, text_dim]`` / ``text_mask [B, L]`` and the text-off versions ``null_ctx`` /
    ``null_mask``; ``ref_latents [B, C, R, h, w]`` (None: no image); ``audio_ctx [B, F' + R, 8, 80]``
    windows (None: this DiT has no audio cross-attention). ``given`` is the set of conditions the caller
    supplied; a branch can only keep those.
    """

    text_ctx: torch.Tensor
    text_mask: torch.Tensor
    null_ctx: torch.Tensor
    null_mask: torch.Tensor
    ref_latents: torch.Tensor | None
    audio_ctx: torch.Tensor | None
    given: frozenset
    _rows: dict = field(default_factory=dict, repr=False, compare=False)  # branches -> (sources, rows)

    def rows(self, branches: list[frozenset]) -> dict[str, torch.Tensor]:
        """The DiT's keyword arguments for ``branches``, stacked branch-major: ``len(branches) * B`` rows. Built once
        per list of branches (every step of a phase asks for the same rows) and reused."""
        sources = (self.text_ctx, self.text_mask, self.null_ctx, self.null_mask, self.ref_latents, self.audio_ctx)
        built = self._rows.get(tuple(branches))
        if built is None or any(a is not b for a, b in zip(built[0], sources, strict=True)):  # a condition replaced
            built = self._rows[tuple(branches)] = (sources, self._stack(branches))
        return built[1]

    def _stack(self, branches: list[frozenset]) -> dict[str, torch.Tensor]:
        pick = lambda on, off, keep: torch.cat([on if keep(b) else off for b in branches])  # noqa: E731
        kwargs = {
            "text_ctx": pick(self.text_ctx, self.null_ctx, lambda b: "text" in b),
            "text_mask": pick(self.text_mask, self.null_mask, lambda b: "text" in b),
        }
        if self.ref_latents is not None:
            kwargs["ref_latents"] = pick(self.ref_latents, torch.zeros_like(self.ref_latents), lambda b: "image" in b)
        if self.audio_ctx is not None:
            kwargs["audio_ctx"] = pick(self.audio_ctx, torch.zeros_like(self.audio_ctx), lambda b: "audio" in b)
        return kwargs


def check_mode(mode: str | None, image, audio, has_audio_layer: bool = True) -> None:
    """``mode`` (optional) against what was given: an error naming the missing or extra condition; an audio mode
    (TA, TIA) asked of a checkpoint without audio cross-attention is an error too."""
    if mode is None:
        return
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    given = {"text"} | ({"image"} if image is not None else set()) | ({"audio"} if audio is not None else set())
    argument = {"image": "image=", "audio": "audio="}
    missing, extra = sorted(MODES[mode] - given), sorted(given - MODES[mode])
    if missing:
        raise ValueError(f"mode {mode!r} needs {argument[missing[0]]} (the {missing[0]} condition), which was "
                         "not given")
    if extra:
        raise ValueError(f"mode {mode!r} has no {extra[0]}, but {argument[extra[0]]} was given")
    if mode in ("TA", "TIA") and not has_audio_layer:
        raise ValueError(f"mode {mode!r} needs a checkpoint with audio layers (stage 2: humo-lite train stage2, or "
                         "data_samples/checkpoints/<preset>-stage2); this one has no audio cross-attention")


def _component_class(folder, name: str, entry):
    """The class ``model_index.json`` names for component ``name``, from diffusers or humo_lite only."""
    import importlib

    path = folder / "model_index.json"
    if (not isinstance(entry, list) or len(entry) != 2 or not all(isinstance(e, str) for e in entry)):
        raise ValueError(f"{path}: field {name!r} must be [library, class name], got {entry!r}")
    library, class_name = entry
    if library != "diffusers" and not library.startswith("humo_lite."):
        raise ValueError(f"{path}: field {name!r} names library {library!r}; expected diffusers or humo_lite.* "
                         "(nothing else is imported from a checkpoint)")
    try:
        return getattr(importlib.import_module(library), class_name)
    except (ImportError, AttributeError):
        raise ValueError(f"{path}: field {name!r} names {library}.{class_name}, which does not exist") from None


def check_checkpoint_preset(folder, preset) -> None:
    """An error unless the pipeline folder makes the preset's clips (size and frames, and the manifest's preset)."""
    from pathlib import Path

    from .presets import get_preset

    preset = get_preset(preset)
    folder = check_local_folder(folder, "pipeline", needs=("model_index.json",))
    index = read_json(Path(folder) / "model_index.json")
    world = preset.world
    made = (index.get("height"), index.get("width"), index.get("num_frames"))
    manifest = read_json(Path(folder) / "manifest.json") if (Path(folder) / "manifest.json").is_file() else {}
    named = manifest.get("preset")
    if made != (world.height, world.width, world.num_frames) or (named is not None and named != preset.name):
        raise ValueError(f"checkpoint {folder} was made for {'preset ' + repr(named) if named else 'another preset'} "
                         f"({made[0]}x{made[1]}, {made[2]} frames), not {preset.name!r} ({world.height}x{world.width}, "
                         f"{world.num_frames} frames); pass --preset {named or '<its preset>'} or a {preset.name} "
                         "checkpoint")


def _flat(image) -> list:
    """Every item of a (nested list of) reference image(s)."""
    if image is None:
        return []
    if isinstance(image, (list, tuple)):
        return [i for item in image for i in _flat(item)]
    return [image]


class HuMoLitePipeline(DiffusionPipeline):
    """Text (+ image, + audio) to video with a HuMo-lite checkpoint.

    >>> pipe = HuMoLitePipeline.from_pretrained("data_samples/checkpoints/humo-micro")
    >>> out = pipe("a person in a red shirt stands in the centre of a blue room, nodding",
    ...            generator=torch.Generator().manual_seed(0))
    >>> out.frames.shape                       # (1, 17, 32, 32, 3), floats in [0, 1]
    """

    model_cpu_offload_seq = "text_encoder->transformer->vae"

    def __init__(self, transformer, vae, text_encoder, scheduler, height: int = 32, width: int = 32,
                 num_frames: int = 17, null_reference_frames: int = 0):
        super().__init__()
        if not isinstance(null_reference_frames, int) or null_reference_frames < 0:
            raise ValueError(f"null_reference_frames must be a whole number >= 0, got {null_reference_frames!r}")
        self.register_modules(transformer=transformer, vae=vae, text_encoder=text_encoder, scheduler=scheduler)
        self.register_to_config(height=height, width=width, num_frames=check_num_frames(num_frames),
                                null_reference_frames=null_reference_frames)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a pipeline folder written by ``save_pretrained``: local only, safetensors only.

        A missing folder, a missing ``model_index.json`` or a truncated weights file is a clear error
        before anything loads; each component then loads strictly (:mod:`humo_lite.models.loading`).
        """
        folder = check_local_folder(pretrained_model_name_or_path, "pipeline", needs=("model_index.json",),
                                    make_it="train one with `humo-lite train stage0` or use data_samples/checkpoints/")
        for weights in sorted(folder.rglob("*.safetensors")):  # the VAE too, which diffusers loads itself
            check_safetensors(weights)
        index = check_config_file(folder / "model_index.json", cls)
        kwargs["use_safetensors"] = True
        with checking_once():
            for name in ("transformer", "vae", "text_encoder", "scheduler"):
                if name not in index:
                    raise ValueError(f"{folder / 'model_index.json'} lacks the component {name!r}")
                component = _component_class(folder, name, index[name])
                config = "scheduler_config.json" if name == "scheduler" else "config.json"
                check_local_folder(folder / name, name, needs=(config,))
                check_component(folder / name, component, config)
            try:
                return super().from_pretrained(folder, **kwargs)
            except (ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
                raise ValueError(f"could not load the pipeline at {folder}: {exc}") from None

    # 1. Inputs -----------------------------------------------------------------------------------------
    def check_inputs(self, prompt, negative_prompt, image, audio, sample_rate, num_inference_steps,
                     output_type, num_frames, latents, generator=None) -> list[str]:
        """Every argument checked before any work; returns the prompts as a list. Errors say what was expected."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, (list, tuple)) else None
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise TypeError(f"prompt must be a string or a non-empty list of strings, got {prompt!r}")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise TypeError(f"negative_prompt must be a string (one for all prompts), got {negative_prompt!r}")
        max_steps = int(self.scheduler.config.num_train_timesteps)
        if (isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer))
                or num_inference_steps < 1):
            raise ValueError(f"num_inference_steps must be a whole number >= 1, got {num_inference_steps!r}")
        if num_inference_steps > max_steps:
            raise ValueError(f"num_inference_steps must be a whole number in 1..{max_steps} (the scheduler's "
                             f"num_train_timesteps), got {num_inference_steps!r}")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or not 1 <= num_frames <= MAX_FRAMES:
            raise ValueError(f"num_frames must be a whole number 4k+1 in 1..{MAX_FRAMES}, got {num_frames!r} "
                             f"(None: the checkpoint's {self.config.num_frames})")
        check_num_frames(num_frames)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(42)) or None, "
                            f"got {type(generator).__name__} {generator!r:.40}")
        if latents is not None and not (isinstance(latents, torch.Tensor) and latents.is_floating_point()):
            raise TypeError(f"latents must be a float torch.Tensor, got {type(latents).__name__}")
        if latents is not None and not bool(torch.isfinite(latents).all()):
            raise ValueError("latents contain NaN or infinite values; expected Gaussian noise")
        for item in _flat(image):
            if isinstance(item, (str, os.PathLike)) and not os.path.isfile(item):
                raise FileNotFoundError(f"reference image file not found: {item}")
        if image is not None and not self.config.get("null_reference_frames", 0):
            warnings.warn("this checkpoint was trained without a reference image (stage 0, text only): the image is "
                          "fed to a model that never learnt to use it; use a stage-1 or stage-2 checkpoint",
                          stacklevel=stacklevel_to_caller(1))
        if audio is not None and sample_rate is not None and any(
                isinstance(a, (str, os.PathLike)) for a in (audio if isinstance(audio, (list, tuple)) else [audio])):
            warnings.warn(f"sample_rate={sample_rate!r} is ignored for an audio file: its own rate is read from the "
                          "file (and resampled to 16 kHz)", stacklevel=stacklevel_to_caller(1))
        if audio is not None and not isinstance(audio, (str, os.PathLike)) and sample_rate is None:
            raise ValueError("audio given as an array needs its sample_rate= (e.g. sample_rate=16000 for the "
                             "world's audio; other rates are resampled to 16 kHz); a file path needs none")
        if latents is not None and tuple(latents.shape) != self.latent_shape(len(prompts), num_frames):
            raise ValueError(f"latents must have shape {self.latent_shape(len(prompts), num_frames)}, "
                             f"got {tuple(latents.shape)}")
        for p in prompts:
            if not p.strip():
                warnings.warn("an empty prompt encodes to the null caption (no tokens): that clip is generated "
                              "without text, and text guidance has nothing to amplify for it",
                              stacklevel=stacklevel_to_caller(1))
        return prompts

    def encode_prompt(self, prompt: list[str], unknown_words: str = "error") -> tuple[torch.Tensor, torch.Tensor]:
        """Captions → text context ``[B, L, text_dim]`` and mask ``[B, L]``; the empty caption has no tokens."""
        ids, mask = Tokenizer(on_unknown=unknown_words).encode(list(prompt))
        device = self._execution_device
        return self.text_encoder(ids.to(device), mask.to(device)), mask.to(device)

    def prepare_image_latents(self, image, batch: int) -> torch.Tensor:
        """Reference image(s) (PIL / array / tensor, :func:`humo_lite.layouts.as_images`) → ``[B, C, R, h, w]``.

        Several images (a list, or a batch ``[R, 3, H, W]``) become R appended frames, as HuMo's code
        concatenates several references on the time axis; they serve every prompt. A list of ``B`` lists
        gives each prompt its own references (the same number R for each).
        """
        per_prompt = isinstance(image, (list, tuple)) and len(image) > 0 and all(
            isinstance(refs, (list, tuple)) for refs in image)
        if per_prompt:
            if len(image) != batch or len({len(refs) for refs in image}) != 1:
                raise ValueError(f"per-prompt references: expected {batch} lists (one per prompt) of the same "
                                 f"length, got lengths {[len(refs) for refs in image]}")
            return torch.cat([self.prepare_image_latents(list(refs), 1) for refs in image])
        if isinstance(image, (str, os.PathLike)):
            image = read_image(image, "reference image")
        elif isinstance(image, (list, tuple)):
            image = [read_image(i, "reference image") if isinstance(i, (str, os.PathLike)) else i for i in image]
        pixels = as_images(image)  # (R, 3, H, W) in [0, 1]
        height, width = self.config.height, self.config.width
        if pixels.shape[-2:] != (height, width):
            raise ValueError(f"reference image is {pixels.shape[-2]}x{pixels.shape[-1]}, the model makes "
                             f"{height}x{width} videos; resize it first")
        latents = encode_image(self.vae, pixels.to(self._execution_device) * 2 - 1)  # (R, C, 1, h, w)
        latents = latents.permute(2, 1, 0, 3, 4)  # (1, C, R, h, w): the references side by side in time
        return latents.expand(batch, -1, -1, -1, -1)

    def null_image_latents(self, batch: int, num_frames: int) -> torch.Tensor | None:
        """Without an image: the null reference a model trained with references was given when its
        reference was dropped — ``null_reference_frames`` all-zero latent frames — or None (stage 0)."""
        if not self.config.get("null_reference_frames", 0):
            return None
        c, _, h, w = self.latent_shape(1, num_frames)[1:]
        return torch.zeros(batch, c, self.config.null_reference_frames, h, w, device=self._execution_device)

    def prepare_audio(self, audio, sample_rate: int | None, batch: int, num_frames: int,
                      num_ref_frames: int = 0) -> tuple[np.ndarray, torch.Tensor]:
        """Speech (a path, or arrays at ``sample_rate``) → cut 16 kHz waveforms ``(B, S)`` and windows.

        One clip for all prompts or one per prompt. Audio longer than the clip is **cut** to the clip's
        length (a warning says so when it is more than twice as long); shorter audio is an error. Windows
        ``[B, F' + R, 8, 80]`` (:func:`humo_lite.data.audio.audio_windows`): reference frames get zeros.
        """
        clips = list(audio) if isinstance(audio, (list, tuple)) else [audio] * batch
        if len(clips) != batch:
            raise ValueError(f"got {len(clips)} audio clips for {batch} prompts")
        need = num_frames * SAMPLES_PER_FRAME
        waves = []
        for clip in clips:
            wave = load_wav(clip) if isinstance(clip, (str, os.PathLike)) else resample(clip, sample_rate)
            if len(wave) < need:
                covered = len(wave) // SAMPLES_PER_FRAME
                latent = 0 if covered < 1 else (covered - 1) // 4 + 1
                raise ValueError(f"audio is too short: {len(wave)} samples ({len(wave) / SAMPLE_RATE:.3f} s at "
                                 f"{SAMPLE_RATE} Hz) cover {latent} of the clip's {(num_frames - 1) // 4 + 1} latent "
                                 f"frames; the {num_frames}-frame clip needs {need} samples "
                                 f"({need / SAMPLE_RATE:.2f} s)")
            wave = check_audio(wave, min_samples=need)
            if not np.any(wave):
                warnings.warn("the audio is all zeros: that is the null audio ('audio off'), so the lips follow "
                              "nothing", stacklevel=stacklevel_to_caller(2))
            if len(wave) > 2 * need:
                warnings.warn(f"audio is {len(wave) / SAMPLE_RATE:.2f} s, the clip {need / SAMPLE_RATE:.2f} s: only "
                              f"its first {need / SAMPLE_RATE:.2f} s are used", stacklevel=stacklevel_to_caller(2))
            waves.append(wave[:need])
        waves = np.stack(waves)  # (B, S)
        windows = [audio_windows(audio_features(w, num_frames)[0], num_ref_frames) for w in waves]
        return waves, torch.from_numpy(np.stack(windows))

    def latent_shape(self, batch: int, num_frames: int) -> tuple[int, ...]:
        """``(B, C, F', h, w)`` of the video latents, from the VAE's own strides and channels."""
        return (batch, *latent_shape(self.vae, num_frames, self.config.height, self.config.width))

    def prepare_latents(self, batch: int, num_frames: int, generator: torch.Generator | None = None,
                        latents: torch.Tensor | None = None) -> torch.Tensor:
        """Initial noise ``[B, C, F', h, w]``, drawn on the CPU so a seed gives the same video on any device."""
        if latents is None:
            latents = torch.randn(self.latent_shape(batch, num_frames), generator=generator, dtype=torch.float32)
        return latents.to(self._execution_device, torch.float32)

    def prepare_conditions(self, prompts, negative_prompt, image, audio, sample_rate, num_frames,
                           unknown_words) -> tuple[Conditions, np.ndarray | None]:
        """Encode every condition once: text (and its null), reference latents, audio windows."""
        batch = len(prompts)
        text_ctx, text_mask = self.encode_prompt(prompts, unknown_words)  # (B, L, text_dim), (B, L)
        null_ctx, null_mask = self.encode_prompt([negative_prompt or NULL_CAPTION] * batch, unknown_words)
        ref = self.prepare_image_latents(image, batch) if image is not None else self.null_image_latents(
            batch, num_frames)
        given = {"text"} | ({"image"} if image is not None else set())
        has_audio_layer = "audio" in (self.transformer.config.conditions or {})
        waves, windows = None, None
        if audio is not None:
            num_ref = 0 if ref is None else ref.shape[2]
            waves, windows = self.prepare_audio(audio, sample_rate, batch, num_frames, num_ref)
            given.add("audio")
            if not has_audio_layer:
                warnings.warn("this checkpoint has no audio cross-attention (stage 0/1); the audio is returned "
                              "with the frames but does not drive the lips", stacklevel=stacklevel_to_caller(1))
        if has_audio_layer and windows is None:  # the audio layer always runs; "no audio" is zero windows
            frames = self.latent_shape(1, num_frames)[2] + (0 if ref is None else ref.shape[2])
            windows = torch.zeros(batch, frames, *audio_windows(np.zeros((num_frames, 80), np.float32)).shape[1:])
        audio_ctx = windows.to(self._execution_device) if has_audio_layer else None
        return Conditions(text_ctx, text_mask, null_ctx, null_mask, ref, audio_ctx, frozenset(given)), waves

    # 2. One step ---------------------------------------------------------------------------------------
    @staticmethod
    def guidance_schedule(guidance, guidance_scale: float | None = None, image_guidance_scale: float | None = None,
                          audio_guidance_scale: float | None = None) -> GuidanceSchedule:
        """The schedule a call uses: ``guidance`` (a schedule or a preset name); with no schedule and no scale the
        default (:func:`~humo_lite.guidance.default_schedule`: the talking schedule in TIA mode); with a scale, the
        adaptive Eq. 4 built from the three (one left as None: :data:`~humo_lite.guidance.TOY_SCALES`'). Giving
        both a schedule and a scale is an error (which would win?)."""
        scales = {"guidance_scale": guidance_scale, "image_guidance_scale": image_guidance_scale,
                  "audio_guidance_scale": audio_guidance_scale}
        for name, value in scales.items():
            if value is None:
                continue
            check_scale(value, name)
            if value < 0 or value > LARGE_SCALE:
                what = "negative (it pushes away from the condition)" if value < 0 else "very large"
                warnings.warn(f"{name}={value:g} is {what}: expect washed-out or flat frames; scales of "
                              f"1..{LARGE_SCALE:g} are the useful range (1 = no guidance on that condition)",
                              stacklevel=stacklevel_to_caller(1))
        if guidance is None and all(value is None for value in scales.values()):
            return default_schedule()  # the talking schedule in TIA mode, else humo_lite_schedule()
        if guidance is None:
            return humo_lite_schedule(guidance_scale, image_guidance_scale, audio_guidance_scale)
        changed = [name for name, value in scales.items() if value is not None]
        if changed:
            raise ValueError(f"guidance={guidance!r} carries its own scales; drop {', '.join(changed)} or build a "
                             "schedule with them (humo_lite.guidance.humo_lite_schedule)")
        return get_schedule(guidance)

    def sigma_of(self, t: torch.Tensor) -> float:
        """A scheduler timestep as the noise level σ ∈ [0, 1] the guidance phases are written in."""
        return float(t) / self.scheduler.config.num_train_timesteps

    @staticmethod
    def effective_given(conditions: Conditions) -> frozenset:
        """The given conditions the DiT can use: audio only with an audio cross-attention."""
        return conditions.given - ({"audio"} if conditions.audio_ctx is None else set())

    def branch_velocities(self, latents: torch.Tensor, t: torch.Tensor, conditions: Conditions,
                          branches: list[frozenset]) -> list[torch.Tensor]:
        """The DiT's velocity for each branch, all branches as rows of one batched call: ``[B, C, F', h, w]`` each."""
        rows = torch.cat([latents] * len(branches))  # (n*B, C, F', h, w)
        velocity = self.transformer(rows, t.expand(len(rows)), **conditions.rows(branches)).sample
        return list(velocity.chunk(len(branches)))

    # 3. The call --------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self, prompt: str | list[str], image=None, audio=None, sample_rate: int | None = None,
        num_inference_steps: int = 20, guidance_scale: float | None = None, negative_prompt: str | None = None,
        generator: torch.Generator | None = None, latents: torch.Tensor | None = None, output_type: str = "np",
        num_frames: int | None = None, unknown_words: str = "error", return_dict: bool = True,
        guidance: str | GuidanceSchedule | None = None, image_guidance_scale: float | None = None,
        audio_guidance_scale: float | None = None, mode: str | None = None,
    ) -> HuMoLitePipelineOutput | tuple:
        """Generate one clip per prompt.

        Args:
            prompt: caption(s) in the toy vocabulary. An empty caption is the null text (a warning says so).
            image: reference image(s) at the model's size (PIL RGB/RGBA, ``(H, W, 3|4)`` arrays — uint8,
                uint16 or floats in [0, 1] — or ``[3, H, W]`` tensors in [−1, 1]); one for all prompts; a list
                of several becomes several appended reference frames; a list of one list per prompt gives
                each prompt its own. Without one, a stage-1/2 checkpoint gets its null reference (zeros).
            audio: speech, one for all prompts or one per prompt: a WAV path, or a mono array with its
                ``sample_rate`` (resampled to 16 kHz). At least the clip's length; longer audio is cut.
            num_inference_steps: scheduler steps (>= 1).
            guidance_scale, image_guidance_scale, audio_guidance_scale: the weights of HuMo's Eq. 4 with its time
                switch (:func:`humo_lite.guidance.humo_lite_schedule`): text, image (its term exists in TI / TIA
                mode) and audio (TA / TIA, below σ = 0.98); one left as None: :data:`humo_lite.guidance.TOY_SCALES`'
                (text 5, image 5, audio 5.5). All three None (the default): the default schedule — the same in T, TI
                and TA mode, and in TIA the talking schedule (:func:`humo_lite.guidance.talking_schedule`: text 5,
                image 3 above σ 0.98; text 3, image 7.5, audio 5.5 below). A scale of 1 means no guidance
                on that condition — it is still given, not amplified. Only ``guidance_scale=1`` saves a branch
                (one DiT pass fewer per step: Eq. 4's first term folds into its base); ``image_guidance_scale=1``
                and ``audio_guidance_scale=1`` keep every branch (their term's two branches still differ).
            guidance: instead, a :class:`~humo_lite.guidance.GuidanceSchedule` or a preset name
                (:data:`humo_lite.guidance.PRESETS`: ``"default"``, ``"talking"``, ``"adaptive"``, ``"static-a"``,
                ``"static-b"``, ``"text"``, ``"humo-17b"``, ``"humo-1.7b"``), which carries its own scales.
            negative_prompt: the text of the text-off branches (default: the null caption).
            mode: optional check, ``"T"``, ``"TI"``, ``"TA"`` or ``"TIA"``: an error if the conditions
                given are not exactly those the mode needs.
            generator: a ``torch.Generator`` for the initial noise (on the CPU: same seed, same bytes), or
                ``latents``: the initial noise itself, ``[B, C, F', h, w]``.
            output_type: ``"np"``, ``"pt"`` or ``"latent"``. num_frames: 4k+1 (default: the checkpoint's).
            unknown_words: ``"error"`` (default) or ``"unk"``.

        Returns :class:`HuMoLitePipelineOutput`; its ``dit_passes`` counts the DiT rows the call ran.
        """
        guidance, guidance_scale = _number_as_guidance_scale(guidance, guidance_scale)  # the old meaning, deprecated
        num_frames = self.config.num_frames if num_frames is None else num_frames
        prompts = self.check_inputs(prompt, negative_prompt, image, audio, sample_rate, num_inference_steps,
                                    output_type, num_frames, latents, generator)
        schedule = self.guidance_schedule(guidance, guidance_scale, image_guidance_scale, audio_guidance_scale)
        check_mode(mode, image, audio, "audio" in (self.transformer.config.conditions or {}))

        # 1. Conditions, encoded once: text (and its null), reference latents, audio windows.
        conditions, waves = self.prepare_conditions(prompts, negative_prompt, image, audio, sample_rate,
                                                    num_frames, unknown_words)
        # 2. Initial noise.
        latents = self.prepare_latents(len(prompts), num_frames, generator, latents)
        # 3. Denoising loop, guided by the schedule.
        latents, passes = self.denoise(latents, conditions, schedule, num_inference_steps)
        _check_denoised(latents, schedule)
        # 4. Decode.
        frames = self.decode(latents, output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames, waves)
        return HuMoLitePipelineOutput(frames=frames, audio=waves, dit_passes=passes)

    def denoise(self, latents: torch.Tensor, conditions: Conditions, schedule: GuidanceSchedule,
                num_inference_steps: int, on_step=None) -> tuple[torch.Tensor, int]:
        """The denoising loop: at each step the schedule's phase names its branches; they run as rows of one
        batched DiT call (:meth:`branch_velocities`), are combined, and the scheduler takes one step. Returns the
        denoised latents and the number of DiT passes (batch rows x steps). ``on_step(i, t, latents, velocity)``,
        when given, sees each step's input latents and guided velocity (for looking, as chapter 07 does)."""
        self.scheduler.set_timesteps(num_inference_steps, device=self._execution_device)
        passes = 0
        for i, t in enumerate(self.progress_bar(self.scheduler.timesteps)):
            branches, combine = schedule.plan(self.sigma_of(t), self.effective_given(conditions))
            velocity = combine(self.branch_velocities(latents, t, conditions, branches))
            if on_step is not None:
                on_step(i, t, latents, velocity)
            latents = self.scheduler.step(velocity, t, latents).prev_sample
            passes += len(branches) * len(latents)
        return latents, passes

    def decode(self, latents: torch.Tensor, output_type: str = "np"):
        """Latents → frames in ``output_type`` (``"latent"`` returns them as they are)."""
        if output_type == "latent":
            return latents
        video = decode_latents(self.vae, latents).clamp(-1, 1)  # (B, 3, F, H, W)
        return video if output_type == "pt" else video_to_numpy(video.float().cpu())

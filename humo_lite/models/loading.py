"""Every shipped network loads one way: a local diffusers folder, safetensors only, strictly.

diffusers' ``ModelMixin.from_pretrained`` is forgiving in three ways a tutorial should not be: a path
that does not exist is tried as a Hub repository (our code never downloads anything), a weights file
may fall back to a pickled ``.bin``, and keys that do not match the config are reported as a warning
while the model is left half-initialised. :class:`StrictModelMixin` closes all three:

- the folder must exist locally, with its ``config.json`` (else ``FileNotFoundError`` naming it);
- weights are read from safetensors only (``use_safetensors=True``), and a truncated or corrupted
  file is named before anything is loaded (:func:`humo_lite.io.check_safetensors`);
- a missing, unexpected or mis-shaped key is an error that names the first such key.

The DiT, the text encoder and the judge inherit it; the VAE is diffusers' own class and goes through
:func:`check_local_folder` the same way (:func:`humo_lite.models.vae.load_vae`).

Before diffusers reads anything, :func:`check_component` checks a component folder and names the file and
the field of what is wrong: invalid JSON, a field of the wrong type or an impossible size (each field is
checked against the type of the class's own default), a config that cannot be built, weights whose names or
shapes differ from what the config describes (with the config fields that may have been edited), and NaN or
infinite weights. A folder whose ``manifest.json`` records SHA-256 checksums has them verified
(:func:`humo_lite.io.verify_checksums`), which also catches a finite flipped bit.

A quirk worth knowing: when a pipeline loads a component, diffusers finds its loading method by looking
``ModelMixin`` up *in the module the component's class lives in* (the library named in
``model_index.json``). Every module that defines a pipeline component therefore imports ``ModelMixin``
from here, even if it does not use the name.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections.abc import Iterator
from pathlib import Path

from diffusers.models.modeling_utils import ModelMixin

from ..io import check_finite_tensors, check_safetensors, read_json, verify_checksums

MODEL_WEIGHTS = "diffusion_pytorch_model.safetensors"  # the file diffusers' save_pretrained writes
_CHECKED: set[str] | None = None  # folders already checked during the current pipeline load (checked once)


@contextlib.contextmanager
def checking_once() -> Iterator[set[str]]:
    """While a pipeline loads, each component folder checked by the pipeline is not checked again by its class."""
    global _CHECKED
    outer, _CHECKED = _CHECKED, set()
    try:
        yield _CHECKED
    finally:
        _CHECKED = outer


def _type_problem(value, default) -> str | None:
    """What is wrong with a config ``value`` given the type of its default (None: nothing)."""
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        return "must be a whole number >= 1 (a size or a count)" if default >= 1 and value < 1 else None
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a finite number"
        return None
    if isinstance(default, str):
        return None if isinstance(value, str) else "must be a string"
    if isinstance(default, (list, tuple)):
        return None if isinstance(value, list) else "must be a list"
    if isinstance(default, dict):
        return None if isinstance(value, dict) else "must be an object {...}"
    return None


def check_config_file(path: str | os.PathLike, cls) -> dict:
    """A component's config file as a dict, each field checked against ``cls.__init__``'s default's type."""
    path = Path(path)
    config = read_json(path, f"{cls.__name__} config")
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name in config:
            problem = _type_problem(config[name], param.default)
            if problem:
                raise ValueError(f"{path}: field {name!r} {problem} (like its default {param.default!r}), got "
                                 f"{config[name]!r}")
    return config


def check_component(folder: str | os.PathLike, cls, config_name: str = "config.json") -> None:
    """Check a component folder before diffusers loads it; one error naming the file and field or key.

    Config: valid JSON, fields of the right type (:func:`check_config_file`), buildable. Weights (every
    ``.safetensors`` file): the names and shapes the config describes, and finite values.
    """
    import torch
    from safetensors import safe_open

    folder = Path(folder)
    if _CHECKED is not None and str(folder.resolve()) in _CHECKED:
        return
    config_path = folder / config_name
    config = check_config_file(config_path, cls)
    weights = sorted(folder.glob("*.safetensors"))
    try:
        model = cls.from_config(config)
    except Exception as exc:  # any failure to build is a config problem; name it
        raise ValueError(f"{config_path}: cannot build a {cls.__name__} from it ({type(exc).__name__}: {exc}); "
                         f"restore the file") from None
    for file in weights:
        with safe_open(file, "pt") as handle:
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        check_finite_tensors(tensors, str(file))
        if file.name != MODEL_WEIGHTS or not isinstance(model, torch.nn.Module):
            continue  # other tensors beside a model (the judge's statistics): finite is all we can check
        own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
        if missing or unexpected:
            key = (missing or unexpected)[0]
            raise ValueError(f"{file}: {'lacks' if missing else 'has an unexpected'} tensor {key!r} "
                             f"({len(missing)} missing, {len(unexpected)} unexpected) for the {cls.__name__} its "
                             f"{config_name} describes; the config and the weights do not belong together")
        for key, shape in own.items():
            found = tuple(tensors[key].shape)
            if found != shape:
                differ = {o for o, f in zip(shape, found, strict=False) if o != f}
                differ |= {*shape} if len(shape) != len(found) else set()
                fields = sorted(n for n, v in config.items() if isinstance(v, int) and not isinstance(v, bool)
                                and (v in differ or 2 * v in differ) and not n.startswith("_"))
                raise ValueError(f"{file}: tensor {key!r} has shape {found}, but {config_path.name} describes "
                                 f"{shape}: the config does not match the weights"
                                 f"{' (check field ' + ', '.join(fields) + ')' if fields else ''}")
    if _CHECKED is not None:
        _CHECKED.add(str(folder.resolve()))


def check_local_folder(path: str | os.PathLike, what: str, needs: tuple[str, ...] = ("config.json",),
                       make_it: str = "") -> Path:
    """Raise a clear error unless ``path`` is a local folder holding ``needs`` and readable safetensors."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no {what} folder at {path} (expected a local folder with {', '.join(needs)})"
                                f"{'; ' + make_it if make_it else ''}")
    missing = [name for name in needs if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{what} folder {path} lacks {missing}{'; ' + make_it if make_it else ''}")
    weights = sorted(path.glob("*.safetensors"))
    if "config.json" in needs and not weights:
        raise FileNotFoundError(f"{what} folder {path} has a config.json but no .safetensors weights")
    for file in sorted(path.rglob("*.safetensors")):  # a truncated file is named as such, before its checksum
        check_safetensors(file)
    verify_checksums(path)
    return path


class StrictModelMixin(ModelMixin):
    """``ModelMixin`` whose ``from_pretrained`` is local, safetensors-only and strict (module docstring)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """diffusers' ``from_pretrained``, made strict; the error names the first key that does not match."""
        folder = check_local_folder(pretrained_model_name_or_path, cls.__name__)
        check_component(folder, cls)
        output_loading_info = kwargs.pop("output_loading_info", False)
        kwargs["use_safetensors"] = True
        try:
            model, info = super().from_pretrained(folder, output_loading_info=True, **kwargs)
        except ValueError as error:  # diffusers' own shape check names the key; say which checkpoint
            raise ValueError(f"checkpoint {folder} does not match the config: {error}") from None
        for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
            if info.get(kind):
                keys = sorted(k if isinstance(k, str) else k[0] for k in info[kind])
                raise ValueError(
                    f"checkpoint {folder} does not match the config: "
                    f"{kind.replace('_', ' ')[:-1]} {keys[0]!r} ({len(keys)} in all)"
                )
        return (model, info) if output_loading_info else model

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

A quirk worth knowing: when a pipeline loads a component, diffusers finds its loading method by looking
``ModelMixin`` up *in the module the component's class lives in* (the library named in
``model_index.json``). Every module that defines a pipeline component therefore imports ``ModelMixin``
from here, even if it does not use the name.
"""

from __future__ import annotations

import os
from pathlib import Path

from diffusers.models.modeling_utils import ModelMixin

from ..io import check_safetensors


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
    for file in weights:
        check_safetensors(file)
    return path


class StrictModelMixin(ModelMixin):
    """``ModelMixin`` whose ``from_pretrained`` is local, safetensors-only and strict (module docstring)."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """diffusers' ``from_pretrained``, made strict; the error names the first key that does not match."""
        folder = check_local_folder(pretrained_model_name_or_path, cls.__name__)
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

"""humo_lite: HuMo (text + reference image + audio -> talking-human video) at laptop-CPU size.

Start with the notebooks in ``notebooks/``; the library is organised like the model:
``data`` (the toy world), ``models``, ``training``, ``guidance``, ``eval`` and ``viz``.

The pipeline and model classes are importable from the top level (``humo_lite.HuMoLitePipeline``);
they are imported lazily, so ``import humo_lite`` stays fast.
"""

from importlib import import_module

from .presets import PRESETS, get_preset

__version__ = "0.1.0"

_LAZY = {
    "HuMoLitePipeline": "humo_lite.pipeline",
    "HuMoLitePipelineOutput": "humo_lite.pipeline",
    "HuMoLiteDiT": "humo_lite.models.dit",
    "TextEncoder": "humo_lite.models.text_encoder",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'humo_lite' has no attribute {name!r}")


__all__ = ["PRESETS", "get_preset", "__version__", *_LAZY]

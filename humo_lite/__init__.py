"""humo_lite: HuMo (text + reference image + audio -> talking-human video) at laptop-CPU size.

Start with the notebooks in ``notebooks/``; the library is organised like the model:
``data`` (the toy world), ``models``, ``training``, ``guidance``, ``eval`` and ``viz``.
"""

from .presets import PRESETS, get_preset

__version__ = "0.1.0"
__all__ = ["PRESETS", "get_preset", "__version__"]

"""cyclegan-lit: the official CycleGAN on PyTorch Lightning and Hydra."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Imported on first use, so that `import cyclegan_lit` (and cyclegan-data) stays light.
_EXPORTS = {"translate": "cyclegan_lit.inference.translate"}
__all__ = ["translate"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

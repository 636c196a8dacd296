"""Lightning callbacks (image grids, throughput, saving on interrupt) and Hydra callbacks (sweep
guard and summary).

Names are imported lazily: Hydra builds the sweep callbacks (``sweep``, torch-free) before a run
starts, and Lightning is then imported only once the run needs it, after Hydra has set up the
run's logging, so that Lightning's lines reach ``train.log``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImageGridLogger": "image_grid",
    "visuals_to_grid": "image_grid",
    "SaveOnInterrupt": "interrupt",
    "RefuseDDPInMultirun": "sweep",
    "SweepSummary": "sweep",
    "Throughput": "throughput",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

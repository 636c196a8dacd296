"""Lightning callbacks (image grids, throughput, threads for the free cores, saving inside an
epoch and on interrupt) and Hydra callbacks (sweep guard and summary).

Names are imported lazily: Hydra builds the sweep callbacks (``sweep``, torch-free) before a run
starts, and Lightning is then imported only once the run needs it, after Hydra has set up the
run's logging, so that Lightning's lines reach ``train.log``.
"""

from __future__ import annotations

from cyclegan_lit.lazy_exports import lazy_getattr

_EXPORTS = {
    "FreeCoreThreads": "free_cores",
    "ImageGridLogger": "image_grid",
    "visuals_to_grid": "image_grid",
    "IntervalCheckpoint": "interval_checkpoint",
    "SaveOnInterrupt": "interrupt",
    "RefuseDDPInMultirun": "sweep",
    "SweepSummary": "sweep",
    "Throughput": "throughput",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)

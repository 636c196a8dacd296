"""Lightning callbacks (image grids, throughput, saving on interrupt) and Hydra callbacks (sweep
guard and summary)."""

from cyclegan_lit.callbacks.image_grid import ImageGridLogger, visuals_to_grid
from cyclegan_lit.callbacks.interrupt import SaveOnInterrupt
from cyclegan_lit.callbacks.sweep import RefuseDDPInMultirun, SweepSummary
from cyclegan_lit.callbacks.throughput import Throughput

__all__ = [
    "ImageGridLogger",
    "RefuseDDPInMultirun",
    "SaveOnInterrupt",
    "SweepSummary",
    "Throughput",
    "visuals_to_grid",
]

"""Data: image decoding, preprocessing, unpaired folders, the synthetic dataset, the DataModule.

Names are imported lazily, so `cyclegan-data` (registry and downloads only) starts without
importing torch and Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "UnpairedDataModule": "datamodule",
    "PairedEvalDataset": "folder",
    "SingleFolderDataset": "folder",
    "UnpairedImageDataset": "folder",
    "IMG_EXTENSIONS": "images",
    "ImageLoadError": "images",
    "find_images": "images",
    "load_image": "images",
    "read_image": "images",
    "make_synthetic_dataset": "synthetic",
    "PREPROCESS_OPTIONS": "transforms",
    "build_transform": "transforms",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

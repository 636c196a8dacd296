"""Data: image decoding, preprocessing, unpaired folders, the synthetic dataset, the DataModule.

Names are imported lazily, so `cyclegan-data` (registry and downloads only) starts without
importing torch and Lightning.
"""

from __future__ import annotations

from cyclegan_lit.lazy_exports import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _EXPORTS)

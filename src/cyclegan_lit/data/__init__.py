"""Data: image decoding, preprocessing, unpaired folders, the synthetic dataset, the DataModule.

``registry`` and ``download`` (standard datasets) are imported lazily by ``UnpairedDataModule`` so
that training on local folders never needs them.
"""

from .datamodule import UnpairedDataModule
from .folder import PairedEvalDataset, SingleFolderDataset, UnpairedImageDataset
from .images import IMG_EXTENSIONS, ImageLoadError, find_images, load_image, read_image
from .synthetic import make_synthetic_dataset
from .transforms import PREPROCESS_OPTIONS, build_transform

__all__ = [
    "IMG_EXTENSIONS",
    "PREPROCESS_OPTIONS",
    "ImageLoadError",
    "PairedEvalDataset",
    "SingleFolderDataset",
    "UnpairedDataModule",
    "UnpairedImageDataset",
    "build_transform",
    "find_images",
    "load_image",
    "make_synthetic_dataset",
    "read_image",
]

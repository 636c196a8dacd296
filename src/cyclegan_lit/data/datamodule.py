"""``UnpairedDataModule``: where the images come from, how they are preprocessed and batched.

``name`` picks the source: ``synthetic`` (generated and cached under
``<data_dir>/synthetic_<size>_<seed>``), ``folder`` (your own ``root`` with trainA/trainB/testA/
testB) or a standard CycleGAN dataset name (downloaded by ``prepare_data`` into
``<data_dir>/<name>`` unless ``root`` is given).

Loaders: train is shuffled unless ``serial_batches`` (Lightning swaps in a DistributedSampler under
DDP) and pairs each A with a random B that differs per rank, worker and epoch (see ``folder.py``);
val is the first ``num_val_images`` of the test split (of the train split when there is no
testA/testB) with the deterministic transform; test is the whole test split; predict is one folder
of one domain. When the dataset has paired ground truth (the synthetic one), val and test batches
also carry ``A_target`` and ``B_target``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .folder import (
    PairedEvalDataset,
    SingleFolderDataset,
    UnpairedImageDataset,
    check_direction,
    split_folders,
)
from .synthetic import has_paired_test, make_synthetic_dataset
from .transforms import build_transform, output_size_is_fixed, validate_preprocess

log = logging.getLogger(__name__)


class UnpairedDataModule(L.LightningDataModule):
    """Unpaired A/B image folders for CycleGAN; every argument is a ``data.*`` config key."""

    def __init__(
        self,
        name: str = "synthetic",
        root: str | None = None,
        data_dir: str = "data",
        download: bool = True,
        base_url: str | None = None,
        direction: str = "AtoB",
        preprocess: str = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        serial_batches: bool = False,
        input_nc: int = 3,
        output_nc: int = 3,
        max_dataset_size: int | None = None,
        batch_size: int = 1,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        num_val_images: int = 4,
        predict_domain: str = "A",
        predict_dir: str | None = None,
        synthetic_size: int = 64,
        synthetic_train: int = 400,
        synthetic_test: int = 50,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        check_direction(direction)
        validate_preprocess(preprocess, load_size, crop_size)
        for option, value in (("input_nc", input_nc), ("output_nc", output_nc)):
            if value not in (1, 3):
                raise ValueError(f"data.{option}={value} must be 1 or 3")
        if predict_domain not in ("A", "B"):
            raise ValueError(f"data.predict_domain={predict_domain!r} must be A or B")
        if name == "folder" and not root:
            raise ValueError("data.root is required when data.name=folder; set data.root=<path>")
        for option, value in (("batch_size", batch_size), ("num_val_images", num_val_images)):
            if value < 1:
                raise ValueError(f"data.{option}={value} must be at least 1")
        if num_workers < 0:
            raise ValueError(f"data.num_workers={num_workers} must be >= 0")
        self.name = name
        self.root = root
        self.data_dir = data_dir
        self.download = download
        self.base_url = base_url
        self.direction = direction
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = flip
        self.serial_batches = serial_batches
        self._input_nc = input_nc
        self._output_nc = output_nc
        self.max_dataset_size = max_dataset_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.num_val_images = num_val_images
        self.predict_domain = predict_domain
        self.predict_dir = predict_dir
        self.synthetic_size = synthetic_size
        self.synthetic_train = synthetic_train
        self.synthetic_test = synthetic_test
        self.seed = seed
        self.train_set: UnpairedImageDataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self.predict_set: SingleFolderDataset | None = None

    # -- what the model needs to know ------------------------------------------------------
    @property
    def input_nc(self) -> int:
        """Channels of batch key A (G_A's input), after the direction swap."""
        return self._input_nc

    @property
    def output_nc(self) -> int:
        """Channels of batch key B (G_A's output)."""
        return self._output_nc

    @property
    def dataset_root(self) -> Path:
        """Folder holding trainA/trainB/testA/testB (it may not exist before ``prepare_data``)."""
        if self.root:
            return Path(self.root).expanduser()
        if self.name == "synthetic":
            return Path(self.data_dir) / f"synthetic_{self.synthetic_size}_{self.seed}"
        return Path(self.data_dir) / self.name

    @property
    def has_ground_truth(self) -> bool:
        """Whether the test split is paired (testA/x and testB/x show the same scene)."""
        if self.name == "synthetic" and not self.root:
            return True
        return has_paired_test(self.dataset_root)

    # -- Lightning hooks -------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Generate or download the dataset (Lightning calls this on local rank 0 only)."""
        if self.name == "synthetic" and not self.root:
            self._make_synthetic()
        elif self.name not in ("folder", "synthetic") and not self.root:
            from .download import ensure_dataset

            ensure_dataset(self.name, self.data_dir, self.base_url, self.download)

    def _make_synthetic(self) -> Path:
        return make_synthetic_dataset(
            self.dataset_root,
            self.synthetic_size,
            self.synthetic_train,
            self.synthetic_test,
            self.seed,
        )

    def _resolve_root(self) -> Path:
        if self.name == "synthetic" and not self.root:
            return self._make_synthetic()  # cache hit after prepare_data
        if self.name not in ("folder", "synthetic") and not self.root:
            from .download import ensure_dataset

            return Path(ensure_dataset(self.name, self.data_dir, self.base_url, download=False))
        return self.dataset_root

    def _rank(self) -> int:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return int(trainer.global_rank)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank()
        return 0

    def _transform(self, channels: int, train: bool):
        return build_transform(
            self.preprocess, self.load_size, self.crop_size, self.flip, channels, train
        )

    def _eval_set(self, root: Path, limit: int | None, phase: str = "test") -> Dataset:
        kwargs = dict(
            direction=self.direction,
            input_nc=self._input_nc,
            output_nc=self._output_nc,
            transform_A=self._transform(self._input_nc, train=False),
            transform_B=self._transform(self._output_nc, train=False),
            max_dataset_size=limit,
        )
        if self.has_ground_truth and phase == "test":
            return PairedEvalDataset(root, phase, **kwargs)
        return UnpairedImageDataset(root, phase, serial_batches=True, **kwargs)

    def _val_set(self, root: Path) -> Dataset:
        if (root / "testA").is_dir() and (root / "testB").is_dir():
            return self._eval_set(root, self.num_val_images)
        log.info("no %s/testA and testB: validating on the first training images instead", root)
        return self._eval_set(root, self.num_val_images, phase="train")

    def setup(self, stage: str | None = None) -> None:
        root = self._resolve_root()
        if stage in (None, "fit"):
            self.train_set = UnpairedImageDataset(
                root,
                "train",
                direction=self.direction,
                input_nc=self._input_nc,
                output_nc=self._output_nc,
                transform_A=self._transform(self._input_nc, train=True),
                transform_B=self._transform(self._output_nc, train=True),
                serial_batches=self.serial_batches,
                max_dataset_size=self.max_dataset_size,
                seed=self.seed,
                rank=self._rank(),
            )
        if stage in (None, "fit", "validate"):
            self.val_set = self._val_set(root)
        if stage in (None, "test"):
            self.test_set = self._eval_set(root, self.max_dataset_size)
        if stage in (None, "predict"):
            self.predict_set = self._predict_set(root)

    def _predict_set(self, root: Path) -> SingleFolderDataset:
        channels = self._input_nc if self.predict_domain == "A" else self._output_nc
        if self.predict_dir:
            folder = Path(self.predict_dir).expanduser()
        else:
            folder_a, folder_b = split_folders(root, "test", self.direction)
            folder = folder_a if self.predict_domain == "A" else folder_b
        return SingleFolderDataset(
            folder,
            key=self.predict_domain,
            channels=channels,
            transform=self._transform(channels, train=False),
            max_dataset_size=self.max_dataset_size,
        )

    # -- loaders ---------------------------------------------------------------------------
    def _loader(self, dataset: Dataset | None, stage: str, **kwargs) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call setup({stage!r}) before {stage}_dataloader()")
        # A handful of validation images does not need a pool of idle workers.
        workers = min(self.num_workers, len(dataset)) if stage != "train" else self.num_workers
        return DataLoader(
            dataset,
            num_workers=workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers and workers > 0,
            drop_last=False,
            **kwargs,
        )

    def _eval_batch_size(self) -> int:
        # scale_width / none keep each image's aspect ratio: sizes differ, batch one at a time.
        return self.batch_size if output_size_is_fixed(self.preprocess) else 1

    def train_dataloader(self) -> DataLoader:
        return self._loader(
            self.train_set,
            "train",
            batch_size=self.batch_size,
            shuffle=not self.serial_batches,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, "val", batch_size=self._eval_batch_size(), shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(
            self.test_set, "test", batch_size=self._eval_batch_size(), shuffle=False
        )

    def predict_dataloader(self) -> DataLoader:
        return self._loader(
            self.predict_set, "predict", batch_size=self._eval_batch_size(), shuffle=False
        )

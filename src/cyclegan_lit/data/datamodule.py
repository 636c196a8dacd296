"""``UnpairedDataModule``: where the images come from, how they are preprocessed and batched.

``name`` and ``root`` pick the source once (``sources.py``): the built-in ``synthetic`` dataset,
your own folder (``root``, with trainA/trainB/testA/testB), or a standard CycleGAN dataset that
``prepare_data`` downloads into ``<data_dir>/<name>``.

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

from ..messages import check_option_types
from .folder import (
    PairedEvalDataset,
    SingleFolderDataset,
    UnpairedImageDataset,
    check_bad_images,
    check_direction,
    split_folders,
)
from .sampling import EpochSampler, ResumableDataLoader
from .sources import DatasetSource, SyntheticSource, dataset_source
from .transforms import build_transform, output_size_is_fixed, validate_preprocess

log = logging.getLogger(__name__)


class UnpairedDataModule(L.LightningDataModule):
    """Unpaired A/B image folders for CycleGAN; every argument is a ``data.*`` config key, read
    back from ``self.hparams``."""

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
        bad_images: str = "skip",
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
        # Saved (in checkpoints) but not sent to the loggers by Lightning: it would merge them with
        # the model's and refuse `seed=1 data.seed=0` (a `seed` in both, with two values). The CLI
        # logs the whole composed config, data.* included.
        self.save_hyperparameters(logger=False)
        check_option_types("data", integers={k: self.hparams[k] for k in _INTEGER_OPTIONS})
        check_direction(direction)
        check_bad_images(bad_images)
        validate_preprocess(preprocess, load_size, crop_size)
        for option, value in (("input_nc", input_nc), ("output_nc", output_nc)):
            if value not in (1, 3):
                raise ValueError(f"data.{option}={value}: must be 1 or 3")
        if predict_domain not in ("A", "B"):
            raise ValueError(f"data.predict_domain={predict_domain!r}: must be A or B")
        for option, value in (("batch_size", batch_size), ("num_val_images", num_val_images)):
            if value < 1:
                raise ValueError(f"data.{option}={value}: must be at least 1")
        if num_workers < 0:
            raise ValueError(f"data.num_workers={num_workers}: must be >= 0")
        if max_dataset_size is not None and max_dataset_size < 1:
            raise ValueError(
                f"data.max_dataset_size={max_dataset_size}: must be >= 1, or null for all images"
            )
        self.source: DatasetSource = dataset_source(
            name,
            root,
            data_dir,
            download=download,
            base_url=base_url,
            synthetic=(synthetic_size, synthetic_train, synthetic_test),
            seed=seed,
        )
        if isinstance(self.source, SyntheticSource):
            _check_synthetic_size(synthetic_size, preprocess, crop_size)
        self.train_set: UnpairedImageDataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self.predict_set: SingleFolderDataset | None = None

    # -- what the model needs to know ------------------------------------------------------
    @property
    def input_nc(self) -> int:
        """Channels of batch key A (G_A's input), after the direction swap."""
        return self.hparams.input_nc

    @property
    def output_nc(self) -> int:
        """Channels of batch key B (G_A's output)."""
        return self.hparams.output_nc

    @property
    def image_size(self) -> tuple[int | None, str]:
        """(side, option setting it) of every image the model sees; side None when sizes vary."""
        if output_size_is_fixed(self.hparams.preprocess):
            return self.hparams.crop_size, "data.crop_size"
        return None, "data.preprocess"

    @property
    def dataset_root(self) -> Path:
        """Folder holding trainA/trainB/testA/testB (it may not exist before ``prepare_data``)."""
        return self.source.root

    @property
    def has_test_split(self) -> bool:
        """Whether testA/ and testB/ exist (known once ``prepare_data`` has run)."""
        root = self.source.root
        return (root / "testA").is_dir() and (root / "testB").is_dir()

    @property
    def has_ground_truth(self) -> bool:
        """Whether the test split is paired (testA/x and testB/x show the same scene)."""
        return self.source.has_ground_truth

    # -- Lightning hooks -------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Generate or download the dataset (Lightning calls this on local rank 0 only)."""
        self.source.prepare()

    def _rank(self) -> int:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return int(trainer.global_rank)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank()
        return 0

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        root = self.source.locate()

        def transform(channels: int, train: bool):
            return build_transform(
                hp.preprocess, hp.load_size, hp.crop_size, hp.flip, channels, train
            )

        # built once per setup, shared by the splits
        eval_A, eval_B = transform(hp.input_nc, False), transform(hp.output_nc, False)
        if stage in (None, "fit"):
            self.train_set = UnpairedImageDataset(
                root,
                "train",
                direction=hp.direction,
                input_nc=hp.input_nc,
                output_nc=hp.output_nc,
                transform_A=transform(hp.input_nc, True),
                transform_B=transform(hp.output_nc, True),
                serial_batches=hp.serial_batches,
                max_dataset_size=hp.max_dataset_size,
                bad_images=hp.bad_images,
                seed=hp.seed,
                rank=self._rank(),
            )
        eval_sets = {"transform_A": eval_A, "transform_B": eval_B}
        if stage in (None, "fit", "validate"):
            self.val_set = self._val_set(root, eval_sets)
        if stage in (None, "test"):
            self.test_set = self._eval_set(root, hp.max_dataset_size, "test", eval_sets)
        if stage in (None, "predict"):
            domain = hp.predict_domain
            channels = hp.input_nc if domain == "A" else hp.output_nc
            self.predict_set = self._predict_set(
                root, channels, eval_A if domain == "A" else eval_B
            )

    def _eval_set(self, root: Path, limit: int | None, phase: str, transforms: dict) -> Dataset:
        hp = self.hparams
        kwargs = dict(
            direction=hp.direction,
            input_nc=hp.input_nc,
            output_nc=hp.output_nc,
            max_dataset_size=limit,
            bad_images=hp.bad_images,
            **transforms,
        )
        if self.has_ground_truth and phase == "test":
            return PairedEvalDataset(root, phase, **kwargs)
        return UnpairedImageDataset(root, phase, serial_batches=True, **kwargs)

    def _val_set(self, root: Path, transforms: dict) -> Dataset:
        limit = self.hparams.num_val_images
        if self.has_test_split:
            return self._eval_set(root, limit, "test", transforms)
        log.info("no %s/testA and testB: validating on the first training images instead", root)
        return self._eval_set(root, limit, "train", transforms)

    def _predict_set(self, root: Path, channels: int, transform) -> SingleFolderDataset:
        hp = self.hparams
        if hp.predict_dir:
            folder = Path(hp.predict_dir).expanduser()
        else:
            folder_a, folder_b = split_folders(root, "test", hp.direction)
            folder = folder_a if hp.predict_domain == "A" else folder_b
        return SingleFolderDataset(
            folder,
            key=hp.predict_domain,
            channels=channels,
            transform=transform,
            max_dataset_size=hp.max_dataset_size,
            bad_images=hp.bad_images,
        )

    # -- loaders ---------------------------------------------------------------------------
    def _loader(
        self, dataset: Dataset | None, stage: str, loader: type[DataLoader] = DataLoader, **kwargs
    ) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"call setup({stage!r}) before {stage}_dataloader()")
        # A handful of validation images does not need a pool of idle workers.
        hp = self.hparams
        workers = min(hp.num_workers, len(dataset)) if stage != "train" else hp.num_workers
        return loader(
            dataset,
            num_workers=workers,
            pin_memory=hp.pin_memory and torch.cuda.is_available(),
            persistent_workers=hp.persistent_workers and workers > 0,
            drop_last=False,
            **kwargs,
        )

    def _eval_batch_size(self) -> int:
        # scale_width / none keep each image's aspect ratio: sizes differ, batch one at a time.
        fixed = output_size_is_fixed(self.hparams.preprocess)
        return self.hparams.batch_size if fixed else 1

    def train_dataloader(self) -> DataLoader:
        """Items are ``(epoch, index)``: order, pairing, crops and flips resume exactly."""
        if self.train_set is None:
            raise RuntimeError("call setup('fit') before train_dataloader()")
        trainer = getattr(self, "trainer", None)
        sampler = EpochSampler(
            len(self.train_set),
            seed=self.hparams.seed,
            shuffle=not self.hparams.serial_batches,
            epoch_source=(lambda: trainer.current_epoch) if trainer is not None else None,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
        )
        return self._loader(
            self.train_set,
            "train",
            loader=ResumableDataLoader,
            batch_size=self.hparams.batch_size,
            sampler=sampler,
            trained_batches=self._trained_batches if trainer is not None else None,
        )

    def _trained_batches(self) -> int:
        """Batches of the current epoch already trained (read when a checkpoint is written)."""
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed

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


def _check_synthetic_size(size: int, preprocess: str, crop_size: int) -> None:
    """With ``crop`` alone nothing is resized: a crop larger than the image would be padded."""
    if preprocess == "crop" and size < crop_size:
        raise ValueError(
            f"data.synthetic_size={size}: smaller than data.crop_size={crop_size} with "
            f"data.preprocess=crop, so every crop would be padded; set data.synthetic_size="
            f"{crop_size} or data.preprocess=resize_and_crop"
        )


_INTEGER_OPTIONS = (
    "load_size",
    "crop_size",
    "input_nc",
    "output_nc",
    "max_dataset_size",
    "batch_size",
    "num_workers",
    "num_val_images",
    "synthetic_size",
    "synthetic_train",
    "synthetic_test",
    "seed",
)

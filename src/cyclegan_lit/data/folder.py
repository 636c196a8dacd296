"""Datasets over image folders: unpaired training pairs, one folder to predict, paired evaluation.

Layout as the reference's (``<root>/trainA``, ``trainB``, ``testA``, ``testB``, walked recursively
and sorted); ``direction="BtoA"`` swaps the folders so that batch key ``A`` is always ``G_A``'s
input. ``UnpairedImageDataset`` is the reference's ``data/unaligned_dataset.py``; an item's random
B partner, crop and flip are drawn from ``(seed, rank, epoch, index)`` (``sampling.py``), so they
are reproducible whatever the number of workers, differ between ranks and epochs, and survive a
resume. Files are only listed up front and decoded in ``__getitem__``, where a broken one is
skipped (and recorded in ``bad_files``) rather than ending the run; ``bad_images="error"`` stops
at the first one instead. Deliberate differences from the reference are listed in docs/model.md.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .images import IMG_EXTENSIONS, ImageLoadError, find_images, read_image
from .sampling import sample_seed
from .transforms import build_transform

log = logging.getLogger(__name__)

DIRECTIONS: tuple[str, ...] = ("AtoB", "BtoA")
BAD_IMAGE_POLICIES: tuple[str, ...] = ("skip", "error")
_EXTS = "/".join(IMG_EXTENSIONS[:3]) + "/..."


def check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"data.direction={direction!r}: must be AtoB or BtoA")


def check_bad_images(policy: str) -> None:
    if policy not in BAD_IMAGE_POLICIES:
        raise ValueError(f"data.bad_images={policy!r}: must be skip or error")


def split_folders(root: str | os.PathLike, phase: str, direction: str) -> tuple[Path, Path]:
    """The folders feeding batch keys A and B: <root>/<phase>A and <phase>B, swapped for BtoA."""
    check_direction(direction)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset root {root} does not exist; set data.root to a folder with trainA/, trainB/, "
            "testA/, testB/ (or use data.name=synthetic)"
        )
    a, b = root / f"{phase}A", root / f"{phase}B"
    return (b, a) if direction == "BtoA" else (a, b)


class ImageFolderDomain:
    """The images of one domain folder, decoded on demand with the bad-file policy above."""

    def __init__(
        self,
        folder: str | os.PathLike,
        channels: int = 3,
        transform: Callable | None = None,
        max_dataset_size: int | None = None,
        bad_images: str = "skip",
    ) -> None:
        check_bad_images(bad_images)
        self.bad_images = bad_images
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(
                f"expected {self.folder} with images ({_EXTS}); put the images of this domain "
                "there or set data.root"
            )
        self.paths = find_images(self.folder, max_dataset_size)
        if not self.paths:
            raise FileNotFoundError(
                f"no images ({_EXTS}) found under {self.folder}; put the images of this domain "
                "there or set data.root"
            )
        self.channels = channels
        self.transform = transform if transform is not None else build_transform(channels=channels)
        self.bad_files: dict[str, str] = {}
        self._bad_indices: set[int] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def decode(self, index: int) -> torch.Tensor:
        """uint8 tensor of image ``index``; raises ImageLoadError (no substitution)."""
        return read_image(self.paths[index], self.channels)

    def mark_bad(self, index: int, exc: ImageLoadError) -> None:
        if self.bad_images == "error":
            raise ImageLoadError(f"{exc} (or set data.bad_images=skip to skip such files)")
        if index in self._bad_indices:
            return
        self._bad_indices.add(index)
        self.bad_files[str(self.paths[index])] = str(exc)
        log.warning(
            "skipping unreadable image (%d in %s so far): %s",
            len(self._bad_indices),
            self.folder,
            exc,
        )
        # a DataLoader worker exits without flushing its (piped) stdout: flush now, or it is lost
        for handler in logging.getLogger().handlers:
            handler.flush()

    def exclude(self, index: int) -> None:
        """Skip ``index`` from now on without a warning (its partner in a pair was broken)."""
        self._bad_indices.add(index)

    def readable_indices(self, start: int):
        """Indices from ``start`` onwards (wrapping), skipping files already known to be bad."""
        n = len(self.paths)
        for step in range(n):
            i = (start + step) % n
            if i not in self._bad_indices:
                yield i

    def all_bad_error(self) -> ImageLoadError:
        first = next(iter(self.bad_files.values()), "")
        return ImageLoadError(
            f"none of the {len(self.paths)} images under {self.folder} can be read "
            f"(first error: {first}); fix or replace them"
        )

    def load(self, index: int) -> tuple[torch.Tensor, str]:
        """Transformed image ``index``, or the next readable one if it is broken."""
        for i in self.readable_indices(index % len(self.paths)):
            try:
                return self.transform(self.decode(i)), str(self.paths[i])
            except ImageLoadError as exc:
                self.mark_bad(i, exc)
        raise self.all_bad_error()


class UnpairedImageDataset(Dataset):
    """The reference's ``unaligned`` dataset: length max(|A|, |B|), a random (or serial) B."""

    def __init__(
        self,
        root: str | os.PathLike,
        phase: str = "train",
        *,
        direction: str = "AtoB",
        input_nc: int = 3,
        output_nc: int = 3,
        transform_A: Callable | None = None,
        transform_B: Callable | None = None,
        serial_batches: bool = False,
        max_dataset_size: int | None = None,
        bad_images: str = "skip",
        seed: int = 0,
        rank: int = 0,
    ) -> None:
        folder_a, folder_b = split_folders(root, phase, direction)
        self.domain_A = ImageFolderDomain(
            folder_a, input_nc, transform_A, max_dataset_size, bad_images
        )
        self.domain_B = ImageFolderDomain(
            folder_b, output_nc, transform_B, max_dataset_size, bad_images
        )
        self.serial_batches = serial_batches
        self.seed = seed
        self.rank = rank

    @property
    def A_paths(self) -> list[Path]:
        return self.domain_A.paths

    @property
    def B_paths(self) -> list[Path]:
        return self.domain_B.paths

    @property
    def bad_files(self) -> dict[str, str]:
        """Files skipped so far *in this process* (workers keep their own record), path → reason."""
        return {**self.domain_A.bad_files, **self.domain_B.bad_files}

    def __len__(self) -> int:
        return max(len(self.domain_A), len(self.domain_B))

    def b_index(self, index: int, epoch: int = 0) -> int:
        """The B partner of item ``index`` in ``epoch``: serial, or drawn from its own seed."""
        if self.serial_batches:
            return index % len(self.domain_B)
        rng = random.Random(sample_seed("pairing", self.seed, self.rank, epoch, index))
        return rng.randrange(len(self.domain_B))

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        """``key`` is an index, or ``(epoch, index)`` from ``EpochSampler``: the random crop,
        flip and B partner are then a function of the key alone (see sampling.py)."""
        epoch, index = key if isinstance(key, tuple) else (0, key)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed("transform", self.seed, self.rank, epoch, index))
            a, a_path = self.domain_A.load(index)
            b, b_path = self.domain_B.load(self.b_index(index, epoch))
        return {"A": a, "B": b, "A_paths": a_path, "B_paths": b_path}


class SingleFolderDataset(Dataset):
    """One folder (flat or nested) of one domain, to predict: items ``{key: t, key_paths: p}``."""

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        key: str = "A",
        channels: int = 3,
        transform: Callable | None = None,
        max_dataset_size: int | None = None,
        bad_images: str = "skip",
    ) -> None:
        if transform is None:
            transform = build_transform("none", flip=False, channels=channels, train=False)
        self.domain = ImageFolderDomain(folder, channels, transform, max_dataset_size, bad_images)
        self.key = key

    @property
    def paths(self) -> list[Path]:
        return self.domain.paths

    @property
    def bad_files(self) -> dict[str, str]:
        return self.domain.bad_files

    def __len__(self) -> int:
        return len(self.domain)

    def __getitem__(self, index: int) -> dict:
        image, path = self.domain.load(index)
        return {self.key: image, f"{self.key}_paths": path}


class PairedEvalDataset(Dataset):
    """Test split with ground truth: ``<phase>A/x`` and ``<phase>B/x`` show the same scene.

    Items are ``A``, ``B``, their paths, ``A_target`` (the true B-domain image of A, i.e. B) and
    ``B_target`` (the true A-domain image of B, i.e. A). Use deterministic (evaluation)
    transforms, or the pairs stop being aligned. A broken file skips the whole pair. Where
    ``<phase>Mask/x`` labels the objects of every pair (0 background, k object k: the built-in
    data's), items also have ``labels``, an H×W uint8 tensor at the images' size, for the share of
    objects translated right.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        phase: str = "test",
        *,
        direction: str = "AtoB",
        input_nc: int = 3,
        output_nc: int = 3,
        transform_A: Callable | None = None,
        transform_B: Callable | None = None,
        max_dataset_size: int | None = None,
        bad_images: str = "skip",
    ) -> None:
        folder_a, folder_b = split_folders(root, phase, direction)
        if transform_A is None:
            transform_A = build_transform(channels=input_nc, train=False)
        if transform_B is None:
            transform_B = build_transform(channels=output_nc, train=False)
        self.domain_A = ImageFolderDomain(folder_a, input_nc, transform_A, bad_images=bad_images)
        self.domain_B = ImageFolderDomain(folder_b, output_nc, transform_B, bad_images=bad_images)
        names_a = [p.relative_to(folder_a).as_posix() for p in self.domain_A.paths]
        names_b = [p.relative_to(folder_b).as_posix() for p in self.domain_B.paths]
        if names_a != names_b:
            missing = sorted(set(names_a) ^ set(names_b))[:1] or names_a[:1]
            raise ValueError(
                f"{folder_a} and {folder_b} are not paired (first mismatch: {missing[0]}); "
                "paired evaluation needs the same file names in both folders"
            )
        n = len(names_a) if max_dataset_size is None else min(len(names_a), max_dataset_size)
        self._n = n
        masks = [Path(root) / f"{phase}Mask" / name for name in names_a[:n]]
        self._masks = masks if masks and all(m.is_file() for m in masks) else None

    @property
    def bad_files(self) -> dict[str, str]:
        return {**self.domain_A.bad_files, **self.domain_B.bad_files}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> dict:
        for i in self.domain_A.readable_indices(index % self._n):
            if i >= self._n:
                continue
            try:
                a = self.domain_A.transform(self.domain_A.decode(i))
            except ImageLoadError as exc:
                self.domain_A.mark_bad(i, exc)
                continue
            try:
                b = self.domain_B.transform(self.domain_B.decode(i))
            except ImageLoadError as exc:
                self.domain_B.mark_bad(i, exc)
                self.domain_A.exclude(i)
                continue
            a_path, b_path = str(self.domain_A.paths[i]), str(self.domain_B.paths[i])
            item = {
                "A": a,
                "B": b,
                "A_paths": a_path,
                "B_paths": b_path,
                "A_target": b,
                "B_target": a,
            }
            if self._masks is not None:
                item["labels"] = _read_labels(self._masks[i], a.shape[-2:])
            return item
        raise ImageLoadError(
            f"no readable image pair under {self.domain_A.folder} and {self.domain_B.folder}; "
            "fix or replace the files listed in the warnings"
        )


def _read_labels(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """An object-label PNG as an H×W uint8 tensor, resized (nearest) to the images' ``size``."""
    with Image.open(path) as image:
        labels = image.convert("L")
        if labels.size != (size[1], size[0]):
            labels = labels.resize((size[1], size[0]), Image.Resampling.NEAREST)
        return torch.from_numpy(np.asarray(labels, dtype=np.uint8).copy())

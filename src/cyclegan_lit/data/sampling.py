"""Training order and per-sample randomness that survive a resume, at an epoch's end or inside it.

Each training item is addressed as ``(epoch, index)``: ``EpochSampler`` draws the epoch's order from
``(seed, epoch)`` alone, and the dataset draws an item's random B partner, crop and flip from
``(seed, rank, epoch, index)`` alone (``sample_seed``). Nothing depends on how many items, workers
or epochs came before, so a run stopped anywhere and resumed draws exactly what the uninterrupted
run would have. ``ResumableDataLoader`` is what Lightning saves in a checkpoint to resume inside an
epoch: the epoch and how many of its batches were trained; the sampler then skips those items
without loading them. Under DDP the sampler shards the epoch's order itself (each rank takes every
``world_size``-th item), so Lightning does not wrap it and the skip applies to each rank's share.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

log = logging.getLogger(__name__)


def sample_seed(*parts: int | str) -> int:
    """A 63-bit seed from the parts, stable across processes and Python versions."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class EpochSampler(DistributedSampler):
    """Yields ``(epoch, index)``: a permutation drawn from ``(seed, epoch)`` (or 0..n-1 in order),
    and under DDP this rank's share of it.

    ``epoch_source`` (the trainer's current epoch) wins over ``set_epoch``. It subclasses
    ``DistributedSampler`` so that Lightning leaves it in place under DDP instead of wrapping it
    (a wrapper reshuffles and cannot skip what a resumed epoch already trained). As
    ``DistributedSampler`` does, an order that does not divide by ``num_replicas`` is padded with
    its first items, so every rank gets the same number.
    """

    def __init__(
        self,
        length: int,
        seed: int = 0,
        shuffle: bool = True,
        epoch_source: Callable[[], int] | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(range(length), num_replicas=num_replicas, rank=rank, shuffle=shuffle)
        self.length = length
        self.seed = seed
        self.epoch_source = epoch_source
        self._resume: tuple[int, int] | None = None  # (epoch, items to skip), used once

    def resume_at(self, epoch: int, items: int) -> None:
        """Make the next pass over ``epoch`` start after this rank's first ``items`` items."""
        self._resume = (epoch, items)

    def current_epoch(self) -> int:
        return int(self.epoch_source()) if self.epoch_source is not None else self.epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.current_epoch()
        if self.shuffle:
            generator = torch.Generator().manual_seed(sample_seed("order", self.seed, epoch))
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        if self.num_replicas > 1:
            while len(order) < self.total_size:
                order += order[: self.total_size - len(order)]
            order = order[self.rank : self.total_size : self.num_replicas]
        start = 0
        if self._resume is not None:
            resume_epoch, items = self._resume
            self._resume = None
            if resume_epoch == epoch:
                start = min(items, len(order))
        return iter([(epoch, index) for index in order[start:]])


class ResumableDataLoader(DataLoader):
    """A DataLoader over an ``EpochSampler`` that Lightning saves and restores with the loops.

    ``trained_batches`` says how many batches of the current epoch have been trained when a
    checkpoint is written (the DataModule reads it from the trainer's progress: batches already
    fetched ahead by the loader do not count).
    """

    def __init__(
        self, *args: Any, trained_batches: Callable[[], int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.trained_batches = trained_batches

    def _epoch_sampler(self) -> EpochSampler | None:
        sampler = self.sampler
        return sampler if isinstance(sampler, EpochSampler) else None

    def state_dict(self) -> dict[str, int]:
        sampler = self._epoch_sampler()
        if sampler is None or self.trained_batches is None:
            return {}
        return {"epoch": sampler.current_epoch(), "batches": int(self.trained_batches())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        sampler = self._epoch_sampler()
        if not state or sampler is None:
            if state:
                log.warning("the training sampler was replaced, so the data order cannot "
                            "resume inside the epoch; it restarts the epoch")  # fmt: skip
            return
        sampler.resume_at(int(state["epoch"]), int(state["batches"]) * int(self.batch_size or 1))

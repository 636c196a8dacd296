"""Train with the cores other processes leave free: the torch thread count is re-chosen every few
seconds.

torch's OpenMP threads spin while they wait for each other. When another process holds a core,
the thread being waited for is descheduled and the spinning eats the time it needs: beside a busy
neighbour the default run went 2.3-3.5x slower at two threads than at one on a 2-core machine
(``benchmarks/threads_under_load.py``). Letting them sleep instead (``OMP_WAIT_POLICY=PASSIVE``)
cost a quarter of the speed on the quiet machine. So the thread count follows the free cores:
on a quiet machine nothing changes, and beside a neighbour training goes on at the threads left.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from typing import Any

import lightning as L
import torch

from cyclegan_lit.machine import busy_core_seconds, process_cpu_seconds

log = logging.getLogger(__name__)


class FreeCoreThreads(L.Callback):
    """Every ``every_seconds`` of training, measure how much of this process's cores the other
    processes used, and train on with the rest: at least one thread, at most the count training
    started with. A core counts as taken when others used 60 % of it, and as free again below
    30 %, so that a neighbour near the line does not flip the count at every check.

    Off where the count is fixed: ``OMP_NUM_THREADS`` or ``+torch_threads`` (``fixed_threads``),
    ``trainer.deterministic`` (another count may sum in another order), DDP (the ranks share the
    cores by design), a GPU run, or no ``/proc/stat``.
    """

    def __init__(self, every_seconds: float = 5.0, fixed_threads: int | None = None) -> None:
        if every_seconds <= 0:
            raise ValueError(
                f"callbacks.free_core_threads.every_seconds={every_seconds}: must be > 0"
            )
        self.every_seconds = every_seconds
        self.fixed_threads = fixed_threads
        self.most = 1
        self.cores: set[int] = set()
        self._last: tuple[float, float, float] | None = None  # (wall, busy, own) seconds

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None
        if (
            self.fixed_threads is not None
            or os.environ.get("OMP_NUM_THREADS")
            or torch.are_deterministic_algorithms_enabled()
            or trainer.world_size > 1
            or pl_module.device.type != "cpu"
        ):
            return
        self.cores = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
        self.most = torch.get_num_threads()
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        busy = busy_core_seconds(self.cores)
        if busy is None:
            return None
        own = time.process_time()  # this process, all its threads
        own += sum(process_cpu_seconds(p.pid) for p in multiprocessing.active_children() if p.pid)
        return time.monotonic(), busy, own

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._last is None or time.monotonic() - self._last[0] < self.every_seconds:
            return
        now = self._sample()
        if now is None:
            self._last = None
            return
        (t0, busy0, own0), (t1, busy1, own1) = self._last, now
        self._last = now
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / (t1 - t0)  # in cores
        current = torch.get_num_threads()
        chosen = threads_for(self.most, current, others)
        if chosen != current:
            torch.set_num_threads(chosen)
            log.info(
                "torch threads: %d instead of %d, as other processes use %.1f of %d cores "
                "(+torch_threads=N fixes the count)",
                chosen, current, others, len(self.cores),
            )  # fmt: skip

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        """Give the process back the count it trained with (a notebook goes on after ``fit``)."""
        if self._last is not None or self.cores:
            torch.set_num_threads(self.most)
        self._last, self.cores = None, set()


def threads_for(most: int, current: int, others: float) -> int:
    """The thread count beside ``others`` cores' worth of other processes' work: down as soon as
    they take 60 % of a core, up again only once they take less than 30 % of it."""
    lower = max(1, most - int(others + 0.4))
    if lower < current:
        return lower
    return max(current, most - int(others + 0.7))

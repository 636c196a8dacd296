"""Training throughput in images per second, the number to compare precisions and device counts."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import lightning as L


class Throughput(L.Callback):
    """Log ``train/images_per_sec``: images of all ranks per second, data loading included.

    Measured between consecutive batch ends and averaged over the last ``window`` batches; the
    first batch of each epoch (start-up, worker spawn) is not counted.
    """

    def __init__(self, window: int = 20) -> None:
        if window < 1:
            raise ValueError(f"callbacks.throughput.window={window}: must be >= 1")
        self.window = window
        self._last: float | None = None
        self._seconds: deque[float] = deque(maxlen=window)
        self._images: deque[int] = deque(maxlen=window)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = None

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self._seconds.append(now - self._last)
            self._images.append(len(batch["A"]) * trainer.world_size)
            rate = sum(self._images) / max(sum(self._seconds), 1e-9)
            pl_module.log("train/images_per_sec", rate, on_step=True, on_epoch=False, batch_size=1)
        self._last = now

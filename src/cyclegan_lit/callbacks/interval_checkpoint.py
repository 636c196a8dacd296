"""``last.ckpt`` inside an epoch, every so many minutes or optimizer steps, written so that a
resume from it is exact.

Lightning 2.6's ``ModelCheckpoint`` does two things wrong for this module's manual optimization:
it never saves on ``train_time_interval`` (only ``every_n_train_steps`` counts), and it warns at
each step save that the weights are the post-step ones, which is what resuming needs here.

And a checkpoint written at the end of an epoch's last batch resumes as a finished epoch:
Lightning then skips that epoch's validation and ``on_train_epoch_end``, where the schedulers step,
so the resumed run trains the rest at a learning rate one epoch behind. A save that falls due at
the last batch therefore waits for the epoch's end (after validation and the schedulers' step),
the state Lightning resumes exactly.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class IntervalCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` with ``train_time_interval`` or ``every_n_train_steps`` (optimizer
    steps: two per batch), saving inside epochs but never at an epoch's last batch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._due_at_epoch_end = False

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self._due(trainer) or self._should_skip_saving_checkpoint(trainer):
            return
        if _is_last_batch(trainer):
            self._due_at_epoch_end = True
            return
        self._save(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        due, self._due_at_epoch_end = self._due_at_epoch_end, False
        if due and not self._should_skip_saving_checkpoint(trainer):
            self._save(trainer)

    def _due(self, trainer: L.Trainer) -> bool:
        by_steps = self._every_n_train_steps >= 1 and (
            trainer.global_step % self._every_n_train_steps == 0
        )
        interval = self._train_time_interval
        if interval is None:
            return by_steps
        last = self._last_time_checked
        by_time = last is not None and time.monotonic() - last >= interval.total_seconds()
        # every rank decides as rank 0 does: saving is collective under DDP
        return by_steps or bool(trainer.strategy.broadcast(by_time))

    def _save(self, trainer: L.Trainer) -> None:
        candidates = self._monitor_candidates(trainer)
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)
        self._last_time_checked = time.monotonic()


def _is_last_batch(trainer: L.Trainer) -> bool:
    """The epoch's last batch: its data ran out, or ``limit_train_batches`` ends it here."""
    progress = trainer.fit_loop.epoch_loop.batch_progress
    return bool(progress.is_last_batch) or progress.current.ready >= trainer.num_training_batches

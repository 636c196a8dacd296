"""Stop on SIGTERM or Ctrl+C at the end of the current batch, save a checkpoint, say where.

Lightning stops on SIGTERM at a batch boundary but saves nothing and exits 0, so a scheduler
reads a preempted job as a success; and it treats Ctrl+C as an immediate KeyboardInterrupt,
possibly between the generator and the discriminator step. This callback turns the first Ctrl+C
into the same graceful stop as SIGTERM (a second one stops at once), writes ``last.ckpt`` with
the whole training state (the data position included, so the resume is exact), and records the
signal so that ``cyclegan-train`` exits with 128 + its number.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException


class SaveOnInterrupt(L.Callback):
    """Write ``<dirpath>/<filename>`` when training is stopped by SIGTERM or Ctrl+C."""

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.signal: signal.Signals | None = None
        self.saved: Path | None = None
        self._previous_sigint: Any = None
        self._trainer: L.Trainer | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._trainer = trainer
        self.signal = None
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # main thread only
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl+C: at once
        self.signal = signal.SIGINT
        if self._trainer is not None:
            self._trainer._signal_connector.received_sigterm = True
        print("\nStopping after this batch to save a checkpoint (Ctrl+C again: stop now)...")

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_sigint()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_sigint()
        if not isinstance(exception, SIGTERMException):
            return
        self.signal = self.signal or signal.SIGTERM
        trainer.save_checkpoint(self.path)
        self.saved = self.path

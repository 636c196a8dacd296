"""Stop on SIGTERM or Ctrl+C at the end of the current batch, save a checkpoint, say where.

Lightning stops on SIGTERM at a batch boundary but saves nothing and exits 0, so a scheduler
reads a preempted job as a success; and it treats Ctrl+C as an immediate KeyboardInterrupt,
possibly between the generator and the discriminator step. This callback turns the first Ctrl+C
into the same graceful stop as SIGTERM (a second one stops at once), writes ``last.ckpt`` with
the whole training state (the data position included, so the resume is exact), and records the
signal so that ``cyclegan-train`` exits with 128 + its number.

Under SLURM the requeue signals get the same treatment: Lightning's auto-requeue handler (SIGUSR1,
``#SBATCH --signal=SIGUSR1@90``) writes ``hpc_ckpt_N.ckpt`` wherever the signal lands, possibly
between the generator and the discriminator step, and trains on until SLURM kills the requeued
job; submitit's (SIGUSR2) exits at once. While training, this callback holds such a handler back:
the signal stops training after the current batch (the same stop as SIGTERM, agreed by all DDP
ranks), ``last.ckpt`` is written, and then the original handler runs, so it checkpoints a
consistent state and requeues the job. The requeued job resumes from the newest checkpoint in its
run folder (see ``cyclegan_lit.cli.resume.plan_resume``).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch.utilities.exceptions import SIGTERMException

# The signals SLURM requeue handlers listen on: Lightning's SLURMEnvironment (SIGUSR1 by default)
# and submitit (SIGUSR2, hydra/launcher=slurm).
REQUEUE_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


class SaveOnInterrupt(L.Callback):
    """Write ``<dirpath>/<filename>`` when training is stopped by SIGTERM or Ctrl+C."""

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.path = Path(dirpath) / filename
        self.signal: signal.Signals | None = None
        self.saved: Path | None = None
        self._previous_sigint: Any = None
        self._requeue_handlers: dict[signal.Signals, Any] = {}
        self._trainer: L.Trainer | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._trainer = trainer
        self.signal = None
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # main thread only
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        if SLURMEnvironment.detect() and threading.current_thread() is threading.main_thread():
            for signum in REQUEUE_SIGNALS:
                handler = signal.getsignal(signum)
                if callable(handler):
                    self._requeue_handlers[signum] = signal.signal(signum, self._on_requeue)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl+C: at once
        self.signal = signal.SIGINT
        if self._trainer is not None:
            self._trainer._signal_connector.received_sigterm = True
        print("\nStopping after this batch to save a checkpoint (Ctrl+C again: stop now)...")

    def _on_requeue(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum)
        if self._trainer is not None:
            self._trainer._signal_connector.received_sigterm = True
        print(f"\n{self.signal.name}: stopping after this batch to save a checkpoint and requeue")

    def _restore_handlers(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None
        for signum, handler in self._requeue_handlers.items():
            signal.signal(signum, handler)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handlers()
        self._requeue_handlers = {}

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handlers()
        handlers, self._requeue_handlers = self._requeue_handlers, {}
        if not isinstance(exception, SIGTERMException):
            return
        self.signal = self.signal or signal.SIGTERM
        trainer.save_checkpoint(self.path)
        self.saved = self.path
        # every rank stopped after the same batch (rank 0's decision); run the requeue handler on
        # each, as Lightning's saves a checkpoint, which all ranks take part in
        requeue = trainer.strategy.broadcast(self.signal if self.signal in handlers else None, 0)
        if requeue is not None and callable(handlers.get(requeue)):
            handlers[requeue](int(requeue), None)

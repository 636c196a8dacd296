"""Checkpoints written whole or not at all, and a failed write that loses nothing.

Lightning's own writer serialises to memory and then writes the file in place, so a kill or a full
disk during the write leaves a truncated ``last.ckpt`` where the previous good one was. Here the
checkpoint goes to a temp file beside it and is renamed over it only once complete and synced.
"""

from __future__ import annotations

from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.types import _PATH

from cyclegan_lit.atomic_files import atomic_torch_save


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose writes are atomic (``trainer.plugins`` in conf/trainer)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        try:
            atomic_torch_save(checkpoint, path)
        except OSError as err:
            raise OSError(
                f"could not write checkpoint {path} ({err.strerror or err}); the previous "
                "checkpoint there, if any, is intact"
            ) from err

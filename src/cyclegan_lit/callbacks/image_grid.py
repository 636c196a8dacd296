"""Image grids of the fixed validation images: saved as PNG and sent to every logger present."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

# Columns of a grid row, as in the reference's visuals: the A side, then the B side.
COLUMNS = ("real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A")


def visuals_to_grid(visuals: Mapping[str, Tensor]) -> np.ndarray:
    """One row per image, one column per visual (``COLUMNS`` order): an H×W×3 uint8 array.

    uint8, because W&B renders float images in [-1, 1] black.
    """
    columns = [visuals[name].detach().float().cpu() for name in COLUMNS if name in visuals]
    if not columns:
        raise ValueError(f"visuals hold none of {', '.join(COLUMNS)}: got {sorted(visuals)}")
    columns = [c.expand(-1, 3, -1, -1) if c.shape[1] == 1 else c for c in columns]
    tiles = torch.stack(columns, dim=1).flatten(0, 1)  # image-major: row i holds image i's visuals
    grid = make_grid((tiles.clamp(-1, 1) + 1) / 2, nrow=len(columns), padding=2, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


class ImageGridLogger(L.Callback):
    """Log real / fake / reconstructed / identity grids of a fixed set of validation images.

    Grids are drawn after every ``every_n_epochs``-th validation epoch and, optionally, every
    ``every_n_batches`` training batches (counted in batches, not in ``global_step``, which counts
    two optimizer steps per batch). Each grid is saved to ``<default_root_dir>/<dirname>/`` and
    logged to W&B (``log_image``) and TensorBoard (``add_image``) when those loggers are present;
    with the CSV logger the PNG files are the image log.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        every_n_batches: int | None = None,
        num_images: int = 4,
        dirname: str = "images",
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"callbacks.image_grid.every_n_epochs={every_n_epochs}: must be >= 1")
        if every_n_batches is not None and every_n_batches < 1:
            raise ValueError(
                f"callbacks.image_grid.every_n_batches={every_n_batches}: must be >= 1 or null"
            )
        self.every_n_epochs = every_n_epochs
        self.every_n_batches = every_n_batches
        self.num_images = num_images
        self.dirname = dirname
        self._batch: dict[str, Any] | None = None
        self.saved: list[Path] = []

    def _fixed_batch(self, trainer: L.Trainer) -> dict[str, Any] | None:
        """The first ``num_images`` validation images, read once and kept on the CPU."""
        if self._batch is None:
            datamodule = trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "val_dataloader"):
                return None
            images: dict[str, list[Tensor]] = {"A": [], "B": []}
            for batch in datamodule.val_dataloader():
                images["A"].append(batch["A"])
                images["B"].append(batch["B"])
                if sum(len(a) for a in images["A"]) >= self.num_images:
                    break
            if not images["A"]:
                return None
            self._batch = {k: torch.cat(v)[: self.num_images] for k, v in images.items()}
        return self._batch

    def _log_grid(self, trainer: L.Trainer, pl_module: L.LightningModule, name: str) -> None:
        batch = self._fixed_batch(trainer)
        if batch is None:
            return
        # every rank runs the generators (SyncBatchNorm would wait for the others); rank 0 writes
        visuals = pl_module.visuals(batch)
        grid = visuals_to_grid(visuals)
        if not trainer.is_global_zero:
            return
        folder = Path(trainer.default_root_dir) / self.dirname
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        Image.fromarray(grid).save(path)
        self.saved.append(path)
        caption = " | ".join(c for c in COLUMNS if c in visuals)
        step = trainer.fit_loop.epoch_loop._batches_that_stepped  # Lightning's logging step
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="images/grid", images=[grid], caption=[f"{name}: {caption}"])
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image("images/grid", grid, step, dataformats="HWC")

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._log_grid(trainer, pl_module, f"epoch_{trainer.current_epoch:03d}")

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.every_n_batches and (batch_idx + 1) % self.every_n_batches == 0:
            self._log_grid(
                trainer, pl_module, f"epoch_{trainer.current_epoch:03d}_batch_{batch_idx + 1:06d}"
            )

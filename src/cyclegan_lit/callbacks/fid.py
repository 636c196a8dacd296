"""FID and KID during training, with the best value and its epoch.

Papers report a CycleGAN's best epoch, which needs the metric during training (reference #1192
asked for it; that PR was declined for putting metric code into train.py). Here it is a callback on
the same code as ``cyclegan-eval``. The feature extractor lives on the callback, never on the
LightningModule, so it is not in ``state_dict`` or any checkpoint; the callback saves only its
best values. Under DDP rank 0 scores (the other ranks wait) and broadcasts the numbers.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from torch import nn

from cyclegan_lit.evaluation import (
    FeatureExtractor,
    TranslationMetrics,
    build_feature_extractor,
    check_directions,
    generator_function,
    score_batches,
)

log = logging.getLogger(__name__)

_KEY = "callbacks.fid"
_SPLITS = ("test", "val")
_GENERATORS = {"AtoB": "G_A", "BtoA": "G_B"}


class FIDCallback(L.Callback):
    """Logs ``<prefix>/fid_AtoB``, ``kid_AtoB`` (``_std``), the same for BtoA, and for each FID
    and KID its best (lowest) value so far and that epoch (0-based, as in checkpoint names):
    ``<prefix>/fid_AtoB_best``, ``<prefix>/fid_AtoB_best_epoch``.

    Runs after every ``every_n_epochs``-th validation epoch of ``fit``, on the whole ``split``
    (``test``: the datamodule's test split, as papers score; ``val``: the validation loader), at
    most ``max_images`` images per domain. ``features`` and ``inception_weights`` as in
    ``cyclegan-eval``. PSNR/SSIM of the validation images are the model's own ``val/psnr_*``.
    """

    def __init__(
        self,
        every_n_epochs: int = 5,
        features: str | nn.Module | Mapping[str, Any] = "inception",
        inception_weights: str | Path | None = None,
        split: str = "test",
        max_images: int | None = None,
        kid_subset_size: int = 1000,
        kid_subsets: int = 100,
        directions: Sequence[str] = ("AtoB", "BtoA"),
        prefix: str = "val",
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"{_KEY}.every_n_epochs={every_n_epochs}: must be >= 1")
        if split not in _SPLITS:
            raise ValueError(f"{_KEY}.split={split!r}: must be test or val")
        if max_images is not None and max_images < 2:
            raise ValueError(f"{_KEY}.max_images={max_images}: must be >= 2 or null")
        if kid_subset_size < 2 or kid_subsets < 1:
            raise ValueError(
                f"{_KEY}.kid_subset_size={kid_subset_size}, kid_subsets={kid_subsets}: need "
                "kid_subset_size >= 2 and kid_subsets >= 1"
            )
        self.every_n_epochs = every_n_epochs
        self.features = features
        self.inception_weights = inception_weights
        self.split = split
        self.max_images = max_images
        self.kid_subset_size = kid_subset_size
        self.kid_subsets = kid_subsets
        self.directions = check_directions(list(directions), f"{_KEY}.directions")
        self.prefix = prefix
        self.extractor: FeatureExtractor | None = None
        # metric name -> {"value": best so far, "epoch": its epoch}; saved in checkpoints
        self.best: dict[str, dict[str, float | int]] = {}

    # -- set-up: everything that can fail, before the first epoch ---------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        for direction in self.directions:
            if not isinstance(getattr(pl_module, _GENERATORS[direction], None), nn.Module):
                raise ValueError(
                    f"{_KEY}: the model has no {_GENERATORS[direction]} to score {direction}"
                )
        if self.extractor is None:
            self.extractor = build_feature_extractor(self.features, self.inception_weights)
        if self.split == "test":
            datamodule = trainer.datamodule
            if datamodule is None or not hasattr(datamodule, "test_dataloader"):
                raise ValueError(f"{_KEY}.split=test needs a datamodule; set {_KEY}.split=val")
            if getattr(datamodule, "test_set", None) is None:
                try:
                    datamodule.setup("test")
                except FileNotFoundError as err:
                    raise ValueError(f"{_KEY}.split=test: {err}; or set {_KEY}.split=val") from None

    # -- scoring ---------------------------------------------------------------------------
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        values = self.score(trainer, pl_module) if trainer.is_global_zero else None
        values = trainer.strategy.broadcast(values, src=0)
        self._log(values, trainer.current_epoch, pl_module)

    def score(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        """FID and KID of the model as it is now, on this callback's split."""
        if self.extractor is None:
            self.extractor = build_feature_extractor(self.features, self.inception_weights)
        device = pl_module.device
        metrics = TranslationMetrics(
            self.extractor.to(device),
            self.directions,
            kid_subset_size=self.kid_subset_size,
            kid_subsets=self.kid_subsets,
        )
        step = int(getattr(pl_module, "min_input_size", 4))
        translators = {
            d: generator_function(getattr(pl_module, _GENERATORS[d]), step, device)
            for d in self.directions
        }
        counts = score_batches(
            self._batches(trainer), translators, metrics, self.max_images, ground_truth=False
        )
        values = metrics.compute()
        log.info("%s on %s images (%s split): %s", _KEY, counts, self.split, values)
        return values

    def _batches(self, trainer: L.Trainer) -> Iterable[Mapping[str, Any]]:
        if self.split == "test":
            return trainer.datamodule.test_dataloader()
        loaders = trainer.val_dataloaders
        if isinstance(loaders, Mapping):
            loaders = list(loaders.values())
        return itertools.chain(*loaders) if isinstance(loaders, list | tuple) else loaders

    def _log(self, values: dict[str, float], epoch: int, pl_module: L.LightningModule) -> None:
        for name, value in values.items():
            pl_module.log(f"{self.prefix}/{name}", value, sync_dist=True)
            if name.endswith("_std"):
                continue
            best = self.best.get(name)
            if best is None or value < best["value"]:  # FID and KID: lower is better
                best = self.best[name] = {"value": value, "epoch": epoch}
            pl_module.log(f"{self.prefix}/{name}_best", float(best["value"]), sync_dist=True)
            pl_module.log(f"{self.prefix}/{name}_best_epoch", float(best["epoch"]), sync_dist=True)

    # -- checkpoints: the best values, never the extractor ---------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"best": {name: dict(best) for name, best in self.best.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = {name: dict(best) for name, best in state_dict.get("best", {}).items()}

"""`cyclegan-train`: compose the config; build data, model, callbacks, loggers, trainer; fit.

    cyclegan-train                                  # a short run on the built-in synthetic data
    cyclegan-train data=horse2zebra trainer=gpu     # the paper's recipe on horse2zebra
    cyclegan-train --help                           # config groups and options

Reading `train` top to bottom tells the whole program; everything it builds comes from `conf/`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.errors import InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from cyclegan_lit.checkpoint_io import check_resumable
from cyclegan_lit.cli.errors import exit_on_user_error
from cyclegan_lit.cli.run_files import (
    exit_interrupted,
    print_config_tree,
    print_outputs,
    resolve_ckpt_path,
    save_metrics,
    scalars,
)
from cyclegan_lit.cli.wandb_runs import finish_wandb, name_sweep_job
from cyclegan_lit.config_store import config_dir
from cyclegan_lit.machine import cpu_has_bf16


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the model that ``cfg`` describes; return the final metrics."""
    name_sweep_job(cfg)
    output_dir = Path(cfg.paths.output_dir)
    print_config_tree(cfg, save_to=output_dir / "config_tree.log")
    L.seed_everything(cfg.seed, workers=True)

    # _convert_="all": plain dicts and lists, so that checkpoints hold no OmegaConf objects
    # (torch.load(weights_only=True) refuses them when resuming)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data, _convert_="all")
    model: L.LightningModule = hydra.utils.instantiate(cfg.model, _convert_="all")
    model.check_image_size(*datamodule.image_size)  # before any download or training
    callbacks = instantiate_all(cfg.get("callbacks"))
    loggers: list[Logger] = instantiate_all(cfg.get("logger"))
    trainer = build_trainer(cfg.trainer, callbacks, loggers)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)

    try:
        ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths)
        if ckpt_path is not None:
            check_resumable(
                ckpt_path, model, trainer.max_epochs if cfg.get("train", True) else None
            )
        metrics: dict[str, float] = {}
        if cfg.get("train", True):
            try:
                trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path)
            except SIGTERMException:
                exit_interrupted(trainer)
            metrics.update(scalars(trainer.callback_metrics))
        if cfg.get("test", False) and has_test_split(datamodule):
            # the final weights; with train=false, the checkpoint given by ckpt_path
            test_ckpt = None if cfg.get("train", True) else ckpt_path
            trainer.test(model=model, datamodule=datamodule, ckpt_path=test_ckpt)
            metrics.update(scalars(trainer.callback_metrics))
        if trainer.is_global_zero:
            save_metrics(output_dir, metrics)
            print_outputs(trainer, output_dir)
    finally:
        finish_wandb(loggers)
    return metrics


def build_trainer(options: DictConfig, callbacks: list[Any], loggers: list[Logger]) -> L.Trainer:
    """The Trainer; settings this machine cannot run are one line naming them, and a precision
    it can only emulate (bf16 without bf16 instructions) is a warning, not a silent slowdown."""
    devices, cores = options.get("devices"), os.cpu_count() or 1
    if options.get("accelerator") == "cpu" and isinstance(devices, int) and devices > cores:
        raise ValueError(f"trainer.devices={devices}: more processes than the {cores} CPU cores")
    try:
        trainer = hydra.utils.instantiate(
            options, callbacks=callbacks, logger=loggers or False, _convert_="all"
        )
    except InstantiationException as err:
        cause = err.__cause__
        if not isinstance(cause, (MisconfigurationException, ValueError)):
            raise
        keys = ("accelerator", "devices", "precision", "strategy")
        named = " ".join(f"trainer.{k}={options.get(k)}" for k in keys)
        raise ValueError(f"{named}: {str(cause).strip().splitlines()[0]}") from None
    if (
        trainer.precision.startswith("bf16")
        and isinstance(trainer.accelerator, CPUAccelerator)
        and cpu_has_bf16() is False
    ):
        print(
            f"cyclegan-train: warning: trainer.precision={trainer.precision}: this CPU has no "
            "bf16 instructions, so bf16 is emulated and slower than 32-true",
            file=sys.stderr,
        )
    return trainer


def has_test_split(datamodule: L.LightningDataModule) -> bool:
    """A folder without testA/testB trains, then skips the test with a warning, not an error."""
    datamodule.prepare_data()
    if getattr(datamodule, "has_test_split", True):
        return True
    root = getattr(datamodule, "dataset_root", "the dataset")
    print(f"cyclegan-train: no testA/ and testB/ under {root}: skipping the test", file=sys.stderr)
    return False


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group such as ``callbacks`` or ``logger`` (name -> config);
    an entry set to null (``logger=none`` drops the LR monitor that way) is skipped."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(c, _convert_="all") for c in group.values() if c and "_target_" in c
    ]


def main() -> None:
    """Console entry point: ``cyclegan-train [overrides]``."""
    os.environ.setdefault("WANDB_SILENT", "true")  # no banners; the W&B location is printed last

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
    def _main(cfg: DictConfig) -> float | None:
        metrics = exit_on_user_error("cyclegan-train", lambda: train(cfg))
        metric = cfg.get("optimized_metric")
        if not metric:
            return None
        if metric not in metrics:
            raise KeyError(
                f"optimized_metric={metric} was not logged; logged: {', '.join(metrics)}"
            )
        return metrics[metric]

    _main()


if __name__ == "__main__":
    main()

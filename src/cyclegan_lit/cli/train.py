"""`cyclegan-train`: compose the config; build data, model, callbacks, loggers, trainer; fit.

    cyclegan-train                                  # a short run on the built-in synthetic data
    cyclegan-train data=horse2zebra trainer=gpu     # the paper's recipe on horse2zebra
    cyclegan-train --help                           # config groups and options

Reading `train` top to bottom tells the whole program; everything it builds comes from `conf/`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from cyclegan_lit.callbacks.sweep import METRICS_FILE
from cyclegan_lit.config_path import config_dir
from cyclegan_lit.data.download import DatasetDownloadError

# Groups printed first in the config tree, in the order a reader wants them.
TREE_ORDER = ("data", "model", "callbacks", "logger", "trainer", "paths")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the model that ``cfg`` describes; return the final metrics."""
    _name_sweep_job(cfg)
    output_dir = Path(cfg.paths.output_dir)
    print_config_tree(cfg, save_to=output_dir / "config_tree.log")
    L.seed_everything(cfg.seed, workers=True)

    # _convert_="all": plain dicts and lists, so that checkpoints hold no OmegaConf objects
    # (torch.load(weights_only=True) refuses them when resuming)
    datamodule: L.LightningDataModule = hydra.utils.instantiate(cfg.data, _convert_="all")
    model: L.LightningModule = hydra.utils.instantiate(cfg.model, _convert_="all")
    callbacks = _instantiate_all(cfg.get("callbacks"))
    loggers: list[Logger] = _instantiate_all(cfg.get("logger"))
    if not loggers:  # LearningRateMonitor refuses to run without a logger (logger=none)
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, _convert_="all"
    )
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)

    try:
        ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths)
        metrics: dict[str, float] = {}
        if cfg.get("train", True):
            trainer.fit(model=model, datamodule=datamodule, ckpt_path=ckpt_path)
            metrics.update(_scalars(trainer.callback_metrics))
        if cfg.get("test", False):
            # the final weights; with train=false, the checkpoint given by ckpt_path
            test_ckpt = None if cfg.get("train", True) else ckpt_path
            trainer.test(model=model, datamodule=datamodule, ckpt_path=test_ckpt)
            metrics.update(_scalars(trainer.callback_metrics))
        if trainer.is_global_zero:
            _save_metrics(output_dir / METRICS_FILE, metrics)
            print_outputs(trainer, output_dir)
    finally:
        _finish_wandb(loggers)
    return metrics


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items() if value.numel() == 1}


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a group such as ``callbacks`` or ``logger`` (name -> config)."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(c, _convert_="all") for c in group.values() if c and "_target_" in c
    ]


def resolve_ckpt_path(ckpt_path: str | None, paths: DictConfig) -> str | None:
    """``last`` means the newest ``last.ckpt`` under ``paths.log_dir`` and ``paths.sweep_dir``."""
    if ckpt_path != "last":
        if ckpt_path is not None and not Path(ckpt_path).is_file():
            raise FileNotFoundError(
                f"ckpt_path={ckpt_path} does not exist: give a .ckpt file or `last`"
            )
        return ckpt_path
    roots = [Path(paths.log_dir), Path(paths.sweep_dir)]
    found = [p for root in roots if root.is_dir() for p in root.glob("**/last.ckpt")]
    if not found:
        raise FileNotFoundError(
            f"ckpt_path=last: no last.ckpt under {roots[0]} or {roots[1]}; "
            "give the path of a .ckpt file"
        )
    return str(max(found, key=lambda p: p.stat().st_mtime))


def _name_sweep_job(cfg: DictConfig) -> None:
    """In a sweep, give each job's W&B run the job's overrides as name and the sweep as group."""
    if "wandb" not in (cfg.get("logger") or {}) or not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return
    with open_dict(cfg):
        wandb_cfg = cfg.logger.wandb
        sweep = Path(hydra_cfg.sweep.dir)
        if wandb_cfg.get("group") is None:
            wandb_cfg.group = f"{sweep.parent.name}_{sweep.name}"
        if wandb_cfg.get("name") is None:
            wandb_cfg.name = hydra_cfg.job.override_dirname or f"job{hydra_cfg.job.num}"


@rank_zero_only
def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Print the composed config as a rich tree (one branch per group); also write it to a file."""
    tree = Tree("config", guide_style="dim")
    keys = [k for k in TREE_ORDER if k in cfg] + [k for k in cfg if k not in TREE_ORDER]
    for key in keys:
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        tree.add(key).add(Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    Console().print(tree)
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        with open(save_to, "w") as file:
            Console(file=file, width=120, color_system=None).print(tree)


def _save_metrics(path: Path, metrics: dict[str, float]) -> None:
    """Write the final metrics and the job's identity, read back by the sweep summary."""
    record: dict[str, Any] = {"metrics": metrics, "output_dir": str(path.parent)}
    if HydraConfig.initialized():
        job = HydraConfig.get().job
        record.update(job_num=job.get("num", 0), overrides=list(HydraConfig.get().overrides.task))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def print_outputs(trainer: L.Trainer, output_dir: Path) -> None:
    """Say where the checkpoints, logs and image grids are, and how to sync an offline W&B run."""
    lines = [f"Run folder:   {output_dir.resolve()}"]
    ckpt_dirs = {cb.dirpath for cb in trainer.checkpoint_callbacks if getattr(cb, "dirpath", None)}
    lines += [f"Checkpoints:  {d}" for d in sorted(ckpt_dirs)]
    images = output_dir / "images"
    if images.is_dir():
        lines.append(f"Image grids:  {images.resolve()}")
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            if run.settings.mode == "offline":
                run_dir = Path(run.dir).parent
                lines.append(f"W&B (offline): {run_dir}  ->  upload with: wandb sync {run_dir}")
            elif run.url:
                lines.append(f"W&B:          {run.url}")
        elif logger.log_dir:
            lines.append(f"{type(logger).__name__}:  {Path(logger.log_dir).resolve()}")
    print("\n".join(lines))


def _finish_wandb(loggers: list[Logger]) -> None:
    """Close this job's W&B run, so that the next job of a sweep starts its own run."""
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish()


# Bad input (missing folders, unreadable images, wrong option values, failed downloads): these carry
# a one-line message naming the file or option; a traceback would only hide it.
USER_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, DatasetDownloadError)


def user_error_message(err: BaseException) -> str | None:
    """The one-line message of a user error (unwrapping Hydra's instantiate error), else None."""
    if isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    if not isinstance(err, USER_ERRORS):
        return None  # a bug or an internal failure: keep the traceback
    text = str(err).strip()
    if not text or "\n" in text:
        return None
    return text


def main() -> None:
    """Console entry point: ``cyclegan-train [overrides]``."""
    os.environ.setdefault(
        "WANDB_SILENT", "true"
    )  # no banners; the W&B location is printed at the end

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
    def _main(cfg: DictConfig) -> float | None:
        try:
            metrics = train(cfg)
        except Exception as err:
            message = user_error_message(err)
            if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"cyclegan-train: error: {message}", file=sys.stderr)
            sys.exit(1)
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

"""One W&B run per job: named and grouped by the sweep, and closed when the job ends.

In a Hydra multirun every job runs in one process; without ``wandb.finish()`` the second job would
log into the first job's run (W&B keeps one run per process until wandb.finish()).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger


def name_sweep_job(cfg: DictConfig) -> None:
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


def finish_wandb(loggers: list[Logger]) -> None:
    """Close this job's W&B run, so that the next job of a sweep starts its own run."""
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(logger, WandbLogger) for logger in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish()


def wandb_run_id(wandb_dir: Path) -> str | None:
    """The id of the newest W&B run in ``wandb_dir``: from the ``latest-run`` link, else from the
    newest ``run-<time>-<id>`` / ``offline-run-<time>-<id>`` folder."""
    if not wandb_dir.is_dir():
        return None
    latest = wandb_dir / "latest-run"
    names = [latest.resolve().name] if latest.exists() else []
    runs = [p.name for p in wandb_dir.iterdir() if p.is_dir() and "run-" in p.name]
    names += sorted(runs, key=lambda n: n.split("run-", 1)[1], reverse=True)
    for name in names:
        match = re.fullmatch(r"(?:offline-)?run-\d{8}_\d{6}-([A-Za-z0-9]+)", name)
        if match:
            return match.group(1)
    return None

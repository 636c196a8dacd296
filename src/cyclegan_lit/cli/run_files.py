"""What a run leaves in its folder and says on screen: the config tree, ``metrics.json``, where the
checkpoints, grids and logs went; and which checkpoint ``ckpt_path=last`` means."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from cyclegan_lit.callbacks.sweep import METRICS_FILE
from cyclegan_lit.checkpoint_io import is_complete_checkpoint

# Groups printed first in the config tree, in the order a reader wants them.
TREE_ORDER = ("data", "model", "callbacks", "logger", "trainer", "paths")


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


def resolve_ckpt_path(ckpt_path: str | None, paths: DictConfig) -> str | None:
    """``last`` means the newest ``last.ckpt`` under ``paths.log_dir`` and ``paths.sweep_dir``."""
    if ckpt_path != "last":
        if ckpt_path is not None and not Path(ckpt_path).is_file():
            raise FileNotFoundError(
                f"ckpt_path={ckpt_path}: no such file; give a .ckpt file or `last`"
            )
        return ckpt_path
    roots = [Path(paths.log_dir), Path(paths.sweep_dir)]
    found = [p for root in roots if root.is_dir() for p in root.glob("**/last.ckpt")]
    for path in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        if is_complete_checkpoint(path):
            return str(path)
        print(f"ckpt_path=last: skipping {path}: truncated or unreadable", file=sys.stderr)
    raise FileNotFoundError(
        f"ckpt_path=last: no complete last.ckpt under {roots[0]} or {roots[1]}; "
        "give the path of a .ckpt file"
    )


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The single-number entries of Lightning's ``callback_metrics``, as floats."""
    return {name: float(value) for name, value in metrics.items() if value.numel() == 1}


def save_metrics(output_dir: Path, metrics: dict[str, float]) -> None:
    """Write ``metrics.json``: the final metrics and the job's identity (the sweep summary's)."""
    path = output_dir / METRICS_FILE
    record: dict[str, Any] = {"metrics": metrics, "output_dir": str(output_dir)}
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


def exit_interrupted(trainer: L.Trainer) -> None:
    """After SIGTERM or Ctrl+C: say where the checkpoint is and exit with 128 + the signal."""
    from cyclegan_lit.callbacks.interrupt import SaveOnInterrupt

    saver = next((c for c in trainer.callbacks if isinstance(c, SaveOnInterrupt)), None)
    signum = saver.signal if saver is not None and saver.signal else signal.SIGTERM
    epoch, batch = trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_progress.current
    where = f"epoch {epoch}, after batch {batch.processed}"
    if saver is not None and saver.saved is not None:
        message = f"saved {saver.saved}; resume with ckpt_path={saver.saved}"
    else:
        message = "no checkpoint written (callbacks.save_on_interrupt is off)"
    print(f"cyclegan-train: stopped by {signum.name} at {where}: {message}", file=sys.stderr)
    raise SystemExit(128 + int(signum))

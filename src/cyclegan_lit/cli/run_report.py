"""What a finished (or stopped) run leaves and says: ``metrics.json``, where the checkpoints,
grids and logs went, and, after SIGTERM or Ctrl+C, where to resume from."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig

from cyclegan_lit.callbacks.sweep import METRICS_FILE
from cyclegan_lit.cli.console import say

if TYPE_CHECKING:
    import lightning as L


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The single-number entries of Lightning's ``callback_metrics``, as floats."""
    return {name: float(value) for name, value in metrics.items() if value.numel() == 1}


def save_metrics(output_dir: Path, metrics: dict[str, float], folder: Path | None = None) -> None:
    """Write ``metrics.json`` into ``folder`` (default: ``output_dir``): the final metrics and the
    job's identity (the sweep summary's)."""
    path = (folder or output_dir) / METRICS_FILE
    record: dict[str, Any] = {"metrics": metrics, "output_dir": str(output_dir)}
    if HydraConfig.initialized():
        job = HydraConfig.get().job
        record.update(job_num=job.get("num", 0), overrides=list(HydraConfig.get().overrides.task))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def print_outputs(trainer: L.Trainer, output_dir: Path) -> None:
    """Say where the checkpoints, metrics, logs and image grids are (those that were written: a
    ``debug=fdr`` run writes no checkpoint), and how to sync an offline W&B run."""
    from lightning.pytorch.loggers import WandbLogger

    lines = [f"Run folder:   {output_dir.resolve()}"]
    ckpt_dirs = {cb.dirpath for cb in trainer.checkpoint_callbacks if getattr(cb, "dirpath", None)}
    lines += [f"Checkpoints:  {d}" for d in sorted(ckpt_dirs) if any(Path(d).glob("*.ckpt"))]
    for label, path in (
        ("Image grids:", output_dir / "images"),
        ("Metrics:", output_dir / METRICS_FILE),
    ):
        if path.exists():
            lines.append(f"{label:<13} {path.resolve()}")
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            if run.settings.mode == "offline":
                run_dir = Path(run.dir).parent
                # a resumed run has one folder per invocation; wandb sync joins them into one run
                parts = sorted(run_dir.parent.glob(f"offline-run-*-{run.id}")) or [run_dir]
                synced = " ".join(str(p) for p in parts)
                lines.append(f"W&B (offline): {run_dir}  ->  upload with: wandb sync {synced}")
            elif run.url:
                lines.append(f"W&B:          {run.url}")
        elif logger.log_dir and Path(logger.log_dir).is_dir():
            lines.append(f"{type(logger).__name__}:  {Path(logger.log_dir).resolve()}")
    say("\n".join(lines), err=False)


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
    say(f"cyclegan-train: stopped by {signum.name} at {where}: {message}")
    raise SystemExit(128 + int(signum))

"""The folder Hydra creates for each invocation of ``cyclegan-train``, before our code runs: removed
when the command fails before training (nothing left behind by a wrong option, missing data or no
network), and tidied away after a resume that continued another run's folder."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from cyclegan_lit.cli.console import rank


def _hydra_run_folder() -> Path | None:
    """The folder Hydra created for this invocation; None outside a Hydra run (a config composed
    by a script with the Compose API, as benchmarks/training_curve.py does, has none)."""
    if not HydraConfig.initialized():
        return None
    folder = OmegaConf.select(HydraConfig.get(), "runtime.output_dir", default=None)
    return None if folder is None else Path(folder)


def hydra_job_folder() -> Path | None:
    """The folder Hydra created for this sweep job (None outside a sweep)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return _hydra_run_folder()


def tidy_fresh_folder(output_dir: Path) -> None:
    """After a resume that continued another run folder, remove the folder Hydra created for this
    invocation when it holds only Hydra's own files, appending its log to the run's log. A sweep
    job's folder stays: the sweep's summary reads its ``metrics.json``."""
    fresh = _hydra_run_folder()
    if fresh is None or rank() != 0:
        return
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN or fresh.resolve() == output_dir.resolve():
        return
    log_name = f"{hydra_cfg.job.name}.log"
    if not fresh.is_dir() or {p.name for p in fresh.iterdir()} - {".hydra", log_name}:
        return
    log = fresh / log_name
    if log.is_file() and log.stat().st_size:
        with open(output_dir / log_name, "ab") as out:
            out.write(log.read_bytes())
    shutil.rmtree(fresh, ignore_errors=True)
    with contextlib.suppress(OSError):
        fresh.parent.rmdir()  # the <date> folder, when that was its only run


def _holds_only_hydras_files(folder: Path, log_name: str) -> bool:
    return folder.is_dir() and not {p.name for p in folder.iterdir()} - {".hydra", log_name}


@contextlib.contextmanager
def discard_fresh_folder_on_failure(log_dir: Path) -> Iterator[None]:
    """Remove the run folder Hydra created for this invocation when the block fails: a command
    that stops before training (a wrong option, missing data, no network) leaves nothing behind.
    Only a folder that held nothing but Hydra's own files when the block started goes (a requeued
    SLURM job's folder, with its checkpoints, stays), and never a sweep job's (the sweep's
    summary reads it) or another rank's. Emptied folders above it go too, up to ``log_dir``."""
    if not HydraConfig.initialized() or HydraConfig.get().mode == RunMode.MULTIRUN or rank() != 0:
        yield
        return
    hydra_cfg, fresh = HydraConfig.get(), _hydra_run_folder()
    if fresh is None or not _holds_only_hydras_files(fresh, f"{hydra_cfg.job.name}.log"):
        yield
        return
    try:
        yield
    except BaseException:
        _remove_run_folder(fresh, log_dir)
        raise


def _remove_run_folder(folder: Path, log_dir: Path) -> None:
    """Remove ``folder``, then the folders above it up to ``log_dir`` that it leaves empty (never
    the current folder)."""
    for handler in logging.getLogger().handlers:  # the run's log is open in it
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).is_relative_to(
            folder.resolve()
        ):
            handler.close()
    shutil.rmtree(folder, ignore_errors=True)
    top, here = log_dir.resolve(), Path.cwd().resolve()
    for parent in folder.resolve().parents:
        if not parent.is_relative_to(top) or here.is_relative_to(parent):
            break
        with contextlib.suppress(OSError):
            parent.rmdir()

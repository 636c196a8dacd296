"""What a run leaves in its folder and says on screen: the config tree, ``metrics.json``, where the
checkpoints, grids and logs went; which checkpoint ``ckpt_path=last`` means; and how a resumed
run continues in its own folder, CSV file and W&B run instead of starting new ones.

torch and Lightning are imported inside the functions that need them: ``cyclegan-eval``,
``-export`` and ``-translate`` import ``resolve_ckpt_path`` from here, and their ``--help`` (like
``cyclegan-train``'s) answers without loading either.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zipfile import BadZipFile, ZipFile

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from cyclegan_lit.callbacks.sweep import METRICS_FILE
from cyclegan_lit.cli.console import say

if TYPE_CHECKING:
    import lightning as L
    from lightning.pytorch.loggers import Logger

# Groups printed first in the config tree, in the order a reader wants them.
TREE_ORDER = ("data", "model", "callbacks", "logger", "trainer", "paths")


def rank() -> int:
    """This process's global rank as Lightning knows it (0 outside a distributed run)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0))


def is_complete_checkpoint(path: str | Path) -> bool:
    """A torch checkpoint is a zip whose directory is written last: a cut file has none."""
    try:
        with ZipFile(path):
            return True
    except (OSError, BadZipFile):
        return False


def _config_tree(cfg: DictConfig) -> Tree:
    tree = Tree("config", guide_style="dim")
    keys = [k for k in TREE_ORDER if k in cfg] + [k for k in cfg if k not in TREE_ORDER]
    for key in keys:
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        tree.add(key).add(Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    return tree


def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Print the composed config as a rich tree (one branch per group); also write it to a file."""
    if rank() != 0:
        return
    Console().print(_config_tree(cfg))
    if save_to is not None:
        save_config_tree(cfg, save_to)


def save_config_tree(cfg: DictConfig, path: Path) -> None:
    """Write the config tree to ``path`` (a resumed run writes it only once the checkpoint passed
    its checks, so that a refused resume leaves the run's folder as it was)."""
    if rank() != 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as file:
        Console(file=file, width=120, color_system=None).print(_config_tree(cfg))


def check_writable(folder: Path, option: str) -> None:
    """One line naming ``option`` when ``folder`` cannot be created or written, before any work
    (a real write: permission bits say nothing for root)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OSError(
            f"{option}={folder}: cannot create or write this folder "
            f"({err.strerror or type(err).__name__}); set {option} to a folder you can write"
        ) from None


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
        say(f"ckpt_path=last: skipping {path}: truncated or unreadable")
    raise FileNotFoundError(
        f"ckpt_path=last: no complete last.ckpt under {roots[0]} or {roots[1]}; "
        "give the path of a .ckpt file"
    )


# --- resuming a run in its own folder ----------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    """Where a resume starts: the checkpoint, the run folder it belongs to (None for a file outside
    any run folder), and its progress. ``next_logged_step`` is the first step the resumed run gives
    the loggers (Lightning's logging step counts batches; ``global_step`` counts both optimizers'
    steps)."""

    ckpt: Path
    run_dir: Path | None
    epoch: int = 0
    global_step: int = 0
    next_logged_step: int = 0


def is_run_folder(folder: Path) -> bool:
    """A folder written by cyclegan-train: Hydra's ``.hydra/`` or our ``config_tree.log``."""
    return (folder / ".hydra").is_dir() or (folder / "config_tree.log").is_file()


def run_folder_of(ckpt: Path) -> Path | None:
    """The run folder holding ``ckpt``: ``<run>/checkpoints/*.ckpt``, or ``<run>/hpc_ckpt_N.ckpt``
    (Lightning's SLURM checkpoints); None for a checkpoint outside any run folder."""
    ckpt = ckpt.resolve()
    candidates = [ckpt.parent.parent] if ckpt.parent.name == "checkpoints" else [ckpt.parent]
    return next((folder for folder in candidates if is_run_folder(folder)), None)


def _progress(ckpt: Path) -> tuple[int, int, int]:
    """(epoch, global step, next logged step) of a Lightning checkpoint; zeros when unreadable, as
    ``check_resumable`` then refuses it in one line.

    The next logged step mirrors Lightning 2.6's ``_TrainingEpochLoop.reset``: a checkpoint written
    at a batch's end (ModelCheckpoint's step or time interval) logs that batch after saving, so
    the resumed run starts one step later; one written after a batch was wholly done (an epoch's
    end, a SIGTERM stop) resumes at the saved step.
    """
    import torch

    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
        loop = state["loops"]["fit_loop"]
        step = int(loop["epoch_loop.state_dict"]["_batches_that_stepped"])
        total = loop["epoch_loop.batch_progress"]["total"]
        done = total["ready"] == total["started"] == total["processed"] == total["completed"]
        return int(state["epoch"]), int(state["global_step"]), step if done else step + 1
    except Exception:  # any unreadable file: check_resumable says why, in one line
        return 0, 0, 0


def _say(message: str) -> None:
    if rank() == 0:
        say(f"cyclegan-train: {message}")


def plan_resume(cfg: DictConfig) -> Resume | None:
    """The checkpoint this invocation resumes from, if any: ``ckpt_path`` (a file, or ``last``), or,
    in a SLURM job whose run folder already holds checkpoints (a requeued job: it keeps its
    folder), the newest of them."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        if not SLURMEnvironment.detect():
            return None
        ckpt = newest_checkpoint_in(Path(cfg.paths.output_dir))
        if ckpt is None:
            return None
        _say(f"a SLURM job whose run folder has checkpoints (requeued): resuming from {ckpt}")
    elif ckpt_path == "last":
        ckpt = find_last_of_same_command(cfg.paths, *_this_command())
    else:
        ckpt = Path(ckpt_path)
        if not ckpt.is_file():
            raise FileNotFoundError(
                f"ckpt_path={ckpt_path}: no such file; give a .ckpt file or `last`"
            )
    return Resume(ckpt, run_folder_of(ckpt), *_progress(ckpt))


def newest_checkpoint_in(run_dir: Path) -> Path | None:
    """The newest complete ``checkpoints/last.ckpt`` or ``hpc_ckpt_N.ckpt`` of a run folder."""
    found = [run_dir / "checkpoints" / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")]
    complete = [p for p in found if p.is_file() and is_complete_checkpoint(p)]
    return max(complete, key=lambda p: p.stat().st_mtime, default=None)


def _this_command() -> tuple[list[str], bool]:
    """This invocation's overrides without ``ckpt_path``, and whether it is a sweep job."""
    if not HydraConfig.initialized():
        return [], False
    hydra_cfg = HydraConfig.get()
    return _without_ckpt_path(hydra_cfg.overrides.task), hydra_cfg.mode == RunMode.MULTIRUN


def _without_ckpt_path(overrides: Any) -> list[str]:
    return sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "ckpt_path")


def _saved_overrides(run_dir: Path) -> list[str] | None:
    try:
        return _without_ckpt_path(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
    except (OSError, ValueError, TypeError):
        return None


def find_last_of_same_command(paths: DictConfig, overrides: list[str], sweep: bool) -> Path:
    """``ckpt_path=last``: the newest complete ``last.ckpt`` of a run started with this command's
    options (its ``.hydra/overrides.yaml`` equals ours, ``ckpt_path`` aside), under
    ``paths.log_dir`` for a single run and ``paths.sweep_dir`` for a sweep job. Never another
    command's run: the newest of all once resumed a finished sweep job instead of the run meant."""
    root = Path(paths.sweep_dir if sweep else paths.log_dir)
    found = root.glob("**/checkpoints/last.ckpt") if root.is_dir() else []
    others: list[Path] = []
    for path in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True):
        if _saved_overrides(path.parent.parent) != overrides:
            others += [path] if is_complete_checkpoint(path) else []
        elif is_complete_checkpoint(path):
            when = datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            _say(
                f"ckpt_path=last: {path} (the newest complete last.ckpt of a run started with "
                f"the same options under {root}, written {when})"
            )
            return path
        else:
            _say(f"ckpt_path=last: skipping {path}: truncated or unreadable")
    if not others:
        raise FileNotFoundError(
            f"ckpt_path=last: no complete last.ckpt under {root}; give the path of a .ckpt file"
        )
    there = _saved_overrides(others[0].parent.parent) or []
    added = " ".join(o for o in overrides if o not in there) or "none"
    missing = " ".join(o for o in there if o not in overrides) or "none"
    raise FileNotFoundError(
        f"ckpt_path=last: no run under {root} was started with these options; the newest, "
        f"{others[0].parent.parent}, differs (only here: {added}; only there: {missing}); "
        f"to continue it, pass ckpt_path={others[0]}"
    )


def continue_run(cfg: DictConfig, resume: Resume) -> None:
    """Point this invocation at the run it resumes: ``paths.output_dir`` (checkpoints, grids,
    loggers, all interpolating it), the CSV logger's version folder and the W&B run id; set before
    any of them is instantiated."""
    assert resume.run_dir is not None
    with open_dict(cfg):
        cfg.paths.output_dir = str(resume.run_dir)
        for entry in (cfg.get("logger") or {}).values():
            target = str((entry or {}).get("_target_", ""))
            if target.endswith("CSVLogger") and entry.get("version") is None:
                entry.version = _latest_version(Path(entry.save_dir) / (entry.get("name") or ""))
            if target.endswith("WandbLogger") and entry.get("id") is None:
                run_id = wandb_run_id(Path(entry.get("save_dir") or resume.run_dir) / "wandb")
                if run_id is not None:
                    entry.id, entry.resume = run_id, "allow"


def _latest_version(folder: Path) -> int | None:
    numbers = [int(p.name[8:]) for p in folder.glob("version_*") if p.name[8:].isdigit()]
    return max(numbers, default=None)


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


def continue_csv(loggers: list[Logger], next_step: int) -> int:
    """Continue each CSV logger's ``metrics.csv`` instead of letting Lightning delete it.

    Lightning's CSV writer deletes an existing ``metrics.csv`` in its version folder when created,
    and rows logged after the checkpoint would be logged again by the resumed run. So the file is
    moved aside, the writer created, and the rows before ``next_step`` written back; the writer
    then appends. Returns how many rows were dropped. A kill in between leaves
    ``metrics.csv.resume`` (the whole file), which the next resume reads.
    """
    from lightning.pytorch.loggers import CSVLogger

    from cyclegan_lit.atomic_files import atomic_path

    dropped = 0
    for logger in loggers:
        if not isinstance(logger, CSVLogger) or rank() != 0:
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        aside = path.with_name("metrics.csv.resume")
        if path.is_file():
            os.replace(path, aside)
        if not aside.is_file():
            continue
        with aside.open(newline="") as file:
            reader = csv.DictReader(file)
            header, rows = list(reader.fieldnames or []), list(reader)
        kept = [row for row in rows if _step(row) < next_step]
        dropped += len(rows) - len(kept)
        with warnings.catch_warnings():  # "... will be deleted": not any more
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = logger.experiment
        with atomic_path(path) as tmp, tmp.open("w", newline="") as file:
            out = csv.DictWriter(file, fieldnames=header)
            out.writeheader()
            out.writerows(kept)
        writer.metrics_keys = header
        aside.unlink()
    return dropped


def _step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0


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

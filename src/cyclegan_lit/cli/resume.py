"""Resuming a run: which checkpoint ``ckpt_path`` (a file or ``last``) or a requeued SLURM job
means, and how the resumed run continues in its own folder, CSV file and W&B run instead of
starting new ones.

    resume = start_resume(cfg)          # before anything interpolates ${paths.output_dir}
    ...                                 # build the model, trainer and loggers
    continue_from(resume, model, loggers, max_epochs)  # one line if it cannot resume

torch and Lightning are imported inside the functions that need them: ``cyclegan-eval``,
``-export`` and ``-translate`` import ``resolve_ckpt_path`` from here, and their ``--help`` (like
``cyclegan-train``'s) answers without loading either.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zipfile import BadZipFile, ZipFile

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from cyclegan_lit.cli.console import rank, say
from cyclegan_lit.cli.wandb_runs import wandb_run_id

if TYPE_CHECKING:
    import lightning as L
    from lightning.pytorch.loggers import Logger


def _existing_checkpoint(ckpt_path: str) -> Path:
    """The ``ckpt_path`` a user gave, if it is a file; else the one-line error that says so."""
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such file; give a .ckpt file or `last`")
    return Path(ckpt_path)


def resolve_ckpt_path(ckpt_path: str | None, paths: DictConfig) -> str | None:
    """``last`` means the newest ``last.ckpt`` under ``paths.log_dir`` and ``paths.sweep_dir``."""
    if ckpt_path != "last":
        if ckpt_path is not None:
            _existing_checkpoint(ckpt_path)
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


def is_complete_checkpoint(path: str | Path) -> bool:
    """A torch checkpoint is a zip whose directory is written last: a cut file has none."""
    try:
        with ZipFile(path):
            return True
    except (OSError, BadZipFile):
        return False


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

    @property
    def continues_a_run(self) -> bool:
        """Whether it continues a run folder (its checkpoints, CSV file and W&B run)."""
        return self.run_dir is not None


def start_resume(cfg: DictConfig) -> Resume | None:
    """The checkpoint this invocation resumes from (None: a fresh run); when it belongs to a run
    folder, ``cfg`` is pointed at that run (``continue_run``)."""
    resume = plan_resume(cfg)
    if resume is not None and resume.continues_a_run:
        continue_run(cfg, resume)
    return resume


def continue_from(
    resume: Resume, model: L.LightningModule, loggers: list[Logger], max_epochs: int | None
) -> None:
    """Refuse, in one line, a checkpoint that cannot resume ``model`` (or has trained all
    ``max_epochs``: None when only testing); then continue the CSV files and say where."""
    from cyclegan_lit.checkpoint_io import check_resumable

    check_resumable(resume.ckpt, model, max_epochs)
    announce_resume(resume, continue_csv(loggers, resume.next_logged_step))


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
        ckpt = _existing_checkpoint(ckpt_path)
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


def announce_resume(resume: Resume, dropped_rows: int) -> None:
    """One line: which run continues, from which checkpoint, where in training."""
    if rank() != 0:
        return
    where = f"epoch {resume.epoch}, step {resume.global_step}"
    if resume.run_dir is None:
        line = f"resuming from {resume.ckpt} ({where}) in a new run folder (it is in none)"
    else:
        dropped = f"; {dropped_rows} CSV rows logged after it dropped" if dropped_rows else ""
        line = f"resuming {resume.run_dir} from {resume.ckpt} ({where}{dropped})"
    say(f"cyclegan-train: {line}")

"""Checkpoints written whole or not at all, and checked before a run resumes from one.

Lightning's own writer serialises to memory and then writes the file in place, so a kill or a full
disk during the write leaves a truncated ``last.ckpt`` where the previous good one was. Here the
checkpoint goes to a temp file beside it and is renamed over it only once complete and synced.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.types import _PATH

from cyclegan_lit.atomic_files import atomic_torch_save
from cyclegan_lit.messages import first_line
from cyclegan_lit.removed_options import check_removed_options


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` whose writes are atomic (``trainer.plugins`` in conf/trainer)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        try:
            atomic_torch_save(checkpoint, path)
        except OSError as err:
            raise OSError(
                f"could not write checkpoint {path} ({err.strerror or err}); the previous "
                "checkpoint there, if any, is intact"
            ) from err


def is_complete_checkpoint(path: str | Path) -> bool:
    """A torch checkpoint is a zip whose directory is written last: a cut file has none."""
    try:
        with zipfile.ZipFile(path):
            return True
    except (OSError, zipfile.BadZipFile):
        return False


def check_resumable(
    path: str | Path, model: torch.nn.Module, max_epochs: int | None = None
) -> None:
    """One line, before any work, when ``path`` cannot resume ``model``: cut short, not ours,
    trained with a model option this version no longer has (cyclegan_lit.removed_options),
    written by another architecture (naming the options that differ), or of a run that already
    trained its ``max_epochs`` (which would "resume" into zero steps and report success)."""
    if not is_complete_checkpoint(path):
        raise ValueError(
            f"ckpt_path={path}: truncated or not a checkpoint (an interrupted write?); "
            "resume from an earlier one"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        first = first_line(err, 160)
        raise ValueError(f"ckpt_path={path}: cannot be read ({first})") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(
            f"ckpt_path={path}: not a Lightning checkpoint (a reference .pth? translate with "
            "cyclegan-translate, or load it with CycleGAN.load_reference)"
        )
    saved = checkpoint.get("hyper_parameters") or {}
    check_removed_options(saved, f"ckpt_path={path}")
    expected = model.state_dict()
    differ = sorted(
        set(state) ^ set(expected)
        | {k for k in set(state) & set(expected) if state[k].shape != expected[k].shape}
    )
    if not differ:
        _check_not_finished(path, checkpoint, max_epochs)
        return
    options = [
        f"model.{group}.{key}: checkpoint {value!r}, config {model.hparams[group].get(key)!r}"
        for group in ("generator", "discriminator")
        for key, value in dict(saved.get(group, {})).items()
        if model.hparams[group].get(key) != value
    ]
    cause = "; ".join(options) if options else f"{len(differ)} keys differ, e.g. {differ[0]}"
    raise ValueError(f"ckpt_path={path}: written by another architecture ({cause})")


def _check_not_finished(path: str | Path, checkpoint: dict, max_epochs: int | None) -> None:
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
    done = progress.get("current", {}).get("processed", 0)
    if max_epochs is not None and max_epochs >= 0 and done >= max_epochs:
        raise ValueError(
            f"ckpt_path={path}: that run already trained all {max_epochs} epochs; to train on, "
            "raise model.scheduler.n_epochs (or trainer.max_epochs), else start without ckpt_path"
        )

"""Shared fixtures: tiny run overrides, the installed CLI in a subprocess, composed configs, and a
reader for offline W&B run files."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from cyclegan_lit.config_store import config_dir

CLI = Path(sys.executable).parent / "cyclegan-train"

# A run small enough for a test: 8-channel networks, 32 px synthetic images, 4 batches, one epoch;
# the paper's ResNet generator (the built-in data's own U-Net needs 64 px).
TINY_OVERRIDES = [
    "model/generator=resnet_9blocks",
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "data.synthetic_size=32",
    "data.load_size=32",
    "data.crop_size=32",
    "data.synthetic_train=8",
    "data.synthetic_test=4",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "data.pin_memory=false",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=1",
    "~callbacks.rich_progress_bar",
]


# A tiny CycleGAN (ngf = ndf = 8, a 6-block ResNet) for tests of what comes after training.
TINY_MODEL = {"generator": {"name": "resnet_6blocks", "ngf": 8}, "discriminator": {"ndf": 8}}


@pytest.fixture(scope="session")
def tiny_model_and_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """A real Lightning checkpoint of ``TINY_MODEL`` after one training batch, and the model."""
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    from cyclegan_lit.models import CycleGAN

    torch.manual_seed(0)
    model = CycleGAN(**TINY_MODEL)
    batch = [{"A": torch.rand(3, 32, 32) * 2 - 1, "B": torch.rand(3, 32, 32) * 2 - 1}]
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=DataLoader(batch, batch_size=1))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return model.eval(), path


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the cached synthetic dataset, shared by every test run."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def tiny(shared_data_dir: Path) -> list[str]:
    """Overrides for a tiny CPU run that reads the shared synthetic cache."""
    return [*TINY_OVERRIDES, f"paths.data_dir={shared_data_dir}"]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: offline W&B with its files under tmp, one thread each."""
    env = dict(os.environ)
    for name in ("WANDB_API_KEY", "HYDRA_FULL_ERROR"):
        env.pop(name, None)
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_CONFIG_DIR=str(tmp_path / "wandb_config"),
        WANDB_CACHE_DIR=str(tmp_path / "wandb_cache"),
        WANDB_DATA_DIR=str(tmp_path / "wandb_data"),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NETRC=str(tmp_path / "no_netrc"),
    )
    return env


def run_cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float = 240,
    command: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cyclegan-train <args>`` (or ``command``) from ``cwd``; capture text output."""
    return subprocess.run(
        [*(command or [str(CLI)]), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # a prompt would fail, not hang
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def only_run_dir(cwd: Path) -> Path:
    """The single run folder ``outputs/<date>/<time>`` under ``cwd``."""
    runs = [p for p in (cwd / "outputs").glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())


@contextmanager
def composed(
    overrides: list[str], output_dir: Path, config_name: str = "train"
) -> Iterator[DictConfig]:
    """``<config_name>.yaml`` composed as the CLI does; HydraConfig is set so ``${hydra:...}``
    resolves."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            del cfg.hydra
        yield cfg
    GlobalHydra.instance().clear()


# --- offline W&B run files --------------------------------------------------------------------
# Offline runs keep everything in `run-<id>.wandb`, a LevelDB-style log of protobuf records:
# a 7-byte file header (":W&B", magic, version), then 32 KiB blocks of chunks, each with a 7-byte
# header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last).
_BLOCK = 32768


@dataclass
class WandbRun:
    """What an offline W&B run recorded."""

    name: str = ""
    group: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    run_dir: Path | None = None

    def history_keys(self) -> set[str]:
        return {key for row in self.history for key in row}


def read_wandb_run(run_dir: Path) -> WandbRun:
    """Parse ``<run_dir>/run-*.wandb`` into the run's name, group, config and history rows."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = run_dir.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    run = WandbRun(run_dir=run_dir)
    pos, chunk = 7, b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind not in (1, 4):
            continue
        record = pb.Record()
        record.ParseFromString(chunk)
        chunk = b""
        which = record.WhichOneof("record_type")
        if which == "run":
            run.name, run.group = record.run.display_name, record.run.run_group
            run.config.update(_items(record.run.config.update))
        elif which == "config":
            run.config.update(_items(record.config.update))
        elif which == "history":
            run.history.append(_items(record.history.item))
    return run


def _items(items: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}

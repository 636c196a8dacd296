"""W&B: offline without a key and never a prompt; config, losses, throughput and uint8 image grids
reach the run, read back from the offline run's own files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import only_run_dir, read_wandb_run, run_cli
from PIL import Image

from cyclegan_lit.config_store import wandb_mode


@pytest.fixture
def no_wandb_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    return tmp_path


def test_mode_is_offline_without_a_key(no_wandb_credentials: Path) -> None:
    assert wandb_mode() == "offline"


def test_mode_is_online_with_an_api_key(no_wandb_credentials: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"


def test_mode_is_online_with_a_netrc_entry(no_wandb_credentials: Path) -> None:
    netrc = no_wandb_credentials / ".netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "x" * 40 + "\n")
    netrc.chmod(0o600)
    assert wandb_mode() == "online"


def test_wandb_mode_in_the_environment_wins(no_wandb_credentials: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"


@pytest.mark.slow
def test_offline_run_logs_config_losses_and_uint8_grids(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    env = dict(cli_env)
    env.pop("WANDB_MODE")  # no key and no WANDB_MODE: the config must pick offline by itself
    result = run_cli([*tiny, "test=false", "logger.wandb.project=cyclegan-test"], tmp_path, env)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (only_run_dir(tmp_path) / "wandb").glob("offline-run-*")
    assert f"wandb sync {run_dir}" in result.stdout

    run = read_wandb_run(run_dir)
    model = run.config["model"]
    assert model["lambda_cycle"] == 10.0 and model["generator"]["ngf"] == 8
    assert run.config["trainer"]["max_epochs"] == 1  # resolved, not "${...}"
    keys = run.history_keys()
    for name in ("G_A", "D_A", "cycle_A", "idt_A", "G_B", "D_B", "cycle_B", "idt_B"):
        assert f"train/loss_{name}" in keys
    assert {"train/images_per_sec", "val/loss_cycle", "val/psnr_AtoB"} <= keys
    assert any(k.startswith("lr-") for k in keys)

    grids = [row for row in run.history if "images/grid/_type" in row]  # nested keys, flattened
    assert grids and grids[0]["images/grid/_type"] == "images/separated"
    images = sorted((run_dir / "files" / "media" / "images").rglob("*.png"))
    assert images
    pixels = np.asarray(Image.open(images[0]))
    assert pixels.dtype == np.uint8 and pixels.std() > 10  # not the black float-image rendering
    # `step=` was not passed: W&B steps count log calls, not the doubled global_step
    steps = sorted({row["_step"] for row in run.history})
    assert steps == list(range(len(steps)))


def _unwritable_wandb_folder(run_dir: Path, how: str) -> None:
    run_dir.mkdir(parents=True)
    if how == "file":  # a file where W&B's folder goes: refused even for root
        (run_dir / "wandb").write_text("")
    else:
        (run_dir / "wandb").mkdir()
        (run_dir / "wandb").chmod(0o500)


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    [
        "file",
        pytest.param(
            "read_only",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only folders"),
        ),
    ],
)
def test_a_wandb_folder_that_cannot_be_written_is_a_warning_not_a_crash(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str], how: str
) -> None:
    run_dir = tmp_path / "run"
    _unwritable_wandb_folder(run_dir, how)
    args = [*tiny, "test=false", "logger=[wandb,csv]", f"hydra.run.dir={run_dir}"]
    result = run_cli(args, tmp_path, cli_env)
    if how == "read_only":
        (run_dir / "wandb").chmod(0o700)  # so that pytest can remove it
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [x for x in result.stderr.splitlines() if "W&B" in x]
    assert line.startswith(f"cyclegan-train: warning: W&B folder {run_dir / 'wandb'} cannot be")
    assert "training goes on without W&B" in line
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()  # it trained
    assert "train/loss_G" in next(run_dir.glob("csv/version_*/metrics.csv")).read_text()
    assert "W&B (offline)" not in result.stdout

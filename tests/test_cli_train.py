"""`cyclegan-train` as a user runs it: the installed console script, from a folder of their own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLI, only_run_dir, read_metrics, run_cli
from PIL import Image


@pytest.mark.slow
def test_help_lists_groups_and_options(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = run_cli(["--help"], tmp_path, cli_env)
    assert result.returncode == 0, result.stderr
    for text in ("model: ", "resnet9", "unet256", "data: ", "horse2zebra", "folder", "trainer: "):
        assert text in result.stdout
    assert "ddp_spawn" in result.stdout and "experiment: " in result.stdout


@pytest.mark.slow
def test_bad_override_gives_hydras_message_not_a_traceback(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = run_cli(["model=resnet99"], tmp_path, cli_env)
    assert result.returncode != 0
    assert "Could not find 'model/resnet99'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_tiny_run_writes_checkpoints_grids_config_and_metrics(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    result = run_cli([*tiny, "logger=csv"], tmp_path, cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run_dir(tmp_path)  # outputs/<date>/<time> under the folder it was started from
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / ".hydra" / "config.yaml").is_file()
    assert "lambda_cycle" in (run / "config_tree.log").read_text()
    grid = Image.open(run / "images" / "epoch_000.png")
    assert grid.mode == "RGB" and grid.width > grid.height  # 8 columns of visuals, 4 rows
    metrics = read_metrics(run)["metrics"]
    assert {"train/loss_G_A", "train/loss_cycle_A", "val/loss_cycle", "test/psnr_AtoB"} <= set(
        metrics
    )
    assert "train/images_per_sec" in metrics
    csv = next(run.glob("csv/version_*/metrics.csv")).read_text().splitlines()[0]
    assert "train/loss_D_A" in csv and "train/images_per_sec" in csv
    assert str(run / "checkpoints") in result.stdout  # where things are, printed at the end


@pytest.mark.slow
def test_ckpt_path_last_resumes_the_newest_run(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    first = run_cli([*tiny, "logger=none", "test=false"], tmp_path, cli_env)
    assert first.returncode == 0, first.stderr[-3000:]
    (first_run,) = (tmp_path / "outputs").glob("*/*")
    resumed = run_cli(
        [*tiny, "logger=none", "test=false", "ckpt_path=last", "trainer.max_epochs=2"],
        tmp_path,
        cli_env,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (second_run,) = {p for p in (tmp_path / "outputs").glob("*/*")} - {first_run}
    # the resumed run starts at epoch 1: it trains (and draws) only the second epoch
    assert sorted(p.name for p in (second_run / "images").iterdir()) == ["epoch_001.png"]


@pytest.mark.slow
def test_ckpt_path_last_without_runs_says_so(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    result = run_cli([*tiny, "logger=none", "ckpt_path=last"], tmp_path, cli_env)
    assert result.returncode != 0
    assert "no complete last.ckpt under" in result.stderr


@pytest.mark.slow
def test_wheel_install_finds_its_packaged_configs(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    """`pip install .` (not editable) from another folder: the configs come from the wheel."""
    repo = Path(__file__).resolve().parents[1]
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", str(repo), "-w", str(wheels)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:  # the isolated build needs hatchling from the package index
        pytest.skip(f"could not build the wheel: {built.stderr.strip().splitlines()[-1:]}")
    (wheel,) = wheels.glob("cyclegan_lit-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    env = {**cli_env, "PYTHONPATH": str(site)}  # ahead of the editable install's src/
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cyclegan_lit.config_store import config_dir; print(config_dir())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where) == site / "cyclegan_lit" / "conf"
    run_dir = tmp_path / "work"
    run_dir.mkdir()
    result = run_cli(
        [*tiny, "logger=none", "test=false"],
        run_dir,
        env,
        command=[sys.executable, "-m", "cyclegan_lit.cli.train"],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((only_run_dir(run_dir) / "metrics.json").read_text())
    assert "val/loss_cycle" in record["metrics"]


def test_console_script_is_installed() -> None:
    assert CLI.is_file()

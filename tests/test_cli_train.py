"""`cyclegan-train` as a user runs it: the installed console script, from a folder of their own."""

from __future__ import annotations

import json
import os
import shutil
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
    # a training seed apart from the data's: the model and the data both have a `seed`
    result = run_cli([*tiny, "logger=csv", "seed=1", "data.seed=0"], tmp_path, cli_env)
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
    hparams = next(run.glob("csv/version_*/hparams.yaml")).read_text()
    assert "seed: 1" in hparams and "synthetic_size: 32" in hparams  # model's and composed config
    assert str(run / "checkpoints") in result.stdout  # where things are, printed at the end


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


def test_torch_threads_fit_the_cores_this_process_may_use() -> None:
    from cyclegan_lit.machine import available_cores, torch_threads_for

    assert available_cores() == len(os.sched_getaffinity(0))
    assert torch_threads_for(2, cores=2, workers=0) is None
    assert torch_threads_for(2, cores=2, workers=1) == 1  # a data worker takes a core
    assert torch_threads_for(4, cores=2, workers=0) == 2  # more threads than cores
    assert torch_threads_for(1, cores=1, workers=4) is None  # one already: nothing to change
    assert torch_threads_for(8, cores=16, workers=4) is None
    assert torch_threads_for(16, cores=16, workers=4) == 12
    assert torch_threads_for(8, cores=16, workers=2, processes=4) == 2  # 4 cores per process


def test_omp_num_threads_or_the_option_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from cyclegan_lit import machine

    before = torch.get_num_threads()
    monkeypatch.setattr(machine, "available_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        line = machine.set_torch_threads(workers=1, threads=2)
        assert torch.get_num_threads() == 1
        assert line == (
            "torch threads: 1 instead of 2 (2 cores available, 1 data workers); set "
            "OMP_NUM_THREADS or +torch_threads=N to choose"
        )
        assert machine.set_torch_threads(workers=1, requested=2) is None
        assert torch.get_num_threads() == 2  # +torch_threads=2
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert machine.set_torch_threads(workers=1, threads=2) is None  # the user's choice
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_the_cli_takes_fewer_torch_threads_when_data_workers_need_the_cores(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    taskset = shutil.which("taskset")
    if taskset is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs taskset and two cores")
    env = {k: v for k, v in cli_env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    on_two_cores = [taskset, "-c", ",".join(map(str, sorted(os.sched_getaffinity(0))[:2]))]
    default = subprocess.run(
        [*on_two_cores, sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if default == "1":
        pytest.skip("torch takes one thread on two cores here already")
    args = [*tiny, "data.num_workers=1", "train=false", "test=false", "logger=none"]
    result = run_cli(args, tmp_path, env, command=[*on_two_cores, str(CLI)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"cyclegan-train: torch threads: 1 instead of {default} (2 cores available, 1 data" in (
        result.stderr
    )

"""A resumed run continues its own run folder, CSV file and W&B run; `ckpt_path=last` means the
run of the same command; a run folder that cannot be written is one line before any work."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from omegaconf import OmegaConf

from cyclegan_lit.cli.resume import find_last_of_same_command, run_folder_of
from cyclegan_lit.cli.wandb_runs import wandb_run_id

# 2 batches per epoch, 2 epochs
TWO_EPOCHS = [
    "model/generator=resnet_9blocks",
    "model.generator.ngf=4",
    "model.discriminator.ndf=4",
    "model.scheduler.n_epochs=1",
    "model.scheduler.n_epochs_decay=1",
    "data.synthetic_size=32",
    "data.load_size=32",
    "data.crop_size=32",
    "data.synthetic_train=4",
    "data.synthetic_test=2",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=1",
    "trainer.deterministic=true",
    "test=false",
    "~callbacks.rich_progress_bar",
    "~callbacks.image_grid",
]
# epoch_000.ckpt and epoch_001.ckpt, and no last.ckpt of its own (both every epoch cannot coexist)
EVERY_EPOCH = ["~callbacks.model_checkpoint_last", "callbacks.model_checkpoint.every_n_epochs=1"]


def _csv_rows(run: Path) -> list[dict[str, str]]:
    (path,) = run.glob("csv/version_*/metrics.csv")
    timing = ("train/images_per_sec",)  # wall-clock: differs between any two runs
    return [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader(path.open())]


def _runs(log_dir: Path) -> list[Path]:
    return sorted(p for p in log_dir.glob("*/*") if p.is_dir())


@pytest.mark.slow
def test_a_resume_continues_its_run_folder_csv_file_and_wandb_run(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    args = [*TWO_EPOCHS, *EVERY_EPOCH, f"paths.data_dir={tmp_path / 'data'}", "logger=[csv,wandb]"]
    full = run_cli(args, tmp_path, cli_env)
    assert full.returncode == 0, full.stderr[-3000:]
    (run,) = _runs(tmp_path / "outputs")
    uninterrupted = _csv_rows(run)
    # as if killed right after epoch 0: last.ckpt is epoch 0's, the CSV and W&B have epoch 1 too
    shutil.copy(run / "checkpoints" / "epoch_000.ckpt", run / "checkpoints" / "last.ckpt")
    first_id = wandb_run_id(run / "wandb")

    resumed = run_cli([*args, "ckpt_path=last"], tmp_path, cli_env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _runs(tmp_path / "outputs") == [run]  # no new run folder (Hydra's fresh one removed)
    last = run / "checkpoints" / "last.ckpt"
    assert f"ckpt_path=last: {last.relative_to(tmp_path)} (the newest complete" in resumed.stderr
    assert f"resuming {run} from {last.relative_to(tmp_path)} (epoch 0, step 4" in resumed.stderr
    assert _csv_rows(run) == uninterrupted  # epoch 1's rows once, as the uninterrupted run's
    offline = sorted((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(p.name.endswith(f"-{first_id}") for p in offline)
    assert f"wandb sync {offline[0]} {offline[1]}" in resumed.stdout


@pytest.mark.slow
def test_ckpt_path_last_refuses_a_run_started_with_other_options(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    args = [*TWO_EPOCHS, f"paths.data_dir={tmp_path / 'data'}", "logger=none"]
    first = run_cli([*args, "model.scheduler.n_epochs_decay=0"], tmp_path, cli_env)
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = _runs(tmp_path / "outputs")
    result = run_cli([*args, "ckpt_path=last"], tmp_path, cli_env)
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
    assert line.startswith("cyclegan-train: error: ckpt_path=last: no run under outputs was")
    assert f"the newest, {run.relative_to(tmp_path)}, differs" in line
    assert "only there: model.scheduler.n_epochs_decay=0" in line
    assert f"pass ckpt_path={(run / 'checkpoints' / 'last.ckpt').relative_to(tmp_path)}" in line


@pytest.mark.slow
def test_a_resumed_sweep_job_continues_its_own_earlier_job(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    args = ["-m", *TWO_EPOCHS, *EVERY_EPOCH, f"paths.data_dir={tmp_path / 'data'}", "logger=csv"]
    sweep = [*args, "model.lambda_cycle=5,10"]
    first = run_cli(sweep, tmp_path, cli_env)
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = sorted((tmp_path / "multirun").glob("*/*/[0-9]"))
    rows = {}
    for job in jobs:  # both jobs killed after epoch 0
        shutil.copy(job / "checkpoints" / "epoch_000.ckpt", job / "checkpoints" / "last.ckpt")
        rows[job] = _csv_rows(job)
    resumed = run_cli([*sweep, "ckpt_path=last"], tmp_path, cli_env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for job in jobs:
        chosen = (job / "checkpoints" / "last.ckpt").relative_to(tmp_path)
        assert f"ckpt_path=last: {chosen} (the newest" in resumed.stderr
        assert _csv_rows(job) == rows[job]  # each job continued its own run, rows once
    # the resuming sweep's own job folders keep what its summary reads
    new_jobs = sorted(set((tmp_path / "multirun").glob("*/*/[0-9]")) - set(jobs))
    assert [p.name for p in new_jobs] == ["0", "1"]
    assert all(
        (p / "metrics.json").is_file() and not (p / "checkpoints").exists() for p in new_jobs
    )


def _fake_run(folder: Path, overrides: list[str], mtime: float, cut: bool = False) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    ckpt = folder / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir()
    torch.save({"step": torch.tensor(1)}, ckpt)
    if cut:
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    os.utime(ckpt, (mtime, mtime))
    return ckpt


def test_ckpt_path_last_is_the_newest_run_of_the_same_command(tmp_path: Path, capsys) -> None:
    log_dir, sweep_dir = tmp_path / "outputs", tmp_path / "multirun"
    mine = ["data.batch_size=2", "model.lambda_cycle=5"]
    older = _fake_run(log_dir / "d" / "08-00", [*mine, "ckpt_path=last"], 1000)
    _fake_run(log_dir / "d" / "09-00", ["model.lambda_cycle=7"], 2000)  # newer, other options
    cut = _fake_run(log_dir / "d" / "10-00", list(reversed(mine)), 3000, cut=True)
    in_sweep = _fake_run(sweep_dir / "d" / "11-00" / "0", mine, 4000)  # a sweep job: not here
    paths = OmegaConf.create({"log_dir": str(log_dir), "sweep_dir": str(sweep_dir)})

    assert find_last_of_same_command(paths, sorted(mine), sweep=False) == older
    err = capsys.readouterr().err
    assert f"skipping {cut}: truncated or unreadable" in err
    assert f"ckpt_path=last: {older} (the newest complete last.ckpt of a run started" in err
    assert find_last_of_same_command(paths, sorted(mine), sweep=True) == in_sweep

    with pytest.raises(FileNotFoundError) as info:
        find_last_of_same_command(paths, ["model.lambda_cycle=9"], sweep=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"the newest, {log_dir / 'd' / '09-00'}, differs (only here: model.lambda_cycle=9;" in (
        message
    )
    assert "only there: model.lambda_cycle=7); to continue it, pass ckpt_path=" in message
    with pytest.raises(FileNotFoundError, match=r"^ckpt_path=last: no complete last\.ckpt under"):
        find_last_of_same_command(
            OmegaConf.create({"log_dir": str(tmp_path / "none"), "sweep_dir": "x"}), mine, False
        )


def test_a_checkpoint_outside_a_run_folder_belongs_to_no_run(tmp_path: Path) -> None:
    run = tmp_path / "outputs" / "d" / "t"
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    assert run_folder_of(run / "checkpoints" / "last.ckpt") == run.resolve()
    assert run_folder_of(run / "hpc_ckpt_1.ckpt") == run.resolve()  # Lightning's SLURM checkpoint
    assert run_folder_of(tmp_path / "my_weights.ckpt") is None
    assert run_folder_of(tmp_path / "checkpoints" / "last.ckpt") is None  # no .hydra/ around it


def test_the_wandb_run_id_comes_from_the_run_folder(tmp_path: Path) -> None:
    wandb = tmp_path / "wandb"
    assert wandb_run_id(wandb) is None
    (wandb / "offline-run-20250101_080000-abc123").mkdir(parents=True)
    (wandb / "run-20250102_080000-def456").mkdir()
    assert wandb_run_id(wandb) == "def456"  # the newest folder
    (wandb / "latest-run").symlink_to("offline-run-20250101_080000-abc123")
    assert wandb_run_id(wandb) == "abc123"  # the link W&B keeps to its latest run wins


@pytest.mark.slow
@pytest.mark.parametrize(
    ("option", "sweep"),
    [("paths.log_dir", False), ("paths.sweep_dir", True), ("paths.output_dir", False)],
)
def test_an_output_folder_that_cannot_be_written_is_one_line_before_any_work(
    tmp_path: Path, cli_env: dict[str, str], option: str, sweep: bool
) -> None:
    blocker = tmp_path / "a_file"  # a file where a folder is expected: refused even for root
    blocker.write_text("")
    value = blocker / "run" if option == "paths.output_dir" else blocker
    args = ["-m"] if sweep else []
    result = run_cli(
        [*args, f"{option}={value}", f"paths.data_dir={tmp_path / 'data'}", "logger=csv"],
        tmp_path,
        cli_env,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.startswith(f"cyclegan-train: error: {option}")
    assert "Not a directory" in line and f"set {option}" in line
    assert not (tmp_path / "data").exists()  # before any work


def test_a_ckpt_path_that_is_not_a_file_is_one_line_before_any_run_folder(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    args = [*TWO_EPOCHS, f"paths.data_dir={tmp_path / 'data'}", "logger=none"]
    result = run_cli([*args, "ckpt_path=gone/last.ckpt"], tmp_path, cli_env)
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
    expected = "cyclegan-train: error: ckpt_path=gone/last.ckpt: no such file; give a .ckpt file"
    assert line.startswith(expected)
    assert not (tmp_path / "outputs").exists()

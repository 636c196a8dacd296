"""Multirun sweeps: one folder, one metrics file and one W&B run per job, a summary table at the
end; DDP that re-launches itself is refused before any job starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_wandb_run, run_cli

from cyclegan_lit.callbacks.sweep import collect_sweep_results, relaunches_per_rank, sweep_table


@pytest.mark.slow
def test_four_job_sweep_gets_four_folders_runs_and_a_summary(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    grid = ["model.lambda_cycle=5,10", "model.lambda_identity=0,0.5"]
    result = run_cli(["-m", *grid, *tiny, "test=false"], tmp_path, cli_env, timeout=480)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "multirun").glob("*/*")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]

    overrides = set()
    runs = []
    for job in jobs:
        record = json.loads((job / "metrics.json").read_text())
        overrides.add(tuple(o for o in record["overrides"] if o.startswith("model.lambda")))
        assert "val/loss_cycle" in record["metrics"]
        (run_dir,) = (job / "wandb").glob("offline-run-*")
        runs.append(read_wandb_run(run_dir))
    assert len(overrides) == 4
    # each job its own W&B run (finished before the next), all grouped under the sweep
    assert len({run.run_dir.name for run in runs}) == 4
    assert len({run.group for run in runs}) == 1 and runs[0].group.endswith(sweep.name)
    assert {run.config["model"]["lambda_cycle"] for run in runs} == {5.0, 10.0}
    assert len({run.name for run in runs}) == 4
    # the summary table printed at the end names every job's overrides and metrics
    assert "val/loss_cycle" in result.stdout
    assert result.stdout.count("model.lambda_identity=0.5") >= 2


@pytest.mark.slow
def test_ddp_inside_a_sweep_stops_at_once_with_one_line(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    args = ["-m", "model.lambda_cycle=5,10", "trainer=ddp", "trainer.devices=2", *tiny]
    result = run_cli(args, tmp_path, cli_env, timeout=120)
    assert result.returncode != 0
    assert "cannot run inside a sweep" in result.stderr and "trainer=ddp_spawn" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "multirun").glob("*/*/0/metrics.json"))


def test_only_relaunching_ddp_strategies_are_refused() -> None:
    assert relaunches_per_rank("ddp")
    assert relaunches_per_rank("ddp_find_unused_parameters_true")
    assert not relaunches_per_rank("ddp_spawn_find_unused_parameters_true")
    assert not relaunches_per_rank("auto")
    assert not relaunches_per_rank(None)


def test_summary_reads_jobs_in_order(tmp_path: Path) -> None:
    for num, value in ((1, 0.5), (0, 0.25)):
        job = tmp_path / str(num)
        job.mkdir()
        record = {"job_num": num, "overrides": [f"x={num}"], "metrics": {"val/m": value}}
        (job / "metrics.json").write_text(json.dumps(record))
    rows = collect_sweep_results(tmp_path)
    assert [row["job_num"] for row in rows] == [0, 1]
    table = sweep_table(rows)
    assert [c.header for c in table.columns] == ["job", "0", "1"]
    assert list(table.columns[0].cells) == ["overrides", "val/m"]
    assert list(table.columns[2].cells) == ["x=1", "0.5"]

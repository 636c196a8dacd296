"""Training follows the cores other processes leave free: spinning OpenMP threads beside a busy
neighbour are slower than fewer threads (benchmarks/threads_under_load.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI, run_cli

from cyclegan_lit.callbacks.free_cores import threads_for
from cyclegan_lit.machine import busy_core_seconds, process_cpu_seconds


@pytest.mark.parametrize(
    ("most", "current", "others", "chosen"),
    [
        (2, 2, 0.1, 2),  # a quiet machine: nothing changes
        (2, 2, 0.7, 1),  # a neighbour takes most of a core: one thread
        (2, 1, 0.5, 1),  # it eases off a little: stay down, no flip-flop at every check
        (2, 1, 0.1, 2),  # it is gone: all threads again
        (2, 2, 1.9, 1),  # both cores busy: never below one
        (16, 16, 3.0, 13),
        (16, 13, 0.0, 16),  # never above the count training started with
    ],
)
def test_threads_follow_the_cores_others_leave(
    most: int, current: int, others: float, chosen: int
) -> None:
    assert threads_for(most, current, others) == chosen


def test_a_busy_process_shows_in_its_cores_busy_time_and_its_own() -> None:
    core = sorted(os.sched_getaffinity(0))[0]
    burner = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"]
    )
    try:
        time.sleep(0.5)
        busy0, own0, start = busy_core_seconds({core}), process_cpu_seconds(burner.pid), time.time()
        time.sleep(1.0)
        busy1, own1, wall = busy_core_seconds({core}), process_cpu_seconds(burner.pid), time.time()
    finally:
        burner.kill()
        burner.wait()
    assert busy0 is not None and busy1 is not None
    assert busy1 - busy0 > 0.7 * (wall - start)  # the core was busy
    assert own1 - own0 > 0.7 * (wall - start)  # and the burner was what kept it busy
    assert process_cpu_seconds(burner.pid) == 0.0  # gone: nothing to read


@pytest.mark.slow
def test_training_beside_a_busy_neighbour_drops_to_the_free_cores(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    taskset = shutil.which("taskset")
    if taskset is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs taskset and two cores")
    cores = sorted(os.sched_getaffinity(0))[:2]
    env = {k: v for k, v in cli_env.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    burner = subprocess.Popen([taskset, "-c", str(cores[0]), sys.executable, "-c", "while 1: pass"])
    try:
        result = run_cli(
            ["trainer.max_epochs=1", "trainer.limit_train_batches=40", "test=false",
             "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "logger=none",
             "callbacks.free_core_threads.every_seconds=0.5", "paths.log_dir=runs",
             f"paths.data_dir={tmp_path / 'data'}"],
            tmp_path,
            env,
            command=[taskset, "-c", ",".join(map(str, cores)), str(CLI)],
        )  # fmt: skip
    finally:
        burner.kill()
        burner.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    (log,) = tmp_path.glob("runs/*/*/train.log")
    assert "torch threads: 1 instead of 2, as other processes use" in log.read_text()


@pytest.mark.slow
def test_threads_drop_beside_a_neighbour_and_come_back_after_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lightning as L
    import torch
    from conftest import TINY_MODEL
    from torch.utils.data import DataLoader

    from cyclegan_lit.callbacks import FreeCoreThreads
    from cyclegan_lit.models import CycleGAN

    affinity = os.sched_getaffinity(0)
    if len(affinity) < 2:
        pytest.skip("needs two cores")
    cores = sorted(affinity)[:2]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen: list[int] = []

    class Record(L.Callback):  # the count each batch trains with
        def on_train_batch_start(self, *args: object) -> None:
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    burner = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    os.sched_setaffinity(burner.pid, {cores[0]})
    os.sched_setaffinity(0, set(cores))
    torch.set_num_threads(2)
    try:
        batches = [{"A": torch.rand(3, 32, 32) * 2 - 1, "B": torch.rand(3, 32, 32) * 2 - 1}] * 400
        trainer = L.Trainer(
            accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
            max_time={"seconds": 20},
            callbacks=[FreeCoreThreads(every_seconds=0.3), Record()],
        )  # fmt: skip
        trainer.fit(CycleGAN(**TINY_MODEL), train_dataloaders=DataLoader(batches, batch_size=1))
        after = torch.get_num_threads()
    finally:
        burner.kill()
        burner.wait()
        os.sched_setaffinity(0, affinity)
        torch.set_num_threads(before)
    assert seen[0] == 2 and 1 in seen  # it dropped beside the neighbour
    assert after == 2  # and the process has its threads back after fit

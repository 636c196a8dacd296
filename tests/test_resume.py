"""A run stopped inside an epoch and resumed from its checkpoint ends exactly where the
uninterrupted run ends: same losses at every later step, same weights, bit for bit."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import CLI, run_cli

# fp32 on the CPU, deterministic; 6 batches per epoch, 2 + 1 epochs; a checkpoint every 2 batches
RUN = [
    "model.generator.ngf=4",
    "model.discriminator.ndf=4",
    "model.pool_size=4",
    "model.scheduler.n_epochs=2",
    "model.scheduler.n_epochs_decay=1",
    "data.synthetic_train=6",
    "data.synthetic_test=2",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "seed=3",
    "test=false",
    "trainer.deterministic=true",
    "trainer.log_every_n_steps=1",
    "trainer.num_sanity_val_steps=0",
    "logger=csv",
    "~callbacks.rich_progress_bar",
    "~callbacks.image_grid",
    "callbacks.model_checkpoint_interval.train_time_interval=null",
    "callbacks.model_checkpoint_interval.every_n_train_steps=4",
]


def _checkpoint(log_dir: Path) -> dict:
    (path,) = log_dir.glob("*/*/checkpoints/last.ckpt")
    return torch.load(path, map_location="cpu", weights_only=True)


def _losses(log_dir: Path) -> dict[int, float]:
    (path,) = log_dir.glob("*/*/csv/version_0/metrics.csv")
    rows = csv.DictReader(path.open())
    return {int(r["step"]): float(r["train/loss_G"]) for r in rows if r.get("train/loss_G")}


@pytest.mark.slow
def test_a_run_resumed_inside_an_epoch_ends_bit_identical(tmp_path: Path, cli_env) -> None:
    data = f"paths.data_dir={tmp_path / 'data'}"
    full = run_cli([*RUN, data, "paths.log_dir=full"], tmp_path, cli_env)
    assert full.returncode == 0, full.stderr
    # Killed right after the checkpoint of batch 8 (epoch 1, batch 2): only the interval
    # checkpoint exists, as when a job is preempted.
    stopped = run_cli(
        [*RUN, data, "paths.log_dir=part", "+trainer.max_steps=16",
         "~callbacks.model_checkpoint_last", "~callbacks.model_checkpoint"],
        tmp_path,
        cli_env,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    part = _checkpoint(tmp_path / "part")
    assert (part["epoch"], part["global_step"]) == (1, 16)
    (ckpt,) = (tmp_path / "part").glob("*/*/checkpoints/last.ckpt")
    resumed = run_cli([*RUN, data, "paths.log_dir=resumed", f"ckpt_path={ckpt}"], tmp_path, cli_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "not resumable" not in resumed.stderr

    end, again = _checkpoint(tmp_path / "full"), _checkpoint(tmp_path / "resumed")
    assert again["global_step"] == end["global_step"] == 36
    for name, value in end["state_dict"].items():
        assert torch.equal(value, again["state_dict"][name]), name
    later, resumed_losses = _losses(tmp_path / "full"), _losses(tmp_path / "resumed")
    steps = sorted(s for s in later if s >= 16)
    assert steps and all(later[s] == resumed_losses[s] for s in steps)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_says_where_exits_non_zero_and_resumes_exactly(
    tmp_path: Path, cli_env, signum: signal.Signals, status: int
) -> None:
    run = [*RUN, f"paths.data_dir={tmp_path / 'data'}", "model.scheduler.n_epochs=10"]
    full = run_cli([*run, "paths.log_dir=full"], tmp_path, cli_env)
    assert full.returncode == 0, full.stderr
    process = subprocess.Popen(
        [str(CLI), *run, "paths.log_dir=part"],
        cwd=tmp_path,
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal, whatever the test runner's own signal dispositions
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "part").glob("*/*/checkpoints/last.ckpt")):
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith("cyclegan-train: stopped by")]
    assert signum.name in line and "resume with ckpt_path=" in line
    ckpt = Path(line.split("ckpt_path=")[1].strip())
    stopped_at = torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"]
    resumed = run_cli([*run, "paths.log_dir=resumed", f"ckpt_path={ckpt}"], tmp_path, cli_env)
    assert resumed.returncode == 0, resumed.stderr
    end, again = _checkpoint(tmp_path / "full"), _checkpoint(tmp_path / "resumed")
    assert 0 < stopped_at < end["global_step"] == again["global_step"] == 2 * 6 * 11
    for name, value in end["state_dict"].items():
        assert torch.equal(value, again["state_dict"][name]), name


def test_a_failed_checkpoint_write_keeps_the_previous_file(tmp_path: Path) -> None:
    from cyclegan_lit.checkpoint_io import AtomicCheckpointIO

    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    with pytest.raises(Exception):  # noqa: B017 - what pickling raises is torch's business
        io.save_checkpoint({"step": torch.tensor(2), "bad": lambda: None}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind


def test_ckpt_path_last_skips_a_truncated_newest_checkpoint(tmp_path: Path, capsys) -> None:
    from omegaconf import OmegaConf

    from cyclegan_lit.cli.run_files import resolve_ckpt_path

    good = tmp_path / "outputs" / "day" / "08-00" / "checkpoints" / "last.ckpt"
    cut = tmp_path / "outputs" / "day" / "09-00" / "checkpoints" / "last.ckpt"
    for path in (good, cut):
        path.parent.mkdir(parents=True)
        torch.save({"step": torch.tensor(1)}, path)
    cut.write_bytes(cut.read_bytes()[:100])  # killed mid-write, by a writer that is not atomic
    paths = OmegaConf.create({"log_dir": str(tmp_path / "outputs"), "sweep_dir": "none"})
    assert resolve_ckpt_path("last", paths) == str(good)
    assert f"skipping {cut}: truncated or unreadable" in capsys.readouterr().err
    good.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"^ckpt_path=last: no complete last\.ckpt"):
        resolve_ckpt_path("last", paths)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("empty", r"truncated or not a checkpoint"),
        ("random", r"truncated or not a checkpoint"),
        ("cut", r"truncated or not a checkpoint"),
        ("pth", r"not a Lightning checkpoint"),
        (
            "other_net",
            r"written by another architecture \(model\.generator\.ngf: checkpoint 8, config 16",
        ),
    ],
)
def test_a_checkpoint_that_cannot_resume_is_one_line_before_any_work(
    tmp_path: Path, tiny_model_and_checkpoint, damage: str, message: str
) -> None:
    from cyclegan_lit.checkpoint_io import check_resumable
    from cyclegan_lit.models import CycleGAN

    model, good = tiny_model_and_checkpoint
    path = tmp_path / "last.ckpt"
    data = good.read_bytes()
    path.write_bytes(
        {"empty": b"", "random": bytes(range(256)) * 40, "cut": data[: len(data) // 2]}.get(
            damage, data
        )
    )
    if damage == "pth":
        torch.save(model.G_A.state_dict(), path)
    target = model
    if damage == "other_net":
        target = CycleGAN(generator={"name": "resnet_6blocks", "ngf": 16}, discriminator={"ndf": 8})
    with pytest.raises(ValueError, match=rf"^ckpt_path={path}: {message}") as info:
        check_resumable(path, target)
    assert "\n" not in str(info.value)
    check_resumable(good, model)  # the intact one passes


@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_ends_bit_identical(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "kill_resume.py"
    result = subprocess.run(
        [sys.executable, str(script), "--kills", "2", "--workdir", str(tmp_path), "--seed", "1"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Final weights equal the uninterrupted run's, bit for bit" in result.stdout


def test_a_finished_run_is_not_resumed_silently(tmp_path: Path, tiny_model_and_checkpoint) -> None:
    from cyclegan_lit.checkpoint_io import check_resumable

    model, finished = tiny_model_and_checkpoint  # trained its one epoch to the end
    with pytest.raises(ValueError, match=r"already trained all 1 epochs; to train on, raise"):
        check_resumable(finished, model, max_epochs=1)
    check_resumable(finished, model, max_epochs=2)  # more epochs: it trains on

"""A run stopped inside an epoch and resumed from its checkpoint ends exactly where the
uninterrupted run ends: same losses at every later step, same weights, bit for bit."""

from __future__ import annotations

import csv
import os
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
    "model/generator=resnet_9blocks",
    "model.generator.ngf=4",
    "data.synthetic_size=32",
    "data.load_size=32",
    "data.crop_size=32",
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
    rows = [r for r in csv.DictReader(path.open()) if r.get("train/loss_G")]
    losses = {int(r["step"]): float(r["train/loss_G"]) for r in rows}
    assert len(losses) == len(rows), "a step logged twice"
    return losses


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "epoch"), [(16, 1), (12, 0)], ids=["inside_epoch_1", "at_epoch_0s_last_batch"]
)
def test_a_run_resumed_inside_an_epoch_ends_bit_identical(
    tmp_path: Path, cli_env, stop: int, epoch: int
) -> None:
    data = f"paths.data_dir={tmp_path / 'data'}"
    full = run_cli([*RUN, data, "paths.log_dir=full"], tmp_path, cli_env)
    assert full.returncode == 0, full.stderr
    # Stopped right after the interval checkpoint of step 16 (epoch 1, batch 2) or of step 12
    # (epoch 0's last batch, where the save waits for the epoch's end and its learning-rate step):
    # only the interval checkpoint exists, as when a job is preempted.
    stopped = run_cli(
        [*RUN, data, "paths.log_dir=part", f"+trainer.max_steps={stop}",
         "~callbacks.model_checkpoint_last", "~callbacks.model_checkpoint"],
        tmp_path,
        cli_env,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    part = _checkpoint(tmp_path / "part")
    assert (part["epoch"], part["global_step"]) == (epoch, stop)
    (ckpt,) = (tmp_path / "part").glob("*/*/checkpoints/last.ckpt")
    resumed = run_cli([*RUN, data, "paths.log_dir=resumed", f"ckpt_path={ckpt}"], tmp_path, cli_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "not resumable" not in resumed.stderr
    # it continued the stopped run's folder and CSV file: nothing new under its own log_dir
    assert not list((tmp_path / "resumed").glob("*/*"))

    end, again = _checkpoint(tmp_path / "full"), _checkpoint(tmp_path / "part")
    assert again["global_step"] == end["global_step"] == 36
    for name, value in end["state_dict"].items():
        assert torch.equal(value, again["state_dict"][name]), name
    # one CSV file, every step once, with the uninterrupted run's losses
    assert _losses(tmp_path / "full") == _losses(tmp_path / "part")


def test_last_ckpt_is_written_inside_an_epoch_on_the_time_interval(tmp_path: Path, cli_env) -> None:
    """The default interval is one of time; Lightning's own ModelCheckpoint ignores it under
    manual optimization and would leave nothing to resume from until the epoch's end."""
    run = [*RUN[:-2], "callbacks.model_checkpoint_interval.train_time_interval.minutes=0"]
    stopped = run_cli(
        [*run, f"paths.data_dir={tmp_path / 'data'}", "paths.log_dir=part", "+trainer.max_steps=6",
         "~callbacks.model_checkpoint_last", "~callbacks.model_checkpoint"],
        tmp_path,
        cli_env,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert "pre-optimization" not in stopped.stderr  # Lightning's warning, not ours to act on
    part = _checkpoint(tmp_path / "part")
    assert (part["epoch"], part["global_step"]) == (0, 6)  # batch 3 of 6


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
    end, again = _checkpoint(tmp_path / "full"), _checkpoint(tmp_path / "part")
    assert 0 < stopped_at < end["global_step"] == again["global_step"] == 2 * 6 * 11
    for name, value in end["state_dict"].items():
        assert torch.equal(value, again["state_dict"][name]), name
    assert _losses(tmp_path / "full") == _losses(tmp_path / "part")  # stopped between batches


def test_a_failed_checkpoint_write_keeps_the_previous_file(tmp_path: Path) -> None:
    from cyclegan_lit.checkpoint_io import AtomicCheckpointIO

    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    with pytest.raises(Exception):  # noqa: B017 - what pickling raises is torch's business
        io.save_checkpoint({"step": torch.tensor(2), "bad": lambda: None}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind


def test_last_of_other_commands_skips_a_truncated_newest_checkpoint(tmp_path: Path, capsys) -> None:
    """`ckpt_path=last` of cyclegan-translate, -eval and -export: the newest of any run."""
    from omegaconf import OmegaConf

    from cyclegan_lit.cli.resume import resolve_ckpt_path

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
        (
            "removed_option",
            r"written with model\.lr_scale_G_B=2\.0, an option this version no longer has",
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
    if damage == "removed_option":  # an earlier version's G_B at twice the rate, in its own group
        checkpoint = torch.load(good, map_location="cpu", weights_only=True)
        checkpoint["hyper_parameters"].update(lr_scale_G_A=1.0, lr_scale_G_B=2.0)
        groups = checkpoint["optimizer_states"][0]["param_groups"]
        groups.append({**groups[0], "params": []})
        torch.save(checkpoint, path)
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


SLURM_ENV = {  # what SLURM sets in a batch job's task; Lightning's SLURMEnvironment detects it
    "SLURM_NTASKS": "1",
    "SLURM_NTASKS_PER_NODE": "1",
    "SLURM_JOB_NAME": "cyclegan",
    "SLURM_JOB_ID": "4242",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
    "SLURM_NODELIST": "localhost",
}


def _fake_scontrol(folder: Path) -> tuple[Path, Path]:
    """An `scontrol` that records its arguments (Lightning requeues with `scontrol requeue ID`)."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "scontrol.log"
    script = folder / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    script.chmod(0o755)
    return folder, log


@pytest.mark.parametrize("requeuer", ["lightning", "submitit"])
def test_slurm_requeue_signal_stops_after_the_batch_then_the_requeue_handler_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requeuer: str
) -> None:
    """Under SLURM, Lightning installs its auto-requeue handler for SIGUSR1 (submitit its own for
    SIGUSR2, at job start); SaveOnInterrupt holds it back to the end of the batch, writes
    last.ckpt, then lets it run: Lightning's writes hpc_ckpt_1.ckpt and requeues."""
    import lightning as L
    from conftest import TINY_MODEL
    from lightning.fabric.plugins.environments import SLURMEnvironment
    from lightning.pytorch.utilities.exceptions import SIGTERMException
    from torch.utils.data import DataLoader

    from cyclegan_lit.callbacks import SaveOnInterrupt
    from cyclegan_lit.models import CycleGAN

    for name, value in SLURM_ENV.items():
        monkeypatch.setenv(name, value)
    bin_dir, log = _fake_scontrol(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    signum = signal.SIGUSR1 if requeuer == "lightning" else signal.SIGUSR2
    saver = SaveOnInterrupt(dirpath=str(tmp_path / "checkpoints"))
    seen: dict[str, object] = {"submitit": []}

    def submitit_handler(number: int, frame: object) -> None:  # records what it found
        seen["submitit"].append((number, saver.saved is not None and saver.saved.is_file()))

    if requeuer == "submitit":  # submitit installs its handler when the job starts
        signal.signal(signum, submitit_handler)

    class SendRequeueSignal(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            handler = signal.getsignal(signal.SIGUSR1)  # before SaveOnInterrupt's own start
            seen["lightning"] = getattr(handler, "signal_handlers", [])

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            seen["ours"] = signal.getsignal(signum)
            if batch_idx == 1 and seen["ours"] == saver._on_requeue:  # never kill pytest
                os.kill(os.getpid(), signum)  # lands before this batch's steps

    batches = [{"A": torch.rand(3, 32, 32) * 2 - 1, "B": torch.rand(3, 32, 32) * 2 - 1}] * 4
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        default_root_dir=tmp_path, callbacks=[SendRequeueSignal(), saver],
    )  # fmt: skip
    assert isinstance(trainer._accelerator_connector.cluster_environment, SLURMEnvironment)
    try:
        with pytest.raises(SIGTERMException):
            model = CycleGAN(**TINY_MODEL)
            trainer.fit(model, train_dataloaders=DataLoader(batches, batch_size=1))
    finally:
        if requeuer == "submitit":
            signal.signal(signum, signal.SIG_DFL)

    lightning_handler = trainer._signal_connector._slurm_sigusr_handler_fn
    assert lightning_handler in seen["lightning"]  # Lightning's requeue handler was installed
    assert seen["ours"] == saver._on_requeue  # and the requeue signal's held back while training
    assert saver.signal == signum and saver.saved == tmp_path / "checkpoints" / "last.ckpt"
    # the state after batch 1 (2 batches of 2 optimizer steps), not one from inside a batch
    assert torch.load(saver.saved, map_location="cpu", weights_only=True)["global_step"] == 4
    if requeuer == "lightning":
        hpc = torch.load(tmp_path / "hpc_ckpt_1.ckpt", map_location="cpu", weights_only=False)
        assert hpc["global_step"] == 4
        assert log.read_text().split() == ["requeue", "4242"]
    else:
        assert seen["submitit"] == [(signum, True)]  # called once, after last.ckpt was written
        assert not log.exists() and not (tmp_path / "hpc_ckpt_1.ckpt").exists()
    assert signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None)  # Lightning's restored


@pytest.mark.slow
def test_a_requeued_slurm_job_resumes_in_its_own_run_folder(tmp_path: Path, cli_env) -> None:
    """The documented sbatch recipe: `--signal=SIGUSR1@90`, a run folder named by the job id:
    SIGUSR1 stops after the batch, saves, requeues and exits 138; the requeued job (same command,
    same SLURM_JOB_ID) resumes from the newest checkpoint in that folder and ends the run."""
    bin_dir, log = _fake_scontrol(tmp_path / "bin")
    env = {**cli_env, **SLURM_ENV, "PATH": f"{bin_dir}:{cli_env['PATH']}"}
    run = [*RUN, f"paths.data_dir={tmp_path / 'data'}", "model.scheduler.n_epochs=10",
           "hydra.run.dir=slurm/4242"]  # fmt: skip
    folder = tmp_path / "slurm" / "4242"
    process = subprocess.Popen(
        [str(CLI), *run], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (folder / "checkpoints" / "last.ckpt").exists():
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.02)
    process.send_signal(signal.SIGUSR1)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGUSR1, stderr[-3000:]
    assert "stopped by SIGUSR1" in stderr
    assert log.read_text().split() == ["requeue", "4242"]
    assert (folder / "hpc_ckpt_1.ckpt").is_file()  # Lightning's own, taken after the batch

    requeued = run_cli(run, tmp_path, env)
    assert requeued.returncode == 0, requeued.stderr[-3000:]
    assert f"resuming {folder} from " in requeued.stderr
    assert _checkpoint(tmp_path)["global_step"] == 2 * 6 * 11
    assert len(_losses(tmp_path)) == 6 * 11  # one CSV file, every batch once

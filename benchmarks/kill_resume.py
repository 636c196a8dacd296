"""Kill a training run with SIGKILL at random moments, resume it each time, and check that it ends
exactly where an uninterrupted run ends.

    python benchmarks/kill_resume.py --kills 10 --report benchmarks/results/kill_resume.md

Each attempt runs `cyclegan-train ... ckpt_path=last` (once a checkpoint exists) and is killed
after a random delay; a last attempt runs to the end. The run writes `last.ckpt` every 2 batches
(atomically), so a kill loses at most 2 batches, and because the data's randomness is a function
of (seed, epoch, index) the resumed run must end bit-identical to the uninterrupted one.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

CLI = Path(sys.executable).parent / "cyclegan-train"
RUN = [
    "model/generator=resnet_9blocks",
    "model.generator.ngf=4",
    "data.synthetic_size=32",
    "data.load_size=32",
    "data.crop_size=32",
    "model.discriminator.ndf=4",
    "model.pool_size=4",
    "model.scheduler.n_epochs=8",
    "model.scheduler.n_epochs_decay=2",
    "data.synthetic_train=12",
    "data.synthetic_test=2",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "seed=3",
    "test=false",
    "trainer.deterministic=true",
    "trainer.num_sanity_val_steps=0",
    "logger=csv",
    "~callbacks.rich_progress_bar",
    "~callbacks.image_grid",
    "callbacks.model_checkpoint_interval.train_time_interval=null",
    "callbacks.model_checkpoint_interval.every_n_train_steps=4",
]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def _final_state(log_dir: Path) -> dict[str, torch.Tensor]:
    newest = max(log_dir.glob("*/*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return torch.load(newest, map_location="cpu", weights_only=True)


def run(workdir: Path, kills: int, seed: int, max_delay: float) -> list[str]:
    """Returns the report's lines; raises AssertionError when the resumed run differs."""
    workdir.mkdir(parents=True, exist_ok=True)
    common = [*RUN, f"paths.data_dir={workdir / 'data'}"]
    reference = subprocess.run(
        [str(CLI), *common, f"paths.log_dir={workdir / 'reference'}"],
        cwd=workdir, env=_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert reference.returncode == 0, reference.stderr[-2000:]
    expected = _final_state(workdir / "reference")
    rng = random.Random(seed)
    log_dir = workdir / "killed"
    lines = ["| attempt | killed after (s) | resumed from step | outcome |", "|---|---|---|---|"]
    for attempt in range(kills + 1):
        resume = list(log_dir.glob("*/*/checkpoints/last.ckpt"))
        step = _final_state(log_dir)["global_step"] if resume else 0
        if step == expected["global_step"]:  # killed after its last checkpoint, while exiting
            lines.append(f"| {attempt + 1} | - | {step} | none: all trained before the kill |")
            break
        args = [*common, f"paths.log_dir={log_dir}"] + (["ckpt_path=last"] if resume else [])
        process = subprocess.Popen(
            [str(CLI), *args], cwd=workdir, env=_env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if attempt < kills:
            delay = rng.uniform(2.0, max_delay)
            time.sleep(delay)
            if process.poll() is not None:  # trained to the end before the kill
                _, stderr = process.communicate()
                assert process.returncode == 0, stderr[-2000:]
                lines.append(f"| {attempt + 1} | - | {step} | ran to the end before the kill |")
                break
            process.send_signal(signal.SIGKILL)
            process.wait()
            lines.append(
                f"| {attempt + 1} | {delay:.1f} | {step} | killed ({process.returncode}) |"
            )
        else:
            _, stderr = process.communicate()
            assert process.returncode == 0, stderr[-2000:]
            lines.append(f"| {attempt + 1} | - | {step} | ran to the end |")
    final = _final_state(log_dir)
    assert final["global_step"] == expected["global_step"], (final["global_step"], expected)
    for name, value in expected["state_dict"].items():
        assert torch.equal(value, final["state_dict"][name]), f"{name} differs"
    lines.append("")
    killed = sum("| killed (" in line for line in lines)
    lines.append(
        f"Final weights equal the uninterrupted run's, bit for bit, after {killed} kills "
        f"(global step {final['global_step']})."
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=14.0, help="seconds")
    parser.add_argument("--workdir", type=Path, default=Path("kill_resume_runs"))
    parser.add_argument("--report", type=Path, default=None, help="markdown file to write")
    args = parser.parse_args()
    lines = run(args.workdir, args.kills, args.seed, args.max_delay)
    command = f"python benchmarks/kill_resume.py --kills {args.kills} --seed {args.seed}"
    text = "\n".join([f"# kill -9 and resume\n\n`{command}`\n", *lines]) + "\n"
    print(text)
    if args.report:
        args.report.write_text(text)


if __name__ == "__main__":
    main()

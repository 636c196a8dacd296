"""Where a training step's time goes: the top operators of the real ``training_step``.

When a fast path misses its target, this says why: it runs the same model, Trainer and data as
``train_speed.py`` for each configuration (no alternation: one after the other), profiles the
steps after warm-up with ``torch.profiler`` and prints, per configuration, the operators with the
most self time per step and their share of the step. Appended to ``benchmarks/RESULTS.md`` under
"Where the time goes" (``--out -``: print only).

    python benchmarks/profile_step.py --size 128 --configs 32-true bf16-mixed
    python benchmarks/profile_step.py --size 32 --ngf 8 --ndf 8 --steps 1 --out -   # quick look
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).parent))

import train_speed

HEADING = "## Where the time goes (top operators of one training step)"
INTRO = (
    "`torch.profiler` over the steps after warm-up of one configuration at a time "
    "([`profile_step.py`](profile_step.py)): the operators with the most self time, in ms per "
    "step and as a share of all operator self time (on a GPU: device time)."
)
HEADER = (
    "| when | machine | model | px | config | operator | calls/step | ms/step | share | command |"
)


class StepProfiler(L.Callback):
    """Profiles training steps ``warmup`` .. end, step by step (data loading left out)."""

    def __init__(self, warmup: int, device: str) -> None:
        self.warmup, self.device = warmup, device
        activities = [ProfilerActivity.CPU]
        if device == "cuda":
            activities.append(ProfilerActivity.CUDA)
        self.profiler = profile(activities=activities)
        self.profiled = 0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == self.warmup:
            self.profiler.__enter__()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:  # fmt: skip
        if batch_idx >= self.warmup:
            train_speed.synchronize(self.device)
            self.profiled += 1

    def on_train_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.profiled:
            self.profiler.__exit__(None, None, None)


def top_operators(
    profiler: Any, steps: int, device: str, n: int
) -> list[tuple[str, float, float, float]]:
    """(name, calls per step, ms per step, share) of the ``n`` operators with most self time."""
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    events = [e for e in profiler.key_averages() if not e.key.startswith("ProfilerStep")]
    total = sum(getattr(e, attr) for e in events) or 1.0
    events.sort(key=lambda e: getattr(e, attr), reverse=True)
    return [
        (e.key, e.count / steps, getattr(e, attr) / 1e3 / steps, getattr(e, attr) / total)
        for e in events[:n]
    ]


def profile_config(args: argparse.Namespace, config: train_speed.Config) -> list[tuple]:
    model = train_speed.build_model(args, config)
    profiler = StepProfiler(args.warmup, args.device)
    steps = args.warmup + args.steps
    trainer = train_speed.make_trainer(args, config, steps, profiler)
    data = train_speed.SyntheticBatches(
        args.batch, args.size, steps, config.channels_last, args.seed
    )
    torch.set_num_threads(args.threads)
    trainer.fit(model, train_dataloaders=DataLoader(data, batch_size=None))
    return top_operators(profiler.profiler, profiler.profiled, args.device, args.top)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    train_speed.add_common_arguments(parser)
    parser.add_argument(
        "--configs",
        nargs="+",
        type=train_speed.Config.parse,
        default=[train_speed.BASELINE, train_speed.Config.parse("bf16-mixed")],
        help="PRECISION[+cl][+compile], profiled one after the other",
    )
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.out_path = None if args.out == "-" else Path(args.out)
    args.data, args.compile_backend = "synthetic", None
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    train_speed.quiet()
    for config in args.configs:
        load = os.getloadavg()[0]
        operators = profile_config(args, config)
        when, where, _, model = train_speed.context(args, load)
        command = (
            f"python benchmarks/profile_step.py --device {args.device} "
            f"{train_speed.model_flags(args)} --size {args.size} --batch "
            f"{args.batch} --threads {args.threads} --warmup {args.warmup} --steps {args.steps} "
            f"--configs {config.label}"
        )
        print(f"\n{config.label}: {model}, {args.size} px, batch {args.batch}; {where}")
        print(f"{'operator':<44} {'calls/step':>10} {'ms/step':>9} {'share':>6}")
        rows = []
        for name, calls, ms, share in operators:
            print(f"{name[:44]:<44} {calls:10.0f} {ms:9.1f} {share:6.1%}")
            rows.append(
                f"| {when} | {where} | {model} | {args.size} | {config.label} | `{name}` "
                f"| {calls:.0f} | {ms:.1f} | {share:.1%} | `{command}` |"
            )
        train_speed.append_table(args.out_path, HEADING, INTRO, HEADER, rows)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

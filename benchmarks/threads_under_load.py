"""The default run's step time on a quiet machine and next to a busy neighbour, at the default
threads and at each fixed thread count, in one run.

    python benchmarks/threads_under_load.py --report benchmarks/results/threads_under_load.md

Each cell is the real ``cyclegan-train`` (the default recipe, ``--steps`` training batches), its
speed read from ``train/images_per_sec`` (batch 1: steps per second) over the batches after the
first 30. The neighbours are what a user's machine has running beside a training job:

- ``torch job``: another PyTorch program training a small convolution net at all cores, with
  OpenMP's own default wait (it spins up to 300 000 rounds before it sleeps);
- ``one busy core``: a process that keeps one core busy (a browser tab, a compile).

"default" is what a user gets: torch's thread count, then ``FreeCoreThreads`` (on by default)
following the free cores every 5 s. The fixed counts are set with ``+torch_threads=N``, which
turns that off; "sleeping" also sets ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep
instead of spinning), the other remedy a user can choose.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cyclegan_lit.machine import ISA_SHOWN, available_cores, cpu_flags, cpu_model

TORCH_JOB = """
import torch
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 3, 3, padding=1))
x = torch.randn(2, 3, 128, 128)
while True:
    net(x).square().mean().backward()
"""
BUSY_CORE = "while True:\n    pass\n"
NEIGHBOURS = {"quiet": None, "torch job": TORCH_JOB, "one busy core": BUSY_CORE}
OPENMP_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")


def _clean_env(**extra: str) -> dict[str, str]:
    """The user's environment without any OpenMP setting, so the defaults are what is measured."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARIABLES}
    return {**env, "WANDB_MODE": "disabled", **extra}


def configurations(cores: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Name -> (extra overrides, extra environment) of each way to run."""
    configs: dict[str, tuple[list[str], dict[str, str]]] = {"default": ([], {})}
    for threads in sorted({1, cores}):
        configs[f"{threads} thread{'s' if threads > 1 else ''}"] = (
            [f"+torch_threads={threads}"],
            {},
        )
    if cores > 1:
        configs[f"{cores} threads, sleeping"] = (
            [f"+torch_threads={cores}"], {"OMP_WAIT_POLICY": "PASSIVE"}
        )  # fmt: skip
    return configs


@contextlib.contextmanager
def neighbour(code: str | None) -> Iterator[None]:
    """Run ``code`` in another process (with OpenMP's own defaults) for the block's duration."""
    if code is None:
        yield
        return
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=_clean_env(), stdout=subprocess.DEVNULL
    )
    try:
        time.sleep(3)  # let it start (the torch job imports torch first)
        yield
    finally:
        process.kill()
        process.wait()


def steps_per_second(
    folder: Path, steps: int, overrides: list[str], env: dict[str, str]
) -> tuple[float, float]:
    """(steps per second after the first 30, wall seconds) of one default training run."""
    train = Path(sys.executable).with_name("cyclegan-train")
    command = [
        str(train), *overrides,
        "trainer.max_epochs=1", f"trainer.limit_train_batches={steps}",
        "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "test=false",
        "logger=csv", "trainer.log_every_n_steps=5",
        f"paths.root_dir={folder}", f"paths.data_dir={folder.parent / 'data'}",
        f"hydra.run.dir={folder}",
    ]  # fmt: skip
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{result.stderr[-2000:]}")
    (metrics,) = folder.glob("**/metrics.csv")
    rates = [
        float(row["train/images_per_sec"])
        for row in csv.DictReader(metrics.open())
        if row.get("train/images_per_sec") and int(row["step"]) >= 30
    ]
    return statistics.median(rates), wall


def measure(steps: int, repeats: int, workdir: Path) -> dict[tuple[str, str], list[float]]:
    """(neighbour, configuration) -> ms per step of each repeat; the configurations take turns, so
    that a drift of the machine's speed spreads over all of them."""
    configs = configurations(available_cores())
    results: dict[tuple[str, str], list[float]] = {}
    for place, code in NEIGHBOURS.items():
        with neighbour(code):
            for repeat in range(repeats):
                for name, (overrides, extra_env) in configs.items():
                    folder = workdir / f"{place}_{name}_{repeat}".replace(" ", "_").replace(",", "")
                    env = _clean_env(**extra_env)
                    rate, wall = steps_per_second(folder, steps, overrides, env)
                    results.setdefault((place, name), []).append(1000.0 / rate)
                    print(f"{place:>14} | {name:<20} {1000.0 / rate:7.1f} ms/step  ({wall:.0f} s)")
    return results


def report(results: dict[tuple[str, str], list[float]], steps: int, command: str) -> str:
    places = list(dict.fromkeys(place for place, _ in results))
    names = list(dict.fromkeys(name for _, name in results))
    median = {key: statistics.median(values) for key, values in results.items()}
    repeats = len(next(iter(results.values())))
    isa = ", ".join(f for f in ISA_SHOWN if f in cpu_flags()) or "no AVX2"
    lines = [
        "# Step time beside a busy neighbour",
        "",
        f"`{command}`",
        "",
        f"{cpu_model()} ({isa}), {available_cores()} cores; the default run (`cyclegan-train`), "
        f"{steps} batches; ms per training step (median after the first 30 batches), the median "
        f"of {repeats} runs with their range, and against the fastest fixed thread count beside "
        "the same neighbour.",
        "",
        "| neighbour | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for place in places:
        best = min(ms for (p, n), ms in median.items() if p == place and n != "default")
        cells = []
        for name in names:
            values = results[place, name]
            spread = f" ({min(values):.0f}–{max(values):.0f})" if len(values) > 1 else ""
            cells.append(f"{median[place, name]:.0f}{spread}, {median[place, name] / best:.2f}×")
        lines.append(f"| {place} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="training batches per cell")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell")
    parser.add_argument("--report", type=Path, default=None, help="markdown file to write")
    args = parser.parse_args()
    command = (
        f"python benchmarks/threads_under_load.py --steps {args.steps} --repeats {args.repeats}"
    )
    with tempfile.TemporaryDirectory(prefix="threads_under_load_") as tmp:
        results = measure(args.steps, args.repeats, Path(tmp))
    text = report(results, args.steps, command)
    print(text)
    if args.report:
        args.report.write_text(text)


if __name__ == "__main__":
    main()

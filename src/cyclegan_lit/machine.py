"""What this machine can do fast: its instruction set (read once) and the cores this process may
use, so that settings are chosen (or warned about) by the machine, not by guesswork."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

# the flags that decide which fast paths a CPU has (bf16 speed, vector width)
ISA_SHOWN = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16() -> bool | None:
    """Whether bf16 matrix instructions exist (AVX-512 BF16 or AMX); None when unknown."""
    flags = cpu_flags()
    if not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a job scheduler or `taskset`
    narrows), not the machine's count that ``os.cpu_count()`` reports."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def torch_threads_for(threads: int, cores: int, workers: int, processes: int = 1) -> int | None:
    """The torch thread count to use instead of ``threads``, or None to keep it.

    Each of ``processes`` training processes gets ``cores / processes`` cores, and each of its
    ``workers`` data loader processes keeps one busy; more threads than that only contend (on a
    busy 2-core machine two threads ran 3x slower than one).
    """
    share = max(1, cores // max(1, processes))
    if threads <= share and threads + workers <= share:
        return None
    chosen = max(1, share - workers)
    return None if chosen == threads else chosen


def set_torch_threads(
    workers: int, processes: int = 1, requested: int | None = None, threads: int | None = None
) -> str | None:
    """Set torch's thread count for this machine; return the line saying what was chosen, or None
    when nothing changed. ``requested`` (an explicit option) wins, and so does ``OMP_NUM_THREADS``,
    which torch has already applied."""
    import torch

    if requested is not None:
        torch.set_num_threads(max(1, int(requested)))
        return None
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    current = threads if threads is not None else torch.get_num_threads()
    cores = available_cores()
    chosen = torch_threads_for(current, cores, workers, processes)
    if chosen is None:
        return None
    torch.set_num_threads(chosen)
    per = f" for each of {processes} processes" if processes > 1 else ""
    return (
        f"torch threads: {chosen} instead of {current} ({cores} cores available{per}, "
        f"{workers} data workers); set OMP_NUM_THREADS or +torch_threads=N to choose"
    )


def openmp_threads_sleep_while_waiting() -> None:
    """Make torch's idle OpenMP threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``),
    unless the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``.

    By default torch's OpenMP (libgomp) spins a waiting thread up to 300 000 rounds before it
    sleeps. With another process on a core, the thread it waits for is descheduled and the spin
    burns the time slice that thread needs: beside a busy neighbour the default run went 2-3x
    slower than at one thread (``benchmarks/threads_under_load.py``); on a quiet machine the
    policy makes no difference. libgomp reads it once, when torch loads it: call this first.
    """
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe(device: str = "cpu") -> str:
    """The machine a measurement came from, as benchmark tables state it: the CPU's model, the
    flags that decide its fast paths, cores and threads; or the GPU and its compute capability."""
    import torch

    if device == "cuda":
        major, minor = torch.cuda.get_device_capability()
        return f"{torch.cuda.get_device_name()} (sm_{major}{minor}), torch {torch.__version__}"
    isa = ", ".join(f for f in ISA_SHOWN if f in cpu_flags()) or "no AVX2"
    threads = torch.get_num_threads()
    return (
        f"{cpu_model()} ({isa}), {available_cores()} cores, {threads} torch "
        f"thread{'s' if threads != 1 else ''}, torch {torch.__version__}"
    )

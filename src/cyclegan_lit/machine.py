"""What this machine can do fast: its instruction set (read once) and the cores this process may
use, so that settings are chosen (or warned about) by the machine, not by guesswork."""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Collection
from pathlib import Path

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

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


def cpu_bf16_isa(flags: Collection[str]) -> str | None:
    """The fastest bf16 matrix instructions among these CPU flags, by name: ``AMX`` (tiles,
    ``amx_bf16``), else ``AVX-512 BF16`` (``avx512_bf16``); None without either."""
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512 BF16"
    return None


def cpu_has_bf16() -> bool | None:
    """Whether bf16 matrix instructions exist (AVX-512 BF16 or AMX); None when unknown."""
    flags = cpu_flags()
    if not flags:
        return None
    return cpu_bf16_isa(flags) is not None


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


def busy_core_seconds(cores: Collection[int]) -> float | None:
    """Seconds the given cores have been busy since boot, all processes together (everything but
    idle and I/O wait; steal counts, as a hypervisor gave that time to another machine); None
    where ``/proc/stat`` cannot be read."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            values = [int(v) for v in fields[:8]]
            ticks += sum(values) - values[3] - values[4]
    return ticks / _TICKS_PER_SECOND


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds process ``pid`` has used (all its threads); 0 where it cannot be read (gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND  # utime, stime


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

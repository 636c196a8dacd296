"""What this machine can do fast: read once, so that settings are chosen (or warned about) by the
machine's instruction set, not by guesswork."""

from __future__ import annotations

import functools
from pathlib import Path


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

"""The dtype conversions CPU bf16 autocast adds to one forward and backward of the paper generator,
with torch's padding layers (as the reference runs it) and with ours, in one run.

    python benchmarks/autocast_casts.py --sizes 64 256 --report benchmarks/results/autocast_casts.md

Each conversion is a pass over memory that does no arithmetic: on a CPU whose bf16 convolutions
are fast (AMX), such copies were a quarter of a bf16-mixed step (issue 24). The counts are exact
and machine-independent: the network runs on fake tensors (``FakeTensorMode``: shapes and dtypes,
no arithmetic, seconds at any size) under ``torch.autocast("cpu", dtype=torch.bfloat16)``, as
``trainer.precision=bf16-mixed`` runs it; every ``aten._to_copy`` that changes a dtype counts,
with the bytes it reads and writes. The weights' casts (each weight to bf16 once per step in
forward, its gradient back to fp32 in backward) are the floor no padding choice changes.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from training_curve import provenance

from cyclegan_lit.networks.builders import build_generator
from cyclegan_lit.networks.padding import with_torch_padding

MB = 1e6


class DtypeConversions(TorchDispatchMode):
    """Counts the ops that change a tensor's dtype, and the bytes they read and write."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.bytes = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if func is torch.ops.aten._to_copy.default and out.dtype != args[0].dtype:
            self.count += 1
            self.bytes += out.nbytes + args[0].nbytes
        return out


def conversions(build: Callable[[], nn.Module], size: int) -> DtypeConversions:
    """One bf16-autocast forward and fp32-loss backward of ``build()`` on a fake 1×3×size² image."""
    with FakeTensorMode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FakeTensor's data_ptr deprecation, from nn.init
        net = build()
        x = torch.rand(1, 3, size, size)
        with DtypeConversions() as counted:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = net(x)
            y.float().mean().backward()
    return counted


def weight_cast_bytes(net: nn.Module) -> int:
    """Bytes of the weights' own casts: each fp32 parameter read and written as bf16, twice."""
    return sum(2 * p.numel() * (4 + 2) for p in net.parameters())


def measure(generator: str, sizes: list[int]) -> list[dict[str, Any]]:
    floor = weight_cast_bytes(build_generator(generator)) / MB
    rows = []
    for size in sizes:
        theirs = conversions(lambda: with_torch_padding(build_generator(generator)), size)
        ours = conversions(lambda: build_generator(generator), size)
        rows.append(
            {
                "px": size,
                "torch pads": f"{theirs.count} / {theirs.bytes / MB:.0f}",
                "ours": f"{ours.count} / {ours.bytes / MB:.0f}",
                "weights' casts (MB)": f"{floor:.0f}",
                "traffic saved": f"{1 - ours.bytes / theirs.bytes:.0%}",
            }
        )
    return rows


def report(generator: str, rows: list[dict[str, Any]], command: str) -> str:
    header = list(rows[0])
    lines = [
        f"\n## {generator}, one forward and backward under CPU bf16 autocast\n",
        provenance(command) + "\n",
        "Dtype conversions: count / MB read and written.\n",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(row[k]) for k in header) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="resnet_9blocks")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--report", type=Path, help="append the table to this Markdown file")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "benchmarks/autocast_casts.py", *(argv or sys.argv[1:])])
    text = report(args.generator, measure(args.generator, args.sizes), command)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        with open(args.report, "a") as file:
            file.write(text)


if __name__ == "__main__":
    main()

"""The fastest trainer settings that still train the same model, chosen for the machine at hand.

``trainer=fast`` sets ``trainer.precision`` through the ``${cyclegan.fast_precision:...}``
resolver, so one config is right on a laptop CPU, a bf16 CPU server and a GPU. The rules follow
what ``benchmarks/train_speed.py`` measured (``benchmarks/RESULTS.md``):

* CPU with bf16 instructions (AVX-512 BF16 or AMX): ``bf16-mixed``; losses track fp32 closely
  and a step is 1.8-2.0x faster at 256 px (1.4x at 128 px). Without them bf16 is emulated and
  slower: ``32-true``.
* GPU with bf16 (Ampere and newer): ``bf16-mixed``; no loss scaling needed. Older GPUs with
  tensor cores (Volta, Turing): ``16-mixed``, with Lightning's GradScaler. Older still: ``32-true``.
* channels_last is never chosen: on the CPU it made InstanceNorm's gradients wrong at batch 1
  (a torch bug, see RESULTS.md). torch.compile is the model's option (``model.compile=true``):
  worth its minute of compiling only in runs longer than a few minutes.

``compile_networks`` is what ``model.compile=true`` runs: it compiles the four networks, except
where compiled generators are known or found to train wrong. On an Intel Xeon with AMX and torch
2.14 a compiled ResNet generator's gradients are NaN under bf16 autocast from the first backward
(the compiled discriminators are right): there the generators stay eager, by rule, with one line
saying so. On other torch versions on an AMX CPU a self-check (``generator_compile_check``)
decides. README, "Speed", has the reproduction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cyclegan_lit.machine import cpu_bf16_isa, cpu_flags

if TYPE_CHECKING:
    from torch import Tensor, nn

log = logging.getLogger(__name__)

# accelerator names Lightning accepts for a CUDA device
_CUDA_NAMES = ("gpu", "cuda")


@dataclass(frozen=True)
class FastSettings:
    """The chosen precision and the one-line reason (printed by ``describe``)."""

    accelerator: str
    precision: str
    reason: str


def resolve_accelerator(accelerator: str | None = "auto") -> str:
    """``cuda`` or ``cpu`` (or the name given, e.g. ``mps``): what ``auto`` will pick."""
    name = str(accelerator or "auto").lower()
    if name in _CUDA_NAMES:
        return "cuda"
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def fast_settings(accelerator: str | None = "auto") -> FastSettings:
    """The settings ``trainer=fast`` uses on this machine for ``trainer.accelerator``."""
    device = resolve_accelerator(accelerator)
    if device == "cpu":
        flags = cpu_flags()
        isa = cpu_bf16_isa(flags)
        if isa:
            return FastSettings(device, "bf16-mixed", f"the CPU has {isa}")
        if not flags:
            return FastSettings(
                device, "32-true", "the CPU's flags are unreadable: bf16 may be slow"
            )
        widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
        return FastSettings(
            device, "32-true", f"the CPU has {widest}, no bf16 instructions: bf16 would be emulated"
        )
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():  # Lightning will refuse the accelerator itself
            return FastSettings(device, "32-true", "no CUDA device visible")
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return FastSettings(device, "bf16-mixed", "the GPU has bf16 (Ampere or newer)")
        if torch.cuda.get_device_capability() >= (7, 0):
            return FastSettings(device, "16-mixed", "the GPU has fp16 tensor cores, no bf16")
        return FastSettings(device, "32-true", "the GPU has no tensor cores")
    return FastSettings(device, "32-true", f"no measured fast path for {device}")


def fast_precision(accelerator: str | None = "auto") -> str:
    """The ``${cyclegan.fast_precision:<accelerator>}`` resolver: a Lightning precision flag."""
    return fast_settings(accelerator).precision


def describe(accelerator: str | None = "auto") -> str:
    settings = fast_settings(accelerator)
    return f"trainer=fast on {settings.accelerator}: {settings.precision} ({settings.reason})"


# ------------------------------------------------------------------------------ torch.compile
NETWORKS = ("G_A", "G_B", "D_A", "D_B")
DISCRIMINATORS = ("D_A", "D_B")
# how far a compiled generator's gradient norm may be from eager's (bf16 rounds differently in
# fused kernels: 0.3 % on an AVX2 CPU for the paper generator at ngf 16, 64 px)
GRAD_NORM_TOLERANCE = 0.05
# (CPU flag, torch version prefix): compiled generators' gradients are NaN under bf16 autocast
# there (issue 24: Intel Xeon with AMX-BF16 and AVX-512 BF16, torch 2.14.1)
KNOWN_BAD_GENERATOR_COMPILE = (("amx_bf16", "2.14."),)
DOCS = "README.md, section Speed"


@dataclass(frozen=True)
class GradCheck:
    """One forward and backward of a generator under CPU bf16 autocast, eager and compiled: the
    global norm of its parameter gradients in each (NaN when any gradient is not finite)."""

    eager: float
    compiled: float
    tolerance: float = GRAD_NORM_TOLERANCE

    @property
    def ok(self) -> bool:
        """Both finite and the compiled norm within ``tolerance`` (relative) of eager's."""
        if not (math.isfinite(self.eager) and math.isfinite(self.compiled)):
            return False
        return abs(self.compiled - self.eager) <= self.tolerance * abs(self.eager)

    def __str__(self) -> str:
        return f"gradient norm {self.compiled:.4g} compiled vs {self.eager:.4g} eager"


def _bf16_grad_norm(net: nn.Module, x: Tensor, target: Tensor | None) -> tuple[float, Tensor]:
    """One forward (CPU bf16 autocast) and backward of an L1 loss, as the identity and cycle
    terms are computed (in fp32); returns the global gradient norm (NaN if any gradient is not
    finite) and the fp32 output."""
    import torch

    net.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x).float()
    if target is None:
        target = torch.rand(out.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch.nn.functional.l1_loss(out, target).backward()
    grads = [p.grad.float() for p in net.parameters() if p.grad is not None]
    if not grads or not all(bool(torch.isfinite(g).all()) for g in grads):
        return float("nan"), target
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))), target


def generator_compile_check(
    generator: nn.Module, size: int = 64, batch: int = 1, options: dict[str, Any] | None = None
) -> GradCheck:
    """Compiles a copy of ``generator`` (``nn.Module.compile``, as ``model.compile=true`` does,
    with inductor ``options``) and compares one forward and backward under CPU bf16 autocast
    with eager's, on the same random input: the self-check before compiling the generators on an
    AMX CPU, and what tests/test_perf.py asserts. The copy runs in training mode but for its
    dropout layers (eager and compiled draw different masks); torch's random state is left as it
    was. The network itself is not touched."""
    import copy

    import torch
    from torch import nn

    first_conv = next(m for m in generator.modules() if isinstance(m, nn.Conv2d))
    seeded = torch.Generator().manual_seed(0)
    x = torch.rand(batch, first_conv.in_channels, size, size, generator=seeded) * 2 - 1
    norms, target = [], None
    with torch.random.fork_rng(devices=[]):
        for compiled in (False, True):
            net = copy.deepcopy(generator).cpu().train()
            for module in net.modules():
                if isinstance(module, nn.Dropout):
                    module.eval()
            if compiled:
                net.compile(**({"options": options} if options else {}))
            norm, target = _bf16_grad_norm(net, x, target)
            norms.append(norm)
    return GradCheck(*norms)


@dataclass(frozen=True)
class CompilePlan:
    """Which of the four networks ``model.compile=true`` compiles, and the line that says why
    when it is not all four (or that a self-check ran)."""

    networks: tuple[str, ...] = NETWORKS
    note: str | None = None


def generator_compile_known_bad(flags: Collection[str], torch_version: str) -> bool:
    """Whether compiled generators are known to get NaN gradients under bf16 autocast on a CPU
    with these flags and this torch version (``KNOWN_BAD_GENERATOR_COMPILE``)."""
    return any(
        flag in flags and torch_version.startswith(prefix)
        for flag, prefix in KNOWN_BAD_GENERATOR_COMPILE
    )


def compile_plan(
    device: str,
    precision: str,
    flags: Collection[str],
    torch_version: str,
    check: Callable[[], GradCheck],
) -> CompilePlan:
    """What ``model.compile=true`` compiles on this machine. Everything, except under bf16 on a
    CPU with AMX (``amx_bf16``), where a compiled generator trained NaN (torch 2.14.1):

    * with a torch version where that is known (``generator_compile_known_bad``), the generators
      stay eager and only the discriminators (whose compiled gradients were right) compile; no
      self-check runs, since a small check input might pass where training fails;
    * with another torch version, ``check()`` (``generator_compile_check`` on the model's G_A)
      decides: compiled generators if their gradients are finite and close to eager's, else the
      discriminators only. A check that raises counts as failed.

    ``flags`` and ``torch_version`` are inputs so that the AMX branches are testable anywhere.
    """
    if device != "cpu" or not str(precision).startswith("bf16") or "amx_bf16" not in flags:
        return CompilePlan()
    where = f"under {precision} on this CPU with AMX (amx_bf16), torch {torch_version}"
    narrowed = "model.compile=true: compiling D_A and D_B only, the generators stay eager"
    retry = f"model.compile=false compiles nothing; {DOCS}"
    if generator_compile_known_bad(flags, torch_version):
        return CompilePlan(
            DISCRIMINATORS,
            f"{narrowed}: compiled generators get NaN gradients {where} (a torch bug; the "
            f"compiled discriminators are right); {retry}",
        )
    try:
        result = check()
    except Exception as error:  # a failed compile is a failed check, not a failed run
        error_line = f"{type(error).__name__}: {error}".splitlines()[0]
        return CompilePlan(
            DISCRIMINATORS,
            f"{narrowed}: the compiled generator self-check raised {error_line} {where}; {retry}",
        )
    if result.ok:
        return CompilePlan(
            NETWORKS, f"model.compile=true: compiled generator self-check passed {where}: {result}"
        )
    return CompilePlan(
        DISCRIMINATORS,
        f"{narrowed}: the compiled generator self-check failed {where}: {result} (a torch bug "
        f"seen with AMX and torch 2.14); {retry}",
    )


def compile_networks(
    model: nn.Module,
    device: str,
    precision: str,
    flags: Collection[str] | None = None,
    torch_version: str | None = None,
    check: Callable[[], GradCheck] | None = None,
    announce: bool = True,
) -> CompilePlan:
    """Compiles ``model``'s networks in place (``nn.Module.compile``: state_dict keys stay free of
    ``_orig_mod.``) as ``compile_plan`` decides for this machine (its CPU flags and torch version
    unless given; the check is ``generator_compile_check`` on ``model.G_A``), and logs the plan's
    line when it has one (``announce``: on the process that speaks, rank zero)."""
    import torch

    flags = cpu_flags() if flags is None else flags
    torch_version = torch.__version__ if torch_version is None else torch_version
    if check is None:

        def check() -> GradCheck:
            return generator_compile_check(model.G_A)

    plan = compile_plan(device, precision, flags, torch_version, check)
    for name in plan.networks:
        getattr(model, name).compile()
    if plan.note and announce:
        (log.warning if plan.networks != NETWORKS else log.info)(plan.note)
    return plan

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
"""

from __future__ import annotations

from dataclasses import dataclass

from cyclegan_lit.machine import cpu_has_bf16

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
        has_bf16 = cpu_has_bf16()
        if has_bf16:
            return FastSettings(device, "bf16-mixed", "the CPU has bf16 instructions")
        known = "has no" if has_bf16 is False else "may lack (flags unreadable)"
        return FastSettings(device, "32-true", f"the CPU {known} bf16 instructions")
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

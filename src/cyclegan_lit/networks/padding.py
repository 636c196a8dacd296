"""Reflection and replication padding that pad in the dtype they are given, under autocast too.

CPU autocast lists reflection and replication padding among the ops it runs in fp32 (CUDA's
autocast does not). Inside a bf16 ResNet generator that costs, at each of its 20 pads, a cast of
the activations up to fp32 and, in the next convolution, a cast back down, and both again in
backward: at 256 px, 571 of the 711 MB one forward and backward of the paper generator converts
(``benchmarks/autocast_casts.py``). Padding only copies
values, so padding the bf16 tensor itself hands the next convolution the same input bit for bit;
only backward changes, where the few border gradients that pile up on one pixel are summed in
bf16 instead of fp32. Same modules, no parameters: state_dict keys are the reference's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class _PadsInInputDtype(nn.Module):
    """Runs the padding with autocast off for the input's device, so its dtype is kept. Without
    autocast it is torch's layer untouched, so ``torch.export`` and ONNX see a plain pad."""

    def forward(self, x: Tensor) -> Tensor:
        if not torch.is_autocast_enabled(x.device.type):
            return super().forward(x)  # type: ignore[misc]
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x)  # type: ignore[misc]


class ReflectionPad2d(_PadsInInputDtype, nn.ReflectionPad2d):
    """``nn.ReflectionPad2d`` that keeps a bf16 input bf16 under CPU autocast."""


class ReplicationPad2d(_PadsInInputDtype, nn.ReplicationPad2d):
    """``nn.ReplicationPad2d`` that keeps a bf16 input bf16 under CPU autocast."""


def with_torch_padding(net: nn.Module) -> nn.Module:
    """``net`` with its pad layers swapped, in place, for torch's own (which CPU autocast runs in
    fp32): the network as the reference runs it, for comparisons."""
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            for ours, theirs in (
                (ReflectionPad2d, nn.ReflectionPad2d),
                (ReplicationPad2d, nn.ReplicationPad2d),
            ):
                if isinstance(child, ours):
                    setattr(module, name, theirs(child.padding))
    return net

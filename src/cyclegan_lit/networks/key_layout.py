"""What a state_dict's keys reveal about the network that wrote them.

Each architecture reads its own keys back (``read_layout`` next to the code that creates them), so
the checkpoint diagnosis in key_diagnosis.py cannot drift from the layouts the networks create.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor

StateDict = Mapping[str, Tensor]


@dataclass(frozen=True)
class KeyLayout:
    """A recognised layout; the fields named after constructor arguments are None when n/a."""

    family: str  # as said in messages: "ResNet generator", "PatchGAN discriminator", ...
    width: str  # the constructor argument for the first conv's channels: "ngf" or "ndf"
    n_blocks: int | None = None  # ResNet: residual blocks
    block_convs: tuple[int, ...] = ()  # ResNet: conv_block indices of the blocks' convs
    num_downs: int | None = None  # U-Net: stride-2 levels
    n_layers: int | None = None  # PatchGAN: stride-2 conv layers

"""ResNet generator (Johnson et al.), layer for layer as the reference's models/networks.py.

Module nesting and Sequential indices are part of the contract: they are the state_dict keys of
the official checkpoints (``model.10.conv_block.1.weight`` ...).
"""

from __future__ import annotations

import re

from torch import Tensor, nn

from .key_layout import KeyLayout, StateDict
from .norms import get_norm_layer, norm_uses_bias
from .options import PADDING_TYPES
from .padding import ReflectionPad2d, ReplicationPad2d


def _pad_layers(padding_type: str, size: int) -> tuple[list[nn.Module], int]:
    """Return (explicit pad layers, conv padding) for a padding type, as the reference does."""
    if padding_type == "reflect":
        return [ReflectionPad2d(size)], 0
    if padding_type == "replicate":
        return [ReplicationPad2d(size)], 0
    if padding_type == "zero":
        return [], size
    raise ValueError(
        f"unknown padding_type {padding_type!r}: choose one of {', '.join(PADDING_TYPES)}"
    )


class ResnetBlock(nn.Module):
    """Residual block ``x + conv_block(x)`` with no activation after the add.

    ``conv_block`` is [pad, conv3x3, norm, ReLU, (Dropout 0.5), pad, conv3x3, norm]; dropout shifts
    the second conv from ``conv_block.5`` to ``conv_block.6``. ``zero`` padding uses the conv's
    own padding and has no pad layers (so the indices shift down by one).
    """

    def __init__(
        self,
        dim: int,
        padding_type: str = "reflect",
        norm: str = "instance",
        use_dropout: bool = False,
        use_bias: bool | None = None,
    ) -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        bias = norm_uses_bias(norm) if use_bias is None else use_bias
        pad, p = _pad_layers(padding_type, 1)
        layers: list[nn.Module] = [
            *pad,
            nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=bias),
            norm_layer(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        pad, p = _pad_layers(padding_type, 1)
        layers += [*pad, nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` ResnetBlocks, two upsamplings, c7s1, Tanh.

    Input height and width should be multiples of 4 so the output has the input's size.
    """

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
        n_blocks: int = 9,
        padding_type: str = "reflect",
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"ResnetGenerator: n_blocks must be >= 0, got {n_blocks}")
        if ngf < 1 or input_nc < 1 or output_nc < 1:
            raise ValueError(
                f"ResnetGenerator: ngf, input_nc and output_nc must be >= 1, "
                f"got {ngf}, {input_nc}, {output_nc}"
            )
        _pad_layers(padding_type, 1)  # validate before building anything
        norm_layer = get_norm_layer(norm)
        use_bias = norm_uses_bias(norm)

        layers: list[nn.Module] = [
            ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        mult = 2**n_downsampling
        layers += [
            ResnetBlock(ngf * mult, padding_type, norm, use_dropout, use_bias)
            for _ in range(n_blocks)
        ]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    ngf * mult // 2,
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=use_bias,
                ),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [
            ReflectionPad2d(3),
            nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    @classmethod
    def read_layout(cls, state_dict: StateDict) -> KeyLayout | None:
        """Recognise ``model.<i>.conv_block.<j>.*`` keys; read n_blocks and the block convs' ``j``.

        None for any other layout (and for ``n_blocks=0``, whose keys are those of a flat net).
        """
        blocks = {
            int(m[1]) for k in state_dict if (m := re.match(r"model\.(\d+)\.conv_block\.", k))
        }
        if not blocks:
            return None
        convs = {
            int(m[1])
            for k, v in state_dict.items()
            if (m := re.match(r"model\.\d+\.conv_block\.(\d+)\.weight$", k)) and v.ndim == 4
        }
        return KeyLayout(
            "ResNet generator", "ngf", n_blocks=len(blocks), block_convs=tuple(sorted(convs))
        )

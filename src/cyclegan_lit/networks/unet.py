"""U-Net generator, nested exactly as the reference's models/networks.py.

Each level is an ``UnetSkipConnectionBlock`` whose layers live in a Sequential named ``model``;
blocks nest through that Sequential, giving keys such as ``model.model.1.model.3.model.1.weight``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .key_layout import KeyLayout, StateDict
from .norms import get_norm_layer, norm_uses_bias


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down-conv, ``submodule``, up-conv, with skip ``cat([x, model(x)], 1)``.

    As in the reference the down-path LeakyReLU is in-place, so the skip carries LeakyReLU(x)
    rather than x; kept for numerical parity with official weights.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "instance",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        if not innermost and submodule is None:
            raise ValueError("UnetSkipConnectionBlock: a non-innermost block needs a submodule")
        self.outermost = outermost
        norm_layer = get_norm_layer(norm)
        use_bias = norm_uses_bias(norm)
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)

        layers: list[nn.Module]
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(
                inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias
            )
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias
            )
            layers = [
                downrelu,
                downconv,
                norm_layer(inner_nc),
                submodule,
                uprelu,
                upconv,
                norm_layer(outer_nc),
            ]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` stride-2 levels: a 2**num_downs input reaches 1x1 at the bottom.

    Channels from the outside in: ngf, 2ngf, 4ngf, 8ngf, then ``num_downs - 5`` levels at 8ngf
    (with Dropout 0.5 when ``use_dropout``), then the innermost level at 8ngf.
    """

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        num_downs: int,
        ngf: int = 64,
        norm: str = "instance",
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"UnetGenerator: num_downs must be >= 5, got {num_downs}")
        if ngf < 1 or input_nc < 1 or output_nc < 1:
            raise ValueError(
                f"UnetGenerator: ngf, input_nc and output_nc must be >= 1, "
                f"got {ngf}, {input_nc}, {output_nc}"
            )
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout
            )
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    @classmethod
    def read_layout(cls, state_dict: StateDict) -> KeyLayout | None:
        """Recognise ``model.model.*`` keys; each level nests one more ``.model``: num_downs."""
        keys = [k for k in state_dict if k.startswith("model.model.")]
        if not keys:
            return None
        num_downs = max(k.split(".").count("model") - 1 for k in keys)
        return KeyLayout("U-Net generator", "ngf", num_downs=num_downs)

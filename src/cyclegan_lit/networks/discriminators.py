"""PatchGAN and PixelGAN discriminators, layer for layer as the reference's models/networks.py."""

from __future__ import annotations

import re

from torch import Tensor, nn

from .key_layout import KeyLayout, StateDict
from .norms import get_norm_layer, norm_uses_bias


class NLayerDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` stride-2 4x4 convs, one stride-1 conv, then a 1-channel conv.

    ``n_layers=3`` is the 70x70 PatchGAN (``basic``): 256 px in gives 30x30 logits. Channels are
    capped at 8*ndf. No sigmoid: the GAN loss works on logits.
    """

    def __init__(
        self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance"
    ) -> None:
        super().__init__()
        if n_layers < 0 or ndf < 1 or input_nc < 1:
            raise ValueError(
                f"NLayerDiscriminator: need n_layers >= 0, ndf >= 1 and input_nc >= 1, "
                f"got {n_layers}, {ndf}, {input_nc}"
            )
        norm_layer = get_norm_layer(norm)
        use_bias = norm_uses_bias(norm)
        kw, padw = 4, 1
        layers: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw),
            nn.LeakyReLU(0.2, True),
        ]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_mult_prev, nf_mult = nf_mult, min(2**n, 8)
            layers += [
                nn.Conv2d(
                    ndf * nf_mult_prev, ndf * nf_mult, kw, stride=2, padding=padw, bias=use_bias
                ),
                norm_layer(ndf * nf_mult),
                nn.LeakyReLU(0.2, True),
            ]
        nf_mult_prev, nf_mult = nf_mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kw, stride=1, padding=padw, bias=use_bias),
            norm_layer(ndf * nf_mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    @classmethod
    def read_layout(cls, state_dict: StateDict) -> KeyLayout | None:
        """Recognise a flat ``model.<i>.*`` Sequential; its convs are n_layers + 2.

        None when a ``model.*`` key nests deeper (a generator) or no ``model.<i>.weight`` exists.
        """
        keys = [k for k in state_dict if k.startswith("model.")]
        weights = [k for k in keys if re.match(r"model\.\d+\.weight$", k)]
        if not weights or any(k.count(".") > 2 for k in keys):
            return None
        n_convs = sum(state_dict[k].ndim == 4 for k in weights)
        return KeyLayout("PatchGAN discriminator", "ndf", n_layers=n_convs - 2)


class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: judges each pixel independently; output has the input's height and width.

    Its Sequential is named ``net`` (not ``model``), as in the reference; the last conv follows
    the norm's bias rule.
    """

    def __init__(self, input_nc: int, ndf: int = 64, norm: str = "instance") -> None:
        super().__init__()
        if ndf < 1 or input_nc < 1:
            raise ValueError(
                f"PixelDiscriminator: ndf and input_nc must be >= 1, got {ndf}, {input_nc}"
            )
        norm_layer = get_norm_layer(norm)
        use_bias = norm_uses_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=use_bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=use_bias),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    @classmethod
    def read_layout(cls, state_dict: StateDict) -> KeyLayout | None:
        """Recognise ``net.*`` keys, the one family whose Sequential is not named ``model``."""
        if not any(k.startswith("net.") for k in state_dict):
            return None
        return KeyLayout("PixelGAN discriminator", "ndf")

"""Build generators and discriminators by their reference names (``--netG`` / ``--netD``).

Builders take plain keyword arguments so that Lightning hyper-parameters stay serialisable
(``build_generator(**cfg.generator, input_nc=3, output_nc=3)``) and initialise the weights like
the reference's ``define_G`` / ``define_D``.
"""

from __future__ import annotations

from torch import nn

from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .init import INIT_TYPES, init_weights
from .resnet import PADDING_TYPES, ResnetGenerator
from .unet import UnetGenerator

GENERATOR_NAMES: tuple[str, ...] = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")
DISCRIMINATOR_NAMES: tuple[str, ...] = ("basic", "n_layers", "pixel")

GENERATOR_ALIASES: dict[str, str] = {
    "resnet9": "resnet_9blocks",
    "resnet6": "resnet_6blocks",
    "unet256": "unet_256",
    "unet128": "unet_128",
}
DISCRIMINATOR_ALIASES: dict[str, str] = {"patchgan": "basic", "nlayers": "n_layers"}


def _canonical(name: str, names: tuple[str, ...], aliases: dict[str, str], what: str) -> str:
    key = str(name).strip().lower()
    key = aliases.get(key, key)
    if key not in names:
        choices = ", ".join([*names, *(f"{a} (={c})" for a, c in aliases.items())])
        raise ValueError(f"unknown {what} name {name!r}: choose one of {choices}")
    return key


def canonical_generator_name(name: str) -> str:
    """Map a generator name or alias (``resnet9``) to its reference name (``resnet_9blocks``)."""
    return _canonical(name, GENERATOR_NAMES, GENERATOR_ALIASES, "generator")


def canonical_discriminator_name(name: str) -> str:
    """Map a discriminator name or alias (``patchgan``) to its reference name (``basic``)."""
    return _canonical(name, DISCRIMINATOR_NAMES, DISCRIMINATOR_ALIASES, "discriminator")


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise ValueError(f"unknown {option} {value!r}: choose one of {', '.join(choices)}")


def build_generator(
    name: str,
    input_nc: int = 3,
    output_nc: int = 3,
    ngf: int = 64,
    norm: str = "instance",
    use_dropout: bool = False,
    init_type: str = "normal",
    init_gain: float = 0.02,
    padding_type: str = "reflect",
) -> nn.Module:
    """Build and initialise a generator; ``padding_type`` applies to the ResNet blocks only."""
    key = canonical_generator_name(name)
    _check_choice(padding_type, PADDING_TYPES, "padding_type")
    _check_choice(init_type, INIT_TYPES, "init_type")
    net: nn.Module
    if key.startswith("resnet"):
        n_blocks = 9 if key == "resnet_9blocks" else 6
        net = ResnetGenerator(
            input_nc,
            output_nc,
            ngf,
            norm,
            use_dropout,
            n_blocks=n_blocks,
            padding_type=padding_type,
        )
    else:
        num_downs = 8 if key == "unet_256" else 7
        net = UnetGenerator(input_nc, output_nc, num_downs, ngf, norm, use_dropout)
    return init_weights(net, init_type, init_gain)


def build_discriminator(
    name: str,
    input_nc: int = 3,
    ndf: int = 64,
    n_layers: int = 3,
    norm: str = "instance",
    init_type: str = "normal",
    init_gain: float = 0.02,
) -> nn.Module:
    """Build and initialise a discriminator; only ``n_layers`` reads ``n_layers`` (basic is 3)."""
    key = canonical_discriminator_name(name)
    _check_choice(init_type, INIT_TYPES, "init_type")
    net: nn.Module
    if key == "basic":
        net = NLayerDiscriminator(input_nc, ndf, n_layers=3, norm=norm)
    elif key == "n_layers":
        net = NLayerDiscriminator(input_nc, ndf, n_layers=n_layers, norm=norm)
    else:
        net = PixelDiscriminator(input_nc, ndf, norm=norm)
    return init_weights(net, init_type, init_gain)

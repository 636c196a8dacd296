"""The networks' options, by their reference names (``--netG`` / ``--netD``), without torch.

``GeneratorConfig`` and ``DiscriminatorConfig`` are the one home of the networks' options and
defaults (the reference's ``define_G`` / ``define_D`` arguments): the Hydra configs use them as
schemas (``model.generator`` / ``model.discriminator``) and ``CycleGAN`` stores them as plain
dicts in its hyper-parameters, so checkpoints stay loadable with ``weights_only=True``. This module
imports no torch (``build`` does, when called), so that the configs compose, and ``--help``
answers, without loading it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from torch import nn

# the option values each network module accepts (norms.py, init.py, resnet.py check them too)
NORM_NAMES: tuple[str, ...] = ("instance", "batch", "syncbatch", "none")
INIT_TYPES: tuple[str, ...] = ("normal", "xavier", "kaiming", "orthogonal")
PADDING_TYPES: tuple[str, ...] = ("reflect", "replicate", "zero")

GENERATOR_NAMES: tuple[str, ...] = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")
DISCRIMINATOR_NAMES: tuple[str, ...] = ("basic", "n_layers", "pixel")

GENERATOR_ALIASES: dict[str, str] = {
    "resnet9": "resnet_9blocks",
    "resnet6": "resnet_6blocks",
    "unet256": "unet_256",
    "unet128": "unet_128",
}
DISCRIMINATOR_ALIASES: dict[str, str] = {"patchgan": "basic", "nlayers": "n_layers"}

# Stride-2 downsamplings of each U-Net (``num_downs``): unet_256 reaches 1×1 from 256 px.
UNET_DOWNSAMPLINGS: dict[str, int] = {"unet_256": 8, "unet_128": 7}


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{option}={value!r}: not one of {', '.join(choices)}")


def _canonical(name: str, names: tuple[str, ...], aliases: dict[str, str], what: str) -> str:
    key = str(name).strip().lower()
    key = aliases.get(key, key)
    if key not in names:
        choices = ", ".join([*names, *(f"{a} (={c})" for a, c in aliases.items())])
        raise ValueError(f"name={name!r}: not a {what}; choose one of {choices}")
    return key


def canonical_generator_name(name: str) -> str:
    """Map a generator name or alias (``resnet9``) to its reference name (``resnet_9blocks``)."""
    return _canonical(name, GENERATOR_NAMES, GENERATOR_ALIASES, "generator")


def canonical_discriminator_name(name: str) -> str:
    """Map a discriminator name or alias (``patchgan``) to its reference name (``basic``)."""
    return _canonical(name, DISCRIMINATOR_NAMES, DISCRIMINATOR_ALIASES, "discriminator")


@dataclass
class GeneratorConfig:
    """A generator: the reference's ``--netG --ngf --norm --no_dropout --init_type --init_gain``.

    ``padding_type`` (no reference flag) applies to the ResNet blocks only. ``num_downs`` (U-Nets
    only; the reference's ``UnetGenerator`` argument, which ``--netG`` fixes at 7 or 8) sets the
    U-Net's depth for small images: ``unet_128`` with ``num_downs=5`` takes 32 px.
    """

    name: str = "resnet_9blocks"
    ngf: int = 64
    norm: str = "instance"
    use_dropout: bool = False
    init_type: str = "normal"
    init_gain: float = 0.02
    padding_type: str = "reflect"
    num_downs: int | None = None

    def __post_init__(self) -> None:
        key = canonical_generator_name(self.name)
        if self.num_downs is not None and (key not in UNET_DOWNSAMPLINGS or self.num_downs < 5):
            raise ValueError(
                f"num_downs={self.num_downs}: only a U-Net takes num_downs, and it must be >= 5"
            )
        _check_choice("norm", self.norm, NORM_NAMES)
        _check_choice("padding_type", self.padding_type, PADDING_TYPES)
        _check_choice("init_type", self.init_type, INIT_TYPES)

    @property
    def min_input_size(self) -> int:
        """The smallest image side the generator takes: a U-Net needs 1×1 at its innermost block,
        so its input must be a multiple of 2**num_downs; ResNets take any multiple of 4."""
        downs = self.unet_downsamplings
        return 4 if downs is None else 2**downs

    @property
    def unet_downsamplings(self) -> int | None:
        """A U-Net's stride-2 downsamplings (``num_downs`` or its name's); None for a ResNet."""
        default = UNET_DOWNSAMPLINGS.get(canonical_generator_name(self.name))
        return None if default is None else (self.num_downs or default)

    @property
    def label(self) -> str:
        """The generator as the docs name it: its reference name, with ``num_downs`` when that
        changes the depth the name fixes (``unet_128 with num_downs=6``)."""
        key = canonical_generator_name(self.name)
        if self.num_downs is None or self.num_downs == UNET_DOWNSAMPLINGS.get(key):
            return key
        return f"{key} with num_downs={self.num_downs}"

    def check_input_size(self, size: int | None, option: str, chosen_as: str | None = None) -> None:
        """One line when images of side ``size`` (the data option ``option``; None: sizes vary)
        cannot pass through the generator. ``chosen_as``: the ``model/generator`` config option
        the user picked (``unet_64``), which the message names when it is not the label."""
        step = self.min_input_size
        if size is None or size % step == 0:
            return
        named = f"model.generator.name={self.label}"
        if chosen_as is not None and chosen_as != self.label:
            named = f"model/generator={chosen_as} ({self.label})"
        hint = " or use a ResNet generator (model/generator=resnet_6blocks)" if step > 4 else ""
        raise ValueError(
            f"{option}={size}: {named} needs image sides that are a multiple of {step}; set "
            f"{option}={max(step, size // step * step)}{hint}"
        )

    @property
    def receptive_field(self) -> int:
        """Side of the input window one output pixel depends on. ResNet: 7×7 conv, two stride-2
        3×3 convs, 2·n_blocks 3×3 convs at stride 4, two transposed convs, 7×7 conv, i.e. a
        radius of 15 + 8·n_blocks px; a U-Net's innermost 1×1 sees its whole input."""
        key = canonical_generator_name(self.name)
        downs = self.unet_downsamplings
        if downs is not None:
            return 2**downs
        n_blocks = 9 if key == "resnet_9blocks" else 6
        return 2 * (15 + 8 * n_blocks) + 1

    def build(self, input_nc: int = 3, output_nc: int = 3) -> nn.Module:
        """Build and initialise the generator, as the reference's ``define_G``."""
        from .init import init_weights  # torch: only when a network is built
        from .resnet import ResnetGenerator
        from .unet import UnetGenerator

        key = canonical_generator_name(self.name)
        net: nn.Module
        if key.startswith("resnet"):
            net = ResnetGenerator(
                input_nc,
                output_nc,
                self.ngf,
                self.norm,
                self.use_dropout,
                n_blocks=9 if key == "resnet_9blocks" else 6,
                padding_type=self.padding_type,
            )
        else:
            downs = self.unet_downsamplings
            assert downs is not None
            net = UnetGenerator(input_nc, output_nc, downs, self.ngf, self.norm, self.use_dropout)
        return init_weights(net, self.init_type, self.init_gain)


@dataclass
class DiscriminatorConfig:
    """A discriminator: the reference's ``--netD --ndf --n_layers_D --norm --init_type ...``.

    ``n_layers`` is read by ``n_layers`` only; ``basic`` is the 70×70 PatchGAN (3 layers).
    """

    name: str = "basic"
    ndf: int = 64
    n_layers: int = 3
    norm: str = "instance"
    init_type: str = "normal"
    init_gain: float = 0.02

    def __post_init__(self) -> None:
        canonical_discriminator_name(self.name)
        _check_choice("norm", self.norm, NORM_NAMES)
        _check_choice("init_type", self.init_type, INIT_TYPES)

    @property
    def min_input_size(self) -> int:
        """The smallest image side the discriminator trains on. A PatchGAN halves the image
        max(1, n_layers) times, then normalises a stride-1 conv's output of side (that - 1): a
        norm layer needs more than one value per channel, so the halved side must reach 3 (64 px
        allows n_layers <= 4). The 1x1 PixelGAN takes any size."""
        if canonical_discriminator_name(self.name) == "pixel":
            return 1
        return 3 * 2 ** max(1, self.patchgan_layers)

    @property
    def patchgan_layers(self) -> int:
        """A PatchGAN's stride-2 layers: 3 for ``basic``, ``n_layers`` for ``n_layers``."""
        return 3 if canonical_discriminator_name(self.name) == "basic" else self.n_layers

    def build(self, input_nc: int = 3) -> nn.Module:
        """Build and initialise the discriminator, as the reference's ``define_D``."""
        from .discriminators import NLayerDiscriminator, PixelDiscriminator
        from .init import init_weights

        key = canonical_discriminator_name(self.name)
        net: nn.Module
        if key == "pixel":
            net = PixelDiscriminator(input_nc, self.ndf, norm=self.norm)
        else:
            net = NLayerDiscriminator(
                input_nc, self.ndf, n_layers=self.patchgan_layers, norm=self.norm
            )
        return init_weights(net, self.init_type, self.init_gain)


Options = TypeVar("Options", GeneratorConfig, DiscriminatorConfig)


def options_from(
    kind: type[Options], given: Mapping[str, Any] | Options | None, key: str
) -> Options:
    """``kind`` from a config mapping; an unknown option is a one-line error naming ``key``."""
    if isinstance(given, kind):
        return given
    values = dict(given or {})
    known = {field.name for field in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"{key}.{unknown[0]}={values[unknown[0]]!r}: not an option of {kind.__name__}; "
            f"known: {', '.join(sorted(known))}"
        )
    try:
        return kind(**values)
    except ValueError as err:
        raise ValueError(f"{key}.{err}") from None

"""Reference-exact CycleGAN networks (plain nn.Modules) and official-checkpoint IO."""

from .builders import (
    DISCRIMINATOR_ALIASES,
    DISCRIMINATOR_NAMES,
    GENERATOR_ALIASES,
    GENERATOR_NAMES,
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
    canonical_discriminator_name,
    canonical_generator_name,
)
from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .init import INIT_TYPES, init_weights
from .norms import NORM_NAMES, get_norm_layer, norm_uses_bias, to_sync_batchnorm
from .reference_io import (
    export_reference_generator,
    export_reference_weights,
    load_reference_weights,
    reference_state_dict,
    unwrap_module,
)
from .resnet import PADDING_TYPES, ResnetBlock, ResnetGenerator
from .unet import UnetGenerator, UnetSkipConnectionBlock

__all__ = [
    "DISCRIMINATOR_ALIASES",
    "DISCRIMINATOR_NAMES",
    "GENERATOR_ALIASES",
    "GENERATOR_NAMES",
    "INIT_TYPES",
    "NORM_NAMES",
    "PADDING_TYPES",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "NLayerDiscriminator",
    "PixelDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "build_discriminator",
    "build_generator",
    "canonical_discriminator_name",
    "canonical_generator_name",
    "export_reference_generator",
    "export_reference_weights",
    "get_norm_layer",
    "init_weights",
    "load_reference_weights",
    "norm_uses_bias",
    "reference_state_dict",
    "to_sync_batchnorm",
    "unwrap_module",
]

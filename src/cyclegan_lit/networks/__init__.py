"""Reference-exact CycleGAN networks (plain nn.Modules) and official-checkpoint IO.

Names are imported lazily, so that the torch-free ``options`` (the config schemas) load without
torch: the configs compose, and every command's ``--help`` answers, in a fraction of a second.
"""

from __future__ import annotations

from cyclegan_lit.lazy_exports import lazy_getattr

_EXPORTS = {
    "DISCRIMINATOR_ALIASES": "options",
    "DISCRIMINATOR_NAMES": "options",
    "GENERATOR_ALIASES": "options",
    "GENERATOR_NAMES": "options",
    "INIT_TYPES": "options",
    "NORM_NAMES": "options",
    "PADDING_TYPES": "options",
    "DiscriminatorConfig": "options",
    "GeneratorConfig": "options",
    "canonical_discriminator_name": "options",
    "canonical_generator_name": "options",
    "build_discriminator": "builders",
    "build_generator": "builders",
    "NLayerDiscriminator": "discriminators",
    "PixelDiscriminator": "discriminators",
    "init_weights": "init",
    "get_norm_layer": "norms",
    "norm_uses_bias": "norms",
    "to_sync_batchnorm": "norms",
    "export_reference_generator": "reference_io",
    "export_reference_weights": "reference_io",
    "load_reference_weights": "reference_io",
    "reference_state_dict": "reference_io",
    "unwrap_module": "reference_io",
    "ResnetBlock": "resnet",
    "ResnetGenerator": "resnet",
    "UnetGenerator": "unet",
    "UnetSkipConnectionBlock": "unet",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)

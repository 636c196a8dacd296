"""Generators and discriminators by their reference names (``--netG`` / ``--netD``).

Their options (``GeneratorConfig``, ``DiscriminatorConfig``) live in ``options``, torch-free.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .options import (
    DISCRIMINATOR_ALIASES,
    DISCRIMINATOR_NAMES,
    GENERATOR_ALIASES,
    GENERATOR_NAMES,
    UNET_DOWNSAMPLINGS,
    DiscriminatorConfig,
    GeneratorConfig,
    canonical_discriminator_name,
    canonical_generator_name,
    options_from,
)

__all__ = [
    "DISCRIMINATOR_ALIASES",
    "DISCRIMINATOR_NAMES",
    "GENERATOR_ALIASES",
    "GENERATOR_NAMES",
    "UNET_DOWNSAMPLINGS",
    "DiscriminatorConfig",
    "GeneratorConfig",
    "build_discriminator",
    "build_generator",
    "canonical_discriminator_name",
    "canonical_generator_name",
    "options_from",
]


def build_generator(
    name: str = "resnet_9blocks", input_nc: int = 3, output_nc: int = 3, **options: Any
) -> nn.Module:
    """Build a generator by name; ``options`` are ``GeneratorConfig`` fields (``ngf=8`` ...)."""
    config = options_from(GeneratorConfig, {"name": name, **options}, "generator")
    return config.build(input_nc, output_nc)


def build_discriminator(name: str = "basic", input_nc: int = 3, **options: Any) -> nn.Module:
    """Build a discriminator by name; ``options`` are ``DiscriminatorConfig`` fields."""
    config = options_from(DiscriminatorConfig, {"name": name, **options}, "discriminator")
    return config.build(input_nc)

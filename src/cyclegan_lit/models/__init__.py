"""LightningModules."""

from cyclegan_lit.models.cyclegan import CycleGAN

__all__ = ["CycleGAN"]

"""Using a trained generator: load it from any checkpoint, translate whole images, export it."""

from cyclegan_lit.inference.checkpoints import LoadedGenerator, load_generator
from cyclegan_lit.inference.translate import Translator, translate

__all__ = ["LoadedGenerator", "Translator", "load_generator", "translate"]

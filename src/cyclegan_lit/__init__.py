"""cyclegan-lit: the official CycleGAN on PyTorch Lightning and Hydra."""

__version__ = "0.1.0"

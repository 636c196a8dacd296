"""One generator out of any checkpoint a user has: ours (``.ckpt``) or the reference's (``.pth``).

A Lightning checkpoint carries its architecture in its hyper-parameters, so ``direction`` picks
G_A (A→B) or G_B (B→A). A reference file is one bare generator (``latest_net_G.pth`` of the
pretrained models, or ``<tag>_net_G_A.pth``): its architecture comes from ``generator`` (the
reference's defaults: resnet_9blocks, instance norm, no dropout) and its channels from the file.
Every failure is one line naming the file and what to do.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cyclegan_lit.messages import first_line
from cyclegan_lit.networks import GeneratorConfig, load_reference_weights
from cyclegan_lit.networks.builders import options_from
from cyclegan_lit.networks.key_diagnosis import read_layout
from cyclegan_lit.removed_options import check_removed_options

DIRECTIONS = ("AtoB", "BtoA")


@dataclass
class LoadedGenerator:
    """A generator in eval mode, with what callers need to feed it."""

    net: nn.Module
    input_nc: int
    output_nc: int
    min_input_size: int  # image sides must be multiples of this
    receptive_field: int  # side of the input window one output pixel depends on
    source: str  # what was loaded, for messages and reports

    @classmethod
    def of(
        cls, net: nn.Module, options: GeneratorConfig, channels: tuple[int, int], source: str
    ) -> LoadedGenerator:
        """``net`` built from ``options`` with (input, output) ``channels``, in eval mode."""
        return cls(net.eval(), *channels, options.min_input_size, options.receptive_field, source)


def from_model(model: nn.Module, direction: str = "AtoB") -> LoadedGenerator:
    """The generator of a ``CycleGAN`` LightningModule that translates in ``direction``."""
    check_direction(direction)
    hparams = model.hparams
    options = options_from(GeneratorConfig, hparams["generator"], "generator")
    channels = (hparams["input_nc"], hparams["output_nc"])
    if direction == "AtoB":
        return LoadedGenerator.of(model.G_A, options, channels, "model (G_A)")
    return LoadedGenerator.of(model.G_B, options, channels[::-1], "model (G_B)")


def check_direction(direction: str, key: str = "direction") -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"{key}={direction!r}: must be AtoB or BtoA")


def _read(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={path}: no such file; give a .ckpt, a .pth or `last`")
    if path.stat().st_size == 0:
        raise ValueError(f"ckpt_path={path}: the file is empty (an interrupted save?)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as err:
        first = first_line(err, 200)
        raise ValueError(
            f"ckpt_path={path}: not a checkpoint torch can read ({first}); is it truncated?"
        ) from None


def load_generator(
    ckpt_path: str | Path,
    direction: str = "AtoB",
    generator: Mapping[str, Any] | GeneratorConfig | None = None,
) -> LoadedGenerator:
    """The generator translating in ``direction`` from ``ckpt_path``, on the CPU, in eval mode."""
    check_direction(direction)
    path = Path(ckpt_path).expanduser()
    raw = _read(path)
    if not isinstance(raw, Mapping):
        raise ValueError(f"ckpt_path={path}: holds a {type(raw).__name__}, not a checkpoint")
    if "state_dict" in raw and "hyper_parameters" in raw:
        return _from_lightning(path, raw, direction)
    return _from_reference(path, raw, generator)


def _from_lightning(path: Path, checkpoint: Mapping[str, Any], direction: str) -> LoadedGenerator:
    hparams = checkpoint["hyper_parameters"]
    if not isinstance(hparams.get("generator"), Mapping):
        raise ValueError(f"ckpt_path={path}: a Lightning checkpoint, but not of a CycleGAN")
    hparams = check_removed_options(hparams, f"ckpt_path={path}")
    options = options_from(GeneratorConfig, hparams["generator"], f"ckpt_path={path}: generator")
    input_nc, output_nc = int(hparams.get("input_nc", 3)), int(hparams.get("output_nc", 3))
    name = "G_A" if direction == "AtoB" else "G_B"
    if direction == "BtoA":
        input_nc, output_nc = output_nc, input_nc
    prefix = f"{name}."
    state = {
        k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
    }
    net = _load_into(options.build(input_nc, output_nc), state, path, name)
    return LoadedGenerator.of(net, options, (input_nc, output_nc), f"{path} ({name})")


def _from_reference(
    path: Path, state: Mapping[str, Any], generator: Mapping[str, Any] | GeneratorConfig | None
) -> LoadedGenerator:
    options = options_from(GeneratorConfig, generator, "generator")
    weights = [v for k, v in state.items() if k.endswith(".weight") and getattr(v, "ndim", 0) == 4]
    if not weights:
        raise ValueError(f"ckpt_path={path}: holds no convolution weights; not a generator file")
    # The first conv's weight is [ngf, input_nc, k, k]; the last layer is a conv [output_nc, ...]
    # in a ResNet, a transposed conv [2 ngf, output_nc, ...] in a U-Net.
    input_nc = int(weights[0].shape[1])
    layout = read_layout(state)
    unet = layout is not None and layout.num_downs is not None
    output_nc = int(weights[-1].shape[1] if unet else weights[-1].shape[0])
    net = _load_into(options.build(input_nc, output_nc), state, path, "the generator")
    return LoadedGenerator.of(net, options, (input_nc, output_nc), str(path))


def _load_into(net: nn.Module, state: Mapping[str, Any], path: Path, what: str) -> nn.Module:
    """Strict load with the reference's repairs; a mismatch names the file and the likely cause."""
    try:
        load_reference_weights(net, dict(state))
    except ValueError as err:
        detail = str(err).removeprefix("given state_dict: ")
        raise ValueError(
            f"ckpt_path={path}: {what} {detail}; for a .pth set generator.name / generator.ngf"
        ) from None
    return net

"""Read and write the official checkpoints' bare state_dict files (models/base_model.py).

The reference saves each network as ``<tag>_net_<name>.pth`` holding only ``state_dict()``; the
pretrained downloads are one generator in ``latest_net_G.pth``. Loading here repairs what the
reference repairs (old InstanceNorm buffers, ``_metadata``) plus the ``module.`` / ``_orig_mod.``
prefixes it chokes on, then loads strictly. When keys still disagree, the one-line error names the
likely cause, worked out by key_diagnosis.py.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from cyclegan_lit.atomic_files import atomic_torch_save
from cyclegan_lit.messages import first_line

from .key_diagnosis import mismatch_message
from .key_layout import StateDict

_WRAPPER_SEGMENTS = frozenset({"module", "_orig_mod"})
_IN_BUFFERS_IF_UNTRACKED = ("running_mean", "running_var")


def unwrap_module(net: nn.Module) -> nn.Module:
    """Peel DataParallel/DDP (``.module``) and torch.compile (``._orig_mod``) wrappers."""
    while True:
        if isinstance(net, nn.DataParallel | nn.parallel.DistributedDataParallel):
            net = net.module
        elif isinstance(getattr(net, "_orig_mod", None), nn.Module):
            net = net._orig_mod
        else:
            return net


def _strip_segments(key: str, segments: Iterable[str]) -> str:
    drop = set(segments)
    return ".".join(part for part in key.split(".") if part not in drop)


def reference_state_dict(net: nn.Module) -> dict[str, Tensor]:
    """The net's state_dict as the reference saves it: unwrapped keys, CPU tensors.

    Tensors that already live on the CPU share storage with the net.
    """
    target = unwrap_module(net)
    return {
        _strip_segments(key, ["_orig_mod"]): value.detach().cpu()
        for key, value in target.state_dict().items()
    }


def _check_file_part(value: str, what: str) -> None:
    if not value or "/" in value or os.sep in value:
        raise ValueError(f"export_reference_weights: {what} {value!r} must be a non-empty name")


def export_reference_weights(
    nets: Mapping[str, nn.Module], directory: str | os.PathLike[str], tag: str = "latest"
) -> list[Path]:
    """Write ``<directory>/<tag>_net_<name>.pth`` per net (``G_A``, ``G_B``, ``D_A``, ``D_B``).

    The files are what the reference's ``--continue_train`` / ``test.py`` load with
    ``torch.load(weights_only=True)`` and a strict ``load_state_dict``.
    """
    _check_file_part(tag, "tag")
    out = Path(directory)
    paths = []
    for name, net in nets.items():
        _check_file_part(name, "net name")
        paths.append(atomic_torch_save(reference_state_dict(net), out / f"{tag}_net_{name}.pth"))
    return paths


def export_reference_generator(net: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write one generator in the pretrained layout (``latest_net_G.pth`` when ``path`` is a dir).

    Use it with the reference as ``test.py --model test --no_dropout --name <folder>``.
    """
    target = Path(path)
    if target.is_dir():
        target = target / "latest_net_G.pth"
    return atomic_torch_save(reference_state_dict(net), target)


# --------------------------------------------------------------------------- loading


def _read_state_dict(source: str | os.PathLike[str] | StateDict) -> tuple[str, dict[str, Tensor]]:
    if isinstance(source, Mapping):
        label, raw = "given state_dict", source
    else:
        label = str(source)
        if not Path(source).is_file():
            raise FileNotFoundError(f"{label}: no such checkpoint file")
        try:
            raw = torch.load(source, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            first = first_line(err)
            raise ValueError(
                f"{label}: not a bare state_dict that torch.load(weights_only=True) can read "
                f"({first})"
            ) from err
        if not isinstance(raw, Mapping):
            raise ValueError(f"{label}: holds a {type(raw).__name__}, expected a bare state_dict")
    if "state_dict" in raw and isinstance(raw["state_dict"], Mapping):
        raise ValueError(
            f"{label}: this is a Lightning checkpoint, not a bare network state_dict; "
            "load it with CycleGAN.load_from_checkpoint or export it with export_reference_weights"
        )
    state = {}
    for key, value in raw.items():
        if key == "_metadata":
            continue
        if not isinstance(value, Tensor):
            raise ValueError(f"{label}: entry {key!r} is a {type(value).__name__}, not a tensor")
        state[str(key)] = value
    return label, state


def _unwrap_keys(state: dict[str, Tensor], expected: Iterable[str]) -> dict[str, Tensor]:
    """Drop ``module.`` / ``_orig_mod.`` segments wherever they wrap keys the net does not have."""
    known = set(expected)
    return {
        key if key in known else _strip_segments(key, _WRAPPER_SEGMENTS): value
        for key, value in state.items()
    }


def _patch_instance_norm_keys(state: dict[str, Tensor], net: nn.Module) -> None:
    """Remove old InstanceNorm buffers like the reference's ``__patch_instance_norm_state_dict``.

    ``running_mean``/``running_var`` go when the IN layer keeps no running stats;
    ``num_batches_tracked`` always goes (torch re-creates it for layers that track stats). Only keys
    of InstanceNorm modules are touched.
    """
    for key in list(state):
        *path, leaf = key.split(".")
        module: nn.Module | None = net
        for part in path:
            module = module._modules.get(part) if module is not None else None
        if module is None or not type(module).__name__.startswith("InstanceNorm"):
            continue
        untracked_stat = leaf in _IN_BUFFERS_IF_UNTRACKED and getattr(module, leaf, None) is None
        if untracked_stat or leaf == "num_batches_tracked":
            del state[key]


def load_reference_weights(
    net: nn.Module, path_or_state_dict: str | os.PathLike[str] | StateDict
) -> nn.Module:
    """Load an official (or our exported) bare state_dict into ``net`` strictly; return ``net``.

    Accepts files from any reference version: mid-2018 InstanceNorm buffers, ``_metadata``, and
    ``module.`` (DataParallel/DDP) or ``_orig_mod.`` (torch.compile) prefixes are repaired. Any
    other disagreement raises one ValueError naming the file and the likely cause.
    """
    label, state = _read_state_dict(path_or_state_dict)
    target = unwrap_module(net)
    expected = target.state_dict()
    unpatched = _unwrap_keys(state, expected)
    state = dict(unpatched)
    _patch_instance_norm_keys(state, target)
    problem = mismatch_message(state, dict(expected), unpatched)
    if problem:
        raise ValueError(f"{label}: does not fit {type(target).__name__}: {problem}")
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"{label}: does not fit {type(target).__name__}: {detail}") from err
    return net

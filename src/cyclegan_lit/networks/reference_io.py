"""Read and write the official checkpoints' bare state_dict files (REFERENCE.md §1.12–1.13).

The reference saves each network as ``<tag>_net_<name>.pth`` holding only ``state_dict()``; the
pretrained downloads are one generator in ``latest_net_G.pth``. Loading here repairs what the
reference repairs (old InstanceNorm buffers, ``_metadata``) plus the ``module.`` / ``_orig_mod.``
prefixes it chokes on, then loads strictly. When keys still disagree, the error names the likely
cause (dropout, norm, block count, width, architecture) instead of listing 48 keys.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

StateDict = Mapping[str, Tensor]
_WRAPPER_SEGMENTS = frozenset({"module", "_orig_mod"})
_IN_BUFFERS_IF_UNTRACKED = ("running_mean", "running_var")
_EXAMPLES = 3


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


def _atomic_save(state_dict: dict[str, Tensor], path: Path) -> Path:
    """torch.save to a temp file in the same folder, then os.replace: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state_dict, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
        paths.append(_atomic_save(reference_state_dict(net), out / f"{tag}_net_{name}.pth"))
    return paths


def export_reference_generator(net: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write one generator in the pretrained layout (``latest_net_G.pth`` when ``path`` is a dir).

    Use it with the reference as ``test.py --model test --no_dropout --name <folder>``.
    """
    target = Path(path)
    if target.is_dir():
        target = target / "latest_net_G.pth"
    return _atomic_save(reference_state_dict(net), target)


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
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
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


# --------------------------------------------------------------------------- diagnosis


def _family(keys: Iterable[str]) -> str | None:
    keys = list(keys)
    if any(".conv_block." in k for k in keys):
        return "ResNet generator"
    if any(k.startswith("model.model.") for k in keys):
        return "U-Net generator"
    if any(k.startswith("net.") for k in keys):
        return "PixelGAN discriminator"
    if any(re.match(r"model\.\d+\.weight$", k) for k in keys):
        return "PatchGAN discriminator"
    return None


def _conv_prefixes(state: StateDict) -> list[str]:
    return [k[: -len(".weight")] for k, v in state.items() if k.endswith(".weight") and v.ndim == 4]


def _norm_kind(state: StateDict) -> str:
    if any(
        k.endswith(".running_var") and f"{k[: -len('.running_var')]}.weight" in state for k in state
    ):
        return "batch"
    convs = _conv_prefixes(state)
    if convs and all(f"{p}.bias" in state for p in convs):
        return "instance"
    return "none"


_NORM_EVIDENCE = {
    "batch": "batch (BatchNorm weight/running_mean keys)",
    "instance": "instance (every conv has a bias, no norm keys)",
    "none": "none (no norm keys, hidden convs have no bias)",
}
_NORM_ADVICE = {
    "batch": "norm='batch' or 'syncbatch'",
    "instance": "norm='instance'",
    "none": "norm='none'",
}


def _resnet_blocks(state: StateDict) -> list[int]:
    return sorted({int(k.split(".")[1]) for k in state if re.match(r"model\.\d+\.conv_block\.", k)})


def _block_conv_indices(state: StateDict) -> tuple[int, ...]:
    found = {
        int(m.group(1))
        for k, v in state.items()
        if (m := re.match(r"model\.\d+\.conv_block\.(\d+)\.weight$", k)) and v.ndim == 4
    }
    return tuple(sorted(found))


def _unet_depth(state: StateDict) -> int:
    return max((k.split(".").count("model") - 1 for k in state), default=0)


def _causes(file: dict[str, Tensor], net: dict[str, Tensor]) -> list[str]:
    """Name the likely reasons a file does not fit a net, from key sets and shapes."""
    heads = Counter(k.split(".", 1)[0] for k in file if "." in k and k.split(".", 1)[1] in net)
    if heads and heads.most_common(1)[0][1] == len(file):
        head = heads.most_common(1)[0][0]
        return [
            f"every key carries a {head + '.'!r} prefix: pass the sub-state_dict of one network"
        ]
    fam_file, fam_net = _family(file), _family(net)
    if fam_file is None:
        return []
    if fam_net and fam_file != fam_net:
        return [f"the file holds a {fam_file} but the network is a {fam_net} (wrong net name)"]
    causes: list[str] = []
    if fam_net == "ResNet generator":
        nb_file, nb_net = len(_resnet_blocks(file)), len(_resnet_blocks(net))
        if nb_file != nb_net:
            fix = f"resnet_{nb_file}blocks" if nb_file in (6, 9) else f"n_blocks={nb_file}"
            causes.append(
                f"block count: the file has {nb_file} residual blocks (model.N.conv_block) but the "
                f"network has {nb_net}: build {fix}"
            )
        ci_file, ci_net = _block_conv_indices(file), _block_conv_indices(net)
        if len(ci_file) == 2 == len(ci_net) and ci_file != ci_net:
            gap_file, gap_net = ci_file[1] - ci_file[0], ci_net[1] - ci_net[0]
            f2, n2 = f"conv_block.{ci_file[1]}", f"conv_block.{ci_net[1]}"
            if ci_file[0] != ci_net[0]:
                causes.append(
                    f"padding_type: block convs sit at conv_block{ci_file} in the file but "
                    f"conv_block{ci_net} in the network ('zero' padding has no pad layers)"
                )
            elif gap_file > gap_net:
                causes.append(
                    f"dropout: the file was saved with dropout (second block conv {f2}) but the "
                    f"network has none ({n2}): build with use_dropout=True"
                )
            elif gap_file < gap_net:
                causes.append(
                    f"dropout: the network has dropout (second block conv {n2}) but the file was "
                    f"saved without ({f2}): build with use_dropout=False (reference --no_dropout)"
                )
    elif fam_net == "U-Net generator":
        d_file, d_net = _unet_depth(file), _unet_depth(net)
        if d_file != d_net:
            causes.append(
                f"depth: the file's U-Net has {d_file} downsamplings but the network {d_net} "
                "(unet_256 has 8, unet_128 has 7)"
            )
    elif fam_net == "PatchGAN discriminator":
        nl_file, nl_net = len(_conv_prefixes(file)) - 2, len(_conv_prefixes(net)) - 2
        if nl_file != nl_net:
            causes.append(
                f"n_layers: the file's PatchGAN has n_layers={nl_file} but the network {nl_net}"
            )
    norm_file, norm_net = _norm_kind(file), _norm_kind(net)
    if norm_file != norm_net:
        causes.append(
            f"norm: the file was saved with {_NORM_EVIDENCE[norm_file]} but the network uses "
            f"{norm_net}: build with {_NORM_ADVICE.get(norm_file, repr('none'))}"
        )
    convs = _conv_prefixes(net)
    width = "ndf" if fam_net and "discriminator" in fam_net else "ngf"
    first = f"{convs[0]}.weight" if convs else None
    if first and first in file and file[first].ndim == 4:
        shape_f, shape_n = tuple(file[first].shape), tuple(net[first].shape)
        if shape_f[0] != shape_n[0]:
            causes.append(
                f"{width}: the file's first conv {first} has {shape_f[0]} output channels but the "
                f"network's {shape_n[0]}: build with {width}={shape_f[0]}"
            )
        if shape_f[1] != shape_n[1]:
            causes.append(
                f"input_nc: the file's first conv takes {shape_f[1]} channels but the network's "
                f"{shape_n[1]}: build with input_nc={shape_f[1]}"
            )
    return causes


def _summary(missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            more = f", +{len(items) - _EXAMPLES} more" if len(items) > _EXAMPLES else ""
            parts.append(f"{len(items)} {label} ({', '.join(items[:_EXAMPLES])}{more})")
    return "; ".join(parts)


def _mismatch_message(
    file: dict[str, Tensor], net: dict[str, Tensor], unpatched: dict[str, Tensor]
) -> str | None:
    """None when ``file`` fits ``net``; else causes (read from the unpatched file) and a summary."""
    missing = [k for k in net if k not in file and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in file if k not in net]
    shapes = [
        f"{k} file {list(file[k].shape)} vs network {list(net[k].shape)}"
        for k in file
        if k in net and file[k].shape != net[k].shape
    ]
    if not (missing or unexpected or shapes):
        return None
    summary = _summary(missing, unexpected, shapes)
    causes = _causes(unpatched, net)
    return f"likely {'; '.join(causes)} [{summary}]" if causes else summary


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
    problem = _mismatch_message(state, dict(expected), unpatched)
    if problem:
        raise ValueError(f"{label}: does not fit {type(target).__name__}: {problem}")
    try:
        target.load_state_dict(state, strict=True)
    except RuntimeError as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"{label}: does not fit {type(target).__name__}: {detail}") from err
    return net

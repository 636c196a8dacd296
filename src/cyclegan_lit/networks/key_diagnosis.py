"""Why a checkpoint does not fit a network, in one line instead of a list of 48 keys.

The usual user errors with official checkpoints (the reference's issues #461, #812, #1214:
dropout, norm, block count, width, wrong net) leave distinct traces in the keys and shapes; each
architecture reads its own keys back (``read_layout``), and this module compares what the file and
the network reveal.
"""

from __future__ import annotations

from collections import Counter

from torch import Tensor

from .discriminators import NLayerDiscriminator, PixelDiscriminator
from .key_layout import KeyLayout, StateDict
from .resnet import ResnetGenerator
from .unet import UnetGenerator

# asked in this order; the first that recognises the keys names them
_ARCHITECTURES = (ResnetGenerator, UnetGenerator, PixelDiscriminator, NLayerDiscriminator)
_EXAMPLES = 3


def read_layout(state: StateDict) -> KeyLayout | None:
    """The layout of the first architecture that recognises ``state``'s keys, else None."""
    for arch in _ARCHITECTURES:
        layout = arch.read_layout(state)
        if layout is not None:
            return layout
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


def _resnet_causes(file: KeyLayout, net: KeyLayout) -> list[str]:
    causes = []
    nb_file, nb_net = file.n_blocks, net.n_blocks
    if nb_file != nb_net:
        fix = f"resnet_{nb_file}blocks" if nb_file in (6, 9) else f"n_blocks={nb_file}"
        causes.append(
            f"block count: the file has {nb_file} residual blocks (model.N.conv_block) but the "
            f"network has {nb_net}: build {fix}"
        )
    ci_file, ci_net = file.block_convs, net.block_convs
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
    return causes


def _layout_causes(file: KeyLayout, net: KeyLayout) -> list[str]:
    """Causes within one family: what its constructor arguments change in the keys."""
    if net.n_blocks is not None:
        return _resnet_causes(file, net)
    if net.num_downs is not None and file.num_downs != net.num_downs:
        return [
            f"depth: the file's U-Net has {file.num_downs} downsamplings but the network "
            f"{net.num_downs} (unet_256 has 8, unet_128 has 7)"
        ]
    if net.n_layers is not None and file.n_layers != net.n_layers:
        return [
            f"n_layers: the file's PatchGAN has n_layers={file.n_layers} but the network "
            f"{net.n_layers}"
        ]
    return []


def _causes(file: dict[str, Tensor], net: dict[str, Tensor]) -> list[str]:
    """Name the likely reasons a file does not fit a net, from key sets and shapes."""
    heads = Counter(k.split(".", 1)[0] for k in file if "." in k and k.split(".", 1)[1] in net)
    if heads and heads.most_common(1)[0][1] == len(file):
        head = heads.most_common(1)[0][0]
        return [
            f"every key carries a {head + '.'!r} prefix: pass the sub-state_dict of one network"
        ]
    layout_file, layout_net = read_layout(file), read_layout(net)
    if layout_file is None:
        return []
    if layout_net and layout_file.family != layout_net.family:
        return [
            f"the file holds a {layout_file.family} but the network is a {layout_net.family} "
            "(wrong net name)"
        ]
    causes = _layout_causes(layout_file, layout_net) if layout_net else []
    norm_file, norm_net = _norm_kind(file), _norm_kind(net)
    if norm_file != norm_net:
        causes.append(
            f"norm: the file was saved with {_NORM_EVIDENCE[norm_file]} but the network uses "
            f"{norm_net}: build with {_NORM_ADVICE.get(norm_file, repr('none'))}"
        )
    convs = _conv_prefixes(net)
    width = layout_net.width if layout_net else "ngf"
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


def mismatch_message(
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

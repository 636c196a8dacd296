"""Official checkpoint files load into our nets, and the files we write load into the reference.

The reference stores each network as a bare ``state_dict`` (``<tag>_net_<name>.pth``) and loads it
with ``torch.load(weights_only=True)`` plus a strict ``load_state_dict`` (models/base_model.py).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from cyclegan_lit.networks import (
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    build_discriminator,
    build_generator,
    export_reference_generator,
    export_reference_weights,
    load_reference_weights,
    reference_state_dict,
)

torch.set_num_threads(1)


def g9(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return build_generator("resnet_9blocks", ngf=8, **kwargs)


def same_outputs(a: nn.Module, b: nn.Module, size: int = 32) -> bool:
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def mid_2018_state_dict(net: nn.Module) -> OrderedDict:
    """What the reference saved before Oct 2018: every InstanceNorm tracked running stats."""
    old = copy.deepcopy(net)
    for module in list(old.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                setattr(
                    module, name, nn.InstanceNorm2d(child.num_features, track_running_stats=True)
                )
    with torch.no_grad():
        old.train()(torch.randn(1, 3, 32, 32))  # give the running stats real values
    return old.state_dict()


def test_mid_2018_checkpoint_loads_and_matches(tmp_path: Path) -> None:
    source = g9(1)
    old = mid_2018_state_dict(source)
    assert len(old) == 117  # 48 + 69 stale IN buffers, as the reference's own example
    path = tmp_path / "latest_net_G.pth"
    torch.save(old, path)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        g9(2).load_state_dict(torch.load(path, weights_only=True))
    target = load_reference_weights(g9(2), path)
    assert same_outputs(target, source)


@pytest.mark.parametrize("wrap", ["module", "_orig_mod", "both"])
def test_wrapper_prefixes_are_stripped(tmp_path: Path, wrap: str) -> None:
    source = g9(1)
    wrapped: nn.Module = source
    if wrap in ("module", "both"):
        wrapped = nn.DataParallel(wrapped)  # keys: module.model...
    if wrap in ("_orig_mod", "both"):
        wrapped = torch.compile(wrapped)  # keys: _orig_mod.[module.]model...
    state = mid_2018_state_dict(source) if wrap == "both" else wrapped.state_dict()
    if wrap == "both":
        state = OrderedDict((f"_orig_mod.module.{k}", v) for k, v in state.items())
    assert all(k.split(".")[0] in ("module", "_orig_mod") for k in state)
    path = tmp_path / "net.pth"
    torch.save(state, path)
    assert same_outputs(load_reference_weights(g9(2), path), source)


def test_loads_a_state_dict_mapping_and_into_a_wrapped_net() -> None:
    source = g9(1)
    target = torch.compile(g9(2))
    assert load_reference_weights(target, source.state_dict()) is target
    assert same_outputs(target._orig_mod, source)


def test_old_batchnorm_checkpoint_without_num_batches_tracked_loads() -> None:
    source = build_discriminator("basic", ndf=8, norm="batch")
    state = {k: v for k, v in source.state_dict().items() if "num_batches_tracked" not in k}
    target = load_reference_weights(build_discriminator("basic", ndf=8, norm="batch"), state)
    assert same_outputs(target, source)


def load_error(tmp_path: Path, saved: nn.Module, target: nn.Module) -> str:
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(saved.state_dict(), path)
    with pytest.raises(ValueError) as err:
        load_reference_weights(target, path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_dropout_mismatch_names_the_cause(tmp_path: Path) -> None:
    # the classic #461: CycleGAN weights (no dropout) into a net built with dropout
    msg = load_error(tmp_path, g9(), g9(use_dropout=True))
    assert "dropout" in msg and "conv_block.5" in msg and "use_dropout=False" in msg
    msg = load_error(tmp_path, g9(use_dropout=True), g9())
    assert "conv_block.6" in msg and "use_dropout=True" in msg


def test_norm_mismatch_names_the_cause(tmp_path: Path) -> None:
    msg = load_error(tmp_path, g9(norm="batch"), g9())
    assert "norm" in msg and "running_mean" in msg and "norm='batch'" in msg
    msg = load_error(tmp_path, g9(), g9(norm="batch"))
    assert "norm='instance'" in msg
    msg = load_error(tmp_path, g9(norm="none"), g9())
    assert "norm='none'" in msg


def test_width_mismatch_names_ngf(tmp_path: Path) -> None:
    msg = load_error(tmp_path, build_generator("resnet9", ngf=16), g9())
    assert "ngf=16" in msg and "model.1.weight" in msg
    msg = load_error(
        tmp_path, build_discriminator("basic", ndf=16), build_discriminator("basic", ndf=8)
    )
    assert "ndf=16" in msg


def test_block_count_mismatch_names_the_generator(tmp_path: Path) -> None:
    msg = load_error(tmp_path, build_generator("resnet6", ngf=8), g9())
    assert "6 residual blocks" in msg and "resnet_6blocks" in msg


def test_architecture_mismatch_names_both_families(tmp_path: Path) -> None:
    msg = load_error(tmp_path, build_generator("unet128", ngf=8), g9())
    assert "U-Net" in msg and "ResNet" in msg
    msg = load_error(tmp_path, build_generator("unet128", ngf=8), build_generator("unet256", ngf=8))
    assert "7 downsamplings" in msg
    msg = load_error(
        tmp_path,
        build_discriminator("n_layers", ndf=8, n_layers=4),
        build_discriminator("basic", ndf=8),
    )
    assert "n_layers=4" in msg


def test_unreadable_inputs_fail_with_the_file_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pth"):
        load_reference_weights(g9(), tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pth"):
        load_reference_weights(g9(), junk)
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"G_A.model.1.weight": torch.zeros(1)}, "epoch": 3}, ckpt)
    with pytest.raises(ValueError, match="Lightning checkpoint"):
        load_reference_weights(g9(), ckpt)


# ----------------------------------------------------------------------------- key layouts

ARCHITECTURES = (ResnetGenerator, UnetGenerator, NLayerDiscriminator, PixelDiscriminator)


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        (ResnetGenerator(3, 3, ngf=8, n_blocks=6), {"n_blocks": 6, "block_convs": (1, 5)}),
        (ResnetGenerator(3, 3, ngf=8, use_dropout=True), {"n_blocks": 9, "block_convs": (1, 6)}),
        (ResnetGenerator(3, 3, ngf=8, padding_type="zero"), {"block_convs": (0, 3)}),
        (ResnetGenerator(3, 3, ngf=8, norm="batch"), {"block_convs": (1, 5)}),
        (UnetGenerator(3, 3, 7, ngf=8), {"num_downs": 7}),
        (UnetGenerator(3, 3, 8, ngf=8, norm="batch"), {"num_downs": 8}),
        (NLayerDiscriminator(3, ndf=8, n_layers=4), {"n_layers": 4, "width": "ndf"}),
        (NLayerDiscriminator(3, ndf=8, n_layers=2, norm="batch"), {"n_layers": 2}),
        (PixelDiscriminator(3, ndf=8), {"family": "PixelGAN discriminator", "width": "ndf"}),
    ],
    ids=["resnet6", "dropout", "zero_pad", "r_batch", "u128", "u256", "n4", "n2_batch", "pixel"],
)
def test_each_architecture_reads_back_only_its_own_keys(net: nn.Module, expected: dict) -> None:
    state = net.state_dict()
    for arch in ARCHITECTURES:
        layout = arch.read_layout(state)
        if arch is type(net):
            assert layout is not None
            assert {k: getattr(layout, k) for k in expected} == expected
        else:
            assert layout is None, f"{arch.__name__} claims {type(net).__name__} keys"


# ----------------------------------------------------------------------------- export


def test_export_round_trip_and_plain_reference_load(tmp_path: Path) -> None:
    nets = {"G_A": g9(1), "G_B": g9(2)}
    torch.manual_seed(3)
    nets["D_A"] = build_discriminator("basic", ndf=8)
    nets["D_B"] = build_discriminator("basic", ndf=8)
    paths = export_reference_weights(nets, tmp_path / "ckpt", tag="latest")
    assert [p.name for p in paths] == [f"latest_net_{n}.pth" for n in ("G_A", "G_B", "D_A", "D_B")]
    assert not list((tmp_path / "ckpt").glob(".*"))  # no temp files left behind

    for name, path in zip(nets, paths, strict=True):
        is_g = name.startswith("G")
        size = 32 if is_g else 64

        def fresh(is_g: bool = is_g) -> nn.Module:
            return g9(9) if is_g else build_discriminator("basic", ndf=8)

        # exactly what the reference does: weights_only load, then a strict load_state_dict
        plain = fresh()
        plain.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        assert same_outputs(plain, nets[name], size)
        assert same_outputs(load_reference_weights(fresh(), path), nets[name], size)


def test_export_unwraps_ddp_style_and_compiled_nets(tmp_path: Path) -> None:
    source = g9(1)
    wrapped = torch.compile(nn.DataParallel(source))
    state = reference_state_dict(wrapped)
    assert state.keys() == source.state_dict().keys()
    assert all(v.device.type == "cpu" for v in state.values())
    (path,) = export_reference_weights({"G_A": wrapped}, tmp_path, tag="5")
    assert path.name == "5_net_G_A.pth"
    assert torch.load(path, weights_only=True).keys() == source.state_dict().keys()


def test_export_overwrites_atomically_and_cleans_up_on_failure(tmp_path: Path) -> None:
    export_reference_weights({"G_A": g9(1)}, tmp_path)
    (path,) = export_reference_weights({"G_A": g9(2)}, tmp_path)
    assert same_outputs(load_reference_weights(g9(0), path), g9(2))
    (tmp_path / "latest_net_D_A.pth").mkdir()  # os.replace onto a directory fails
    with pytest.raises(OSError):
        export_reference_weights({"D_A": build_discriminator("basic", ndf=8)}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latest_net_D_A.pth",
        "latest_net_G_A.pth",
    ]


def test_export_single_generator_in_pretrained_layout(tmp_path: Path) -> None:
    path = export_reference_generator(g9(1), tmp_path)
    assert path == tmp_path / "latest_net_G.pth"
    assert same_outputs(load_reference_weights(g9(0), path), g9(1))
    named = export_reference_generator(g9(1), tmp_path / "horse2zebra_pretrained" / "x.pth")
    assert named.is_file()


def test_export_rejects_names_that_are_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name"):
        export_reference_weights({"../G_A": g9()}, tmp_path)

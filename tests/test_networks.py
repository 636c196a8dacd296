"""The networks match the reference layer for layer: parameter counts, keys, shapes, init.

Counts and key layouts are facts measured from the reference's
own networks.py; matching them is what lets official checkpoints load into our nets.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from cyclegan_lit.networks import (
    DISCRIMINATOR_NAMES,
    GENERATOR_NAMES,
    GeneratorConfig,
    NLayerDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    build_discriminator,
    build_generator,
    get_norm_layer,
    init_weights,
)
from cyclegan_lit.networks.norms import to_sync_batchnorm
from cyclegan_lit.networks.padding import with_torch_padding

torch.set_num_threads(1)


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


# ----------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    ("name", "norm", "expected"),
    [
        ("resnet_9blocks", "instance", 11_378_179),
        ("resnet_9blocks", "batch", 11_383_427),
        ("resnet_9blocks", "none", 11_372_931),
        ("resnet_6blocks", "instance", 7_837_699),
        ("unet_256", "instance", 54_409_603),
        ("unet_256", "batch", 54_413_955),
        ("unet_128", "instance", 41_825_667),
    ],
)
def test_generator_parameter_counts_match_reference(name: str, norm: str, expected: int) -> None:
    assert n_params(build_generator(name, norm=norm, init_type="normal")) == expected


@pytest.mark.parametrize(
    ("name", "n_layers", "norm", "expected"),
    [
        ("basic", 3, "instance", 2_764_737),
        ("basic", 3, "batch", 2_765_633),
        ("n_layers", 4, "instance", 6_959_553),
        ("n_layers", 5, "instance", 11_154_369),
        ("pixel", 3, "instance", 8_705),
        ("pixel", 3, "batch", 8_832),
    ],
)
def test_discriminator_parameter_counts_match_reference(
    name: str, n_layers: int, norm: str, expected: int
) -> None:
    assert n_params(build_discriminator(name, n_layers=n_layers, norm=norm)) == expected


def test_full_cyclegan_parameter_count() -> None:
    nets = [build_generator("resnet_9blocks") for _ in range(2)]
    nets += [build_discriminator("basic") for _ in range(2)]
    assert sum(map(n_params, nets)) == 28_285_832


# ----------------------------------------------------------------------------- key layouts


def expected_resnet_keys(ngf: int, n_blocks: int, norm: str = "instance", dropout: bool = False):
    """The reference layout of §1.12, rebuilt from its stated pattern (shapes included)."""
    bias = norm == "instance"
    keys: dict[str, tuple[int, ...]] = {}

    def conv(idx: str, shape: tuple[int, ...], has_bias: bool = bias) -> None:
        keys[f"{idx}.weight"] = shape
        if has_bias:
            keys[f"{idx}.bias"] = (shape[0],)

    def bn(idx: str, c: int) -> None:
        if norm == "batch":
            for k in ("weight", "bias", "running_mean", "running_var"):
                keys[f"{idx}.{k}"] = (c,)
            keys[f"{idx}.num_batches_tracked"] = ()

    conv("model.1", (ngf, 3, 7, 7))
    bn("model.2", ngf)
    conv("model.4", (2 * ngf, ngf, 3, 3))
    bn("model.5", 2 * ngf)
    conv("model.7", (4 * ngf, 2 * ngf, 3, 3))
    bn("model.8", 4 * ngf)
    second = 6 if dropout else 5
    for b in range(10, 10 + n_blocks):
        conv(f"model.{b}.conv_block.1", (4 * ngf, 4 * ngf, 3, 3))
        bn(f"model.{b}.conv_block.2", 4 * ngf)
        conv(f"model.{b}.conv_block.{second}", (4 * ngf, 4 * ngf, 3, 3))
        bn(f"model.{b}.conv_block.{second + 1}", 4 * ngf)
    up = 10 + n_blocks
    keys[f"model.{up}.weight"] = (4 * ngf, 2 * ngf, 3, 3)  # ConvTranspose: [in, out, k, k]
    if bias:
        keys[f"model.{up}.bias"] = (2 * ngf,)
    bn(f"model.{up + 1}", 2 * ngf)
    keys[f"model.{up + 3}.weight"] = (2 * ngf, ngf, 3, 3)
    if bias:
        keys[f"model.{up + 3}.bias"] = (ngf,)
    bn(f"model.{up + 4}", ngf)
    conv(f"model.{up + 7}", (3, ngf, 7, 7), has_bias=True)
    return keys


def test_resnet_9blocks_has_the_48_reference_keys() -> None:
    expected = expected_resnet_keys(64, 9)
    assert len(expected) == 48
    assert "model.26.weight" in expected and "model.18.conv_block.5.bias" in expected
    assert shapes(ResnetGenerator(3, 3)) == expected


def test_resnet_6blocks_has_36_keys_with_shifted_upsampling() -> None:
    got = shapes(ResnetGenerator(3, 3, n_blocks=6))
    assert got == expected_resnet_keys(64, 6)
    assert len(got) == 36
    assert {"model.16.weight", "model.19.weight", "model.23.weight"} <= got.keys()


def test_resnet_batch_norm_has_140_keys() -> None:
    got = shapes(ResnetGenerator(3, 3, ngf=8, norm="batch"))
    assert got == expected_resnet_keys(8, 9, norm="batch")
    assert len(got) == 140
    assert "model.1.bias" not in got and "model.26.bias" in got


def test_dropout_shifts_second_block_conv_to_index_6() -> None:
    got = shapes(ResnetGenerator(3, 3, ngf=8, use_dropout=True))
    assert got == expected_resnet_keys(8, 9, dropout=True)
    assert "model.10.conv_block.6.weight" in got and "model.10.conv_block.5.weight" not in got


def test_zero_padding_has_no_pad_layers() -> None:
    net = ResnetGenerator(3, 3, ngf=8, padding_type="zero")
    block = net.model[10].conv_block
    assert isinstance(block[0], nn.Conv2d) and block[0].padding == (1, 1)
    assert isinstance(block[3], nn.Conv2d)
    replicate = ResnetGenerator(3, 3, ngf=8, padding_type="replicate")
    assert isinstance(replicate.model[10].conv_block[0], nn.ReplicationPad2d)


def _bf16_step(net: nn.Module, x: torch.Tensor, autocast: bool = True) -> tuple:
    net.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        y = net(x)
    ((y.float() - 0.3) ** 2).mean().backward()
    return y, torch.cat([p.grad.flatten() for p in net.parameters()])


@pytest.mark.parametrize("padding_type", ["reflect", "replicate"])
def test_resnet_pads_in_bf16_under_cpu_autocast_with_the_same_forward(padding_type: str) -> None:
    """Torch's pads would cast every bf16 activation to fp32 and back; ours keep the dtype, and
    since padding only copies values the forward is bit for bit the same. Backward differs only
    at border sums, far less than bf16 itself differs from fp32."""
    torch.manual_seed(0)
    net = ResnetGenerator(3, 3, ngf=8, n_blocks=2, padding_type=padding_type)
    stock = with_torch_padding(copy.deepcopy(net))
    pads = [m for m in net.modules() if isinstance(m, (nn.ReflectionPad2d, nn.ReplicationPad2d))]
    out_dtypes: list[torch.dtype] = []
    for pad in pads:
        pad.register_forward_hook(lambda _m, _i, out: out_dtypes.append(out.dtype))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y, grads = _bf16_step(net, x)
    # the first pad takes the fp32 image; every other one a bf16 activation, and keeps it bf16
    assert out_dtypes == [torch.float32] + [torch.bfloat16] * (len(pads) - 1)
    y_stock, grads_stock = _bf16_step(stock, x)
    assert torch.equal(y, y_stock)
    _, grads_fp32 = _bf16_step(copy.deepcopy(net), x, autocast=False)
    bf16_error = (grads_stock - grads_fp32).norm()
    assert 0 < (grads - grads_stock).norm() < 0.25 * bf16_error
    assert list(net.state_dict()) == list(stock.state_dict())


def test_resnet_generator_exports_with_plain_pads() -> None:
    """Outside autocast our pads are torch's layers untouched: ``torch.export`` (behind the .pt2
    and ONNX exports) records plain pads, not an autocast region."""
    net = ResnetGenerator(3, 3, ngf=4, n_blocks=1).eval()
    program = torch.export.export(net, (torch.rand(1, 3, 32, 32),))
    ops = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert "aten.pad.default" in ops
    assert not any("autocast" in op for op in ops), ops


def test_resnet_block_has_no_activation_after_the_add() -> None:
    net = ResnetGenerator(3, 3, ngf=8, n_blocks=1)
    block = net.model[10]
    x = torch.randn(1, 32, 8, 8)
    assert torch.equal(block(x), x + block.conv_block(x))
    assert (block(x) < 0).any()


def test_patchgan_keys_and_strides() -> None:
    d = NLayerDiscriminator(3)
    expected = {}
    for idx, (cin, cout) in zip(
        (0, 2, 5, 8, 11), ((3, 64), (64, 128), (128, 256), (256, 512), (512, 1)), strict=True
    ):
        expected[f"model.{idx}.weight"] = (cout, cin, 4, 4)
        expected[f"model.{idx}.bias"] = (cout,)
    assert shapes(d) == expected
    assert [d.model[i].stride for i in (0, 2, 5, 8, 11)] == [(2, 2)] * 3 + [(1, 1)] * 2
    batch = shapes(NLayerDiscriminator(3, norm="batch"))
    assert len(batch) == 22
    assert {"model.2.bias", "model.5.bias", "model.8.bias"}.isdisjoint(batch)
    assert {f"model.{i}.running_mean" for i in (3, 6, 9)} <= batch.keys()


def test_pixel_discriminator_uses_net_attribute() -> None:
    assert set(shapes(PixelDiscriminator(3))) == {
        f"net.{i}.{p}" for i in (0, 2, 5) for p in ("weight", "bias")
    }
    batch = shapes(PixelDiscriminator(3, norm="batch"))
    assert "net.5.bias" not in batch and "net.3.running_var" in batch


def expected_unet_keys(num_downs: int, ngf: int, norm: str) -> dict[str, tuple[int, ...]]:
    """Nested layout of §1.1/§1.12: each level's Sequential is ``model``; submodule at 1 or 3."""
    bias = norm == "instance"
    outers = [3, ngf, 2 * ngf, 4 * ngf] + [8 * ngf] * (num_downs - 4)
    inners = [ngf, 2 * ngf, 4 * ngf] + [8 * ngf] * (num_downs - 3)
    keys: dict[str, tuple[int, ...]] = {}

    def bn(idx: str, c: int) -> None:
        if norm == "batch":
            for k in ("weight", "bias", "running_mean", "running_var"):
                keys[f"{idx}.{k}"] = (c,)
            keys[f"{idx}.num_batches_tracked"] = ()

    prefix = "model.model."
    for level in range(num_downs):
        outer, inner = outers[level], inners[level]
        if level == 0:
            keys[prefix + "0.weight"] = (inner, 3, 4, 4)
            if bias:
                keys[prefix + "0.bias"] = (inner,)
            keys[prefix + "3.weight"] = (2 * inner, outer, 4, 4)
            keys[prefix + "3.bias"] = (outer,)
            prefix += "1.model."
        elif level < num_downs - 1:
            keys[prefix + "1.weight"] = (inner, outer, 4, 4)
            bn(prefix + "2", inner)
            keys[prefix + "5.weight"] = (2 * inner, outer, 4, 4)
            if bias:
                keys[prefix + "1.bias"] = (inner,)
                keys[prefix + "5.bias"] = (outer,)
            bn(prefix + "6", outer)
            prefix += "3.model."
        else:
            keys[prefix + "1.weight"] = (inner, outer, 4, 4)
            keys[prefix + "3.weight"] = (inner, outer, 4, 4)
            if bias:
                keys[prefix + "1.bias"] = (inner,)
                keys[prefix + "3.bias"] = (outer,)
            bn(prefix + "4", outer)
    return keys


@pytest.mark.parametrize(("norm", "count"), [("instance", 32), ("batch", 82)])
def test_unet_256_nested_key_layout(norm: str, count: int) -> None:
    got = shapes(UnetGenerator(3, 3, num_downs=8, ngf=8, norm=norm))
    assert got == expected_unet_keys(8, 8, norm)
    assert len(got) == count
    assert {"model.model.0.weight", "model.model.1.model.1.weight"} <= got.keys()
    assert {"model.model.1.model.3.model.1.weight", "model.model.3.weight"} <= got.keys()


def test_unet_dropout_sits_in_the_middle_8ngf_blocks_without_changing_keys() -> None:
    plain = UnetGenerator(3, 3, num_downs=8, ngf=8)
    dropped = UnetGenerator(3, 3, num_downs=8, ngf=8, use_dropout=True)
    assert shapes(plain) == shapes(dropped)
    assert sum(isinstance(m, nn.Dropout) for m in dropped.modules()) == 8 - 5


# ----------------------------------------------------------------------------- forward shapes


@pytest.mark.parametrize("name", ["resnet_9blocks", "resnet_6blocks"])
def test_resnet_generator_keeps_size(name: str) -> None:
    g = build_generator(name, ngf=8)
    out = g(torch.randn(2, 3, 64, 48))
    assert out.shape == (2, 3, 64, 48)
    assert out.abs().max() <= 1.0  # Tanh


@pytest.mark.parametrize(("name", "size"), [("unet_128", 128), ("unet_256", 256)])
def test_unet_generator_keeps_size(name: str, size: int) -> None:
    g = build_generator(name, ngf=8)
    assert g(torch.randn(1, 3, size, size)).shape == (1, 3, size, size)


def test_unet_generator_accepts_other_channel_counts() -> None:
    g = build_generator("unet_128", input_nc=1, output_nc=2, ngf=8)
    assert g(torch.randn(1, 1, 128, 128)).shape == (1, 2, 128, 128)


@pytest.mark.parametrize(
    ("name", "n_layers", "size", "out"),
    [("basic", 3, 256, 30), ("basic", 3, 128, 14), ("n_layers", 4, 256, 14), ("pixel", 3, 32, 32)],
)
def test_discriminator_output_shapes(name: str, n_layers: int, size: int, out: int) -> None:
    d = build_discriminator(name, ndf=8, n_layers=n_layers)
    assert d(torch.randn(1, 3, size, size)).shape == (1, 1, out, out)


# ----------------------------------------------------------------------------- names and options


def test_aliases_build_the_reference_architectures() -> None:
    for alias, name in [("resnet9", "resnet_9blocks"), ("resnet6", "resnet_6blocks")]:
        assert shapes(build_generator(alias, ngf=8)) == shapes(build_generator(name, ngf=8))
    for alias, name in [("unet128", "unet_128"), ("unet256", "unet_256")]:
        assert shapes(build_generator(alias, ngf=4)) == shapes(build_generator(name, ngf=4))
    assert shapes(build_discriminator("patchgan", ndf=8)) == shapes(
        build_discriminator("basic", ndf=8)
    )
    assert set(GENERATOR_NAMES) == {"resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"}
    assert set(DISCRIMINATOR_NAMES) == {"basic", "n_layers", "pixel"}


def test_basic_discriminator_ignores_n_layers() -> None:
    assert shapes(build_discriminator("basic", ndf=8, n_layers=5)) == shapes(
        NLayerDiscriminator(3, ndf=8, n_layers=3)
    )
    assert len(build_discriminator("n_layers", ndf=8, n_layers=5).state_dict()) == 14


@pytest.mark.parametrize(
    ("build", "option", "choice"),
    [
        (lambda: build_generator("resnet_12blocks"), "generator", "resnet_9blocks"),
        (lambda: build_discriminator("multiscale"), "discriminator", "pixel"),
        (lambda: build_generator("resnet9", ngf=8, norm="group"), "norm", "syncbatch"),
        (lambda: build_discriminator("basic", norm="layer"), "norm", "instance"),
        (lambda: build_generator("resnet9", init_type="uniform"), "init_type", "orthogonal"),
        (lambda: build_generator("resnet9", padding_type="circular"), "padding_type", "replicate"),
        (lambda: get_norm_layer("Instance"), "norm", "none"),
    ],
)
def test_bad_names_raise_one_line_errors_listing_choices(build, option: str, choice: str) -> None:
    with pytest.raises(ValueError, match=option) as err:
        build()
    assert choice in str(err.value) and "\n" not in str(err.value)


def test_syncbatch_has_batch_keys_and_lightning_style_conversion_keeps_them() -> None:
    sync = build_generator("resnet9", ngf=8, norm="syncbatch")
    batch = build_generator("resnet9", ngf=8, norm="batch")
    assert any(isinstance(m, nn.SyncBatchNorm) for m in sync.modules())
    # quirk kept from the reference: syncbatch convs have no bias either, so the keys match batch
    assert shapes(sync) == shapes(batch)
    converted = to_sync_batchnorm(batch)
    assert not any(type(m) is nn.BatchNorm2d for m in converted.modules())
    assert shapes(converted) == shapes(sync)


# ----------------------------------------------------------------------------- initialisation


def conv_weights(net: nn.Module) -> torch.Tensor:
    return torch.cat(
        [m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    )


def conv_biases(net: nn.Module) -> list[torch.Tensor]:
    return [
        m.bias
        for m in net.modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and m.bias is not None
    ]


@pytest.mark.parametrize("gain", [0.02, 0.1])
def test_normal_init_has_std_gain_and_zero_biases(gain: float) -> None:
    torch.manual_seed(0)
    g = build_generator("resnet9", ngf=16, init_type="normal", init_gain=gain)
    w = conv_weights(g)
    assert w.std().item() == pytest.approx(gain, rel=0.02)
    assert abs(w.mean().item()) < gain * 0.01
    assert all(torch.count_nonzero(b) == 0 for b in conv_biases(g))
    assert len(conv_biases(g)) == 24  # every conv has a bias under instance norm


def test_batchnorm_weights_are_normal_around_one() -> None:
    torch.manual_seed(0)
    g = build_generator("resnet9", ngf=64, norm="batch", init_gain=0.02)
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    weights = torch.cat([m.weight for m in bns])
    assert weights.mean().item() == pytest.approx(1.0, abs=0.005)
    assert weights.std().item() == pytest.approx(0.02, rel=0.1)
    assert all(torch.count_nonzero(m.bias) == 0 for m in bns)


def test_kaiming_ignores_gain() -> None:
    torch.manual_seed(3)
    a = build_discriminator("basic", ndf=8, init_type="kaiming", init_gain=0.02)
    torch.manual_seed(3)
    b = build_discriminator("basic", ndf=8, init_type="kaiming", init_gain=1.0)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    conv = a.model[8]  # fan_in = 32 * 4 * 4
    assert conv.weight.std().item() == pytest.approx((2 / (32 * 16)) ** 0.5, rel=0.05)


def test_xavier_and_orthogonal_scale_with_gain() -> None:
    d = NLayerDiscriminator(3, ndf=8)
    init_weights(d, "orthogonal", 0.5)
    w = d.model[8].weight.flatten(1)  # 64 x 512: rows orthogonal, norm = gain
    assert torch.allclose(w @ w.T, 0.25 * torch.eye(64), atol=1e-5)
    init_weights(d, "xavier", 1.0)
    std1 = d.model[8].weight.std().item()
    init_weights(d, "xavier", 0.1)
    assert d.model[8].weight.std().item() == pytest.approx(0.1 * std1, rel=0.1)


def test_instance_norm_has_no_parameters_or_buffers() -> None:
    layer = get_norm_layer("instance")(16)
    assert isinstance(layer, nn.InstanceNorm2d)
    assert not list(layer.parameters()) and not list(layer.buffers())
    assert isinstance(get_norm_layer("none")(16), nn.Identity)


def test_unet_num_downs_sets_depth_for_small_images() -> None:
    """``num_downs`` is the reference UnetGenerator's own argument: 5 levels take 32 px images."""
    options = GeneratorConfig(name="unet_128", ngf=8, num_downs=5)
    assert options.min_input_size == 32 and options.receptive_field == 32
    net = options.build()
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    reference_depth = build_generator("unet_128", ngf=8)
    assert len(net.state_dict()) < len(reference_depth.state_dict())  # two levels fewer


@pytest.mark.parametrize(
    "options,message",
    [
        ({"name": "resnet_9blocks", "num_downs": 5}, "only a U-Net takes num_downs"),
        ({"name": "unet_256", "num_downs": 4}, "must be >= 5"),
    ],
)
def test_num_downs_outside_a_unet_or_below_five_is_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_generator(**options)

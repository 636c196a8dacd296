"""Preprocessing options, their output sizes, determinism, and the [-1, 1] range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_lit.data.transforms import PREPROCESS_OPTIONS, build_transform

torch.set_num_threads(1)


def _image(h: int, w: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (channels, h, w), dtype=torch.uint8, generator=g)


# (H, W) of a 50×90 (H×W) input with load_size 72, crop_size 64.
EXPECTED = {
    "resize_and_crop": ((64, 64), (64, 64)),
    "crop": ((64, 64), (64, 64)),  # smaller than the crop in height: padded
    "scale_width": ((64, 72), (64, 72)),  # width → 72, height → max(72·50/90, 64)
    "scale_width_and_crop": ((64, 64), (64, 64)),
    "none": ((48, 88), (48, 88)),  # round(12.5)·4 = 48 and round(22.5)·4 = 88 (banker's rounding)
}


@pytest.mark.parametrize("preprocess", PREPROCESS_OPTIONS)
@pytest.mark.parametrize("train", [True, False])
def test_output_size_of_each_option(preprocess, train):
    t = build_transform(preprocess, load_size=72, crop_size=64, train=train)
    out = t(_image(50, 90))
    assert tuple(out.shape[-2:]) == EXPECTED[preprocess][0 if train else 1]
    assert out.dtype == torch.float32 and type(out) is torch.Tensor


def test_none_matches_the_reference_rounding():
    out = build_transform("none", train=False)(_image(250, 362))
    assert tuple(out.shape[-2:]) == (
        248,
        360,
    )  # data/base_dataset.py __make_power_2: 362×250 → 360×248


def test_output_range_is_minus_one_to_one():
    image = torch.zeros(3, 40, 40, dtype=torch.uint8)
    image[:, :, 20:] = 255
    out = build_transform("crop", load_size=40, crop_size=40, flip=False)(image)
    assert out.min() == -1.0 and out.max() == 1.0
    rand = build_transform(load_size=72, crop_size=64)(_image(80, 80))
    assert rand.min() >= -1.0 and rand.max() <= 1.0


def test_flip_off_is_deterministic_and_flip_on_flips_sometimes():
    image = _image(32, 32)
    fixed = build_transform("resize_and_crop", load_size=32, crop_size=32, flip=False)
    assert all(torch.equal(fixed(image), fixed(image)) for _ in range(5))
    flipping = build_transform("resize_and_crop", load_size=32, crop_size=32, flip=True)
    outs = [flipping(image) for _ in range(40)]
    plain = fixed(image)
    n_flipped = sum(torch.equal(o, plain.flip(-1)) for o in outs)
    n_plain = sum(torch.equal(o, plain) for o in outs)
    assert n_flipped + n_plain == 40 and n_flipped > 0 and n_plain > 0


def test_random_crop_varies_and_eval_is_deterministic():
    image = _image(60, 60)
    train = build_transform("crop", load_size=60, crop_size=32, flip=False)
    assert len({train(image).sum().item() for _ in range(20)}) > 1
    evaluate = build_transform("crop", load_size=60, crop_size=32, flip=True, train=False)
    first = evaluate(image)
    assert all(torch.equal(first, evaluate(image)) for _ in range(10))
    assert torch.equal(first, build_transform("crop", 60, 32, False)(image[:, 14:46, 14:46]))


def test_pillow_and_tensor_inputs_agree():
    array = np.asarray(_image(50, 70).permute(1, 2, 0))
    smooth = np.asarray(Image.fromarray(array).resize((35, 25)).resize((70, 50)))
    t = build_transform("resize_and_crop", load_size=40, crop_size=40, flip=False)
    from_pil = t(Image.fromarray(smooth))
    from_tensor = t(torch.from_numpy(smooth.copy()).permute(2, 0, 1))
    assert from_pil.shape == from_tensor.shape == (3, 40, 40)
    assert (from_pil - from_tensor).abs().mean() < 0.02


def test_grayscale_output_channels():
    t1 = build_transform(load_size=36, crop_size=32, channels=1)
    assert t1(_image(40, 40)).shape == (1, 32, 32)
    assert t1(_image(40, 40, channels=1)).shape == (1, 32, 32)
    t3 = build_transform(load_size=36, crop_size=32, channels=3)
    assert t3(_image(40, 40, channels=1)).shape == (3, 32, 32)


@pytest.mark.parametrize(
    "kwargs,option",
    [
        (dict(preprocess="resize"), "data.preprocess"),
        (dict(preprocess="resize_and_crop", load_size=64, crop_size=128), "data.crop_size"),
        (dict(preprocess="scale_width_and_crop", load_size=64, crop_size=128), "data.crop_size"),
        (dict(channels=2), "data.input_nc"),
    ],
)
def test_bad_options_name_the_option(kwargs, option):
    with pytest.raises(ValueError) as err:
        build_transform(**kwargs)
    assert option in str(err.value) and "\n" not in str(err.value)

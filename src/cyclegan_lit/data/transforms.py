"""Preprocessing: the reference's ``get_transform`` (``data/base_dataset.py``) on torchvision
``transforms.v2``.

``build_transform`` keeps the reference's order (greyscale, resize, crop, round to a multiple of 4
for ``none``, flip, normalise to [-1, 1]) and resizes bicubic with antialiasing, like Pillow's
``BICUBIC``. It takes a uint8 tensor (C, H, W) or a Pillow image. ``train=False`` gives the
deterministic evaluation transform (no flip, centre crop), so validation grids and metrics are
comparable between epochs. Deliberate differences from the reference are listed in docs/model.md;
docs/data.md describes each ``preprocess`` option.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

log = logging.getLogger(__name__)

PREPROCESS_OPTIONS: tuple[str, ...] = (
    "resize_and_crop",
    "crop",
    "scale_width",
    "scale_width_and_crop",
    "none",
)

_BICUBIC = InterpolationMode.BICUBIC
_warned_sizes: set[tuple[int, int]] = set()


def validate_preprocess(preprocess: str, load_size: int, crop_size: int) -> None:
    """Raise a one-line ValueError naming the ``data.*`` option that is wrong."""
    if preprocess not in PREPROCESS_OPTIONS:
        raise ValueError(
            f"data.preprocess={preprocess!r}: not one of {', '.join(PREPROCESS_OPTIONS)}"
        )
    for option, size in (("load_size", load_size), ("crop_size", crop_size)):
        if size < 1:
            raise ValueError(f"data.{option}={size}: must be positive")
    if preprocess.endswith("_and_crop") and crop_size > load_size:
        raise ValueError(
            f"data.crop_size={crop_size}: larger than data.load_size={load_size} with "
            f"data.preprocess={preprocess}; set data.load_size >= data.crop_size"
        )


def output_size_is_fixed(preprocess: str) -> bool:
    """Whether every image comes out of the *evaluation* transform at the same size (batchable)."""
    return preprocess in ("resize_and_crop", "crop", "scale_width_and_crop")


class ScaleWidth(torch.nn.Module):
    """Width → ``width``, height → ``max(width * h / w, min_height)`` (``__scale_width``)."""

    def __init__(self, width: int, min_height: int) -> None:
        super().__init__()
        self.width, self.min_height = width, min_height

    def forward(self, img):
        h, w = F.get_size(img)
        if w == self.width and h >= self.min_height:
            return img
        new_h = int(max(self.width * h / w, self.min_height))
        return F.resize(img, [new_h, self.width], interpolation=_BICUBIC, antialias=True)


class MakeMultipleOf(torch.nn.Module):
    """Resize so that both sides are multiples of ``base`` (reference ``__make_power_2``)."""

    def __init__(self, base: int = 4) -> None:
        super().__init__()
        self.base = base

    def forward(self, img):
        h, w = F.get_size(img)
        new_h = max(self.base, int(round(h / self.base) * self.base))
        new_w = max(self.base, int(round(w / self.base) * self.base))
        if (new_h, new_w) == (h, w):
            return img
        if (h, w) not in _warned_sizes:
            _warned_sizes.add((h, w))
            log.warning(
                "image size %dx%d (WxH) is not a multiple of %d; resizing to %dx%d",
                w,
                h,
                self.base,
                new_w,
                new_h,
            )
        return F.resize(img, [new_h, new_w], interpolation=_BICUBIC, antialias=True)


class ToChannels(torch.nn.Module):
    """Make the image ``channels`` deep (1: ITU-R 601 luma; 3: repeat a grey channel)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, img):
        c = F.get_num_channels(img)
        if c == self.channels:
            return img
        if self.channels == 1:
            return F.rgb_to_grayscale(img, num_output_channels=1)
        return F.rgb_to_grayscale(img, num_output_channels=3) if c == 3 else _repeat(img)


class ToMinusOneOne(torch.nn.Module):
    """uint8 image (tensor or Pillow) → plain float32 tensor in [-1, 1]: ToTensor + Normalize(0.5,
    0.5) in one pass (a third of the time of v2.ToDtype + v2.Normalize)."""

    def forward(self, img) -> torch.Tensor:
        if not isinstance(img, torch.Tensor):
            img = F.pil_to_tensor(img)
        if img.dtype != torch.uint8:
            raise TypeError(f"expected a uint8 image, got {img.dtype}")
        return img.as_subclass(torch.Tensor).to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)


def _repeat(img):
    if isinstance(img, torch.Tensor):
        return img.expand(3, -1, -1).clone()
    return img.convert("RGB")


def build_transform(
    preprocess: str = "resize_and_crop",
    load_size: int = 286,
    crop_size: int = 256,
    flip: bool = True,
    channels: int = 3,
    train: bool = True,
) -> Callable:
    """The training (random) or evaluation (deterministic) transform; output float in [-1, 1]."""
    validate_preprocess(preprocess, load_size, crop_size)
    if channels not in (1, 3):
        raise ValueError(f"data.input_nc / data.output_nc must be 1 or 3, got {channels}")
    steps: list[Callable] = [ToChannels(channels)]
    if preprocess == "resize_and_crop":
        size = load_size if train else crop_size
        steps.append(v2.Resize([size, size], interpolation=_BICUBIC, antialias=True))
    elif preprocess.startswith("scale_width"):
        steps.append(ScaleWidth(load_size, crop_size))
    if preprocess in ("crop", "scale_width_and_crop") or (
        preprocess == "resize_and_crop" and train
    ):
        if train:
            steps.append(v2.RandomCrop(crop_size, pad_if_needed=True))
        else:
            steps.append(v2.CenterCrop(crop_size))
    if preprocess == "none":
        steps.append(MakeMultipleOf(4))
    if train and flip:
        steps.append(v2.RandomHorizontalFlip())
    steps.append(ToMinusOneOne())
    return v2.Compose(steps)

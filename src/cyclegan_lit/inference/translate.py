"""Translate whole images at their own size: pad, run the generator, crop back; tile what is large.

The reference's test.py squashes every image to 256×256. Here an image keeps its size and aspect
ratio: it is reflect-padded to what the network takes (a multiple of 4 for a ResNet, of 2**num_downs
for a U-Net), translated, and cropped back. An image larger than ``max_pixels`` (or any image, with
``tile``) is translated in tiles: each tile carries a margin of real context as wide as the
generator's receptive radius and keeps only its core, so no seam shows; tile origins sit on the
network's total stride, so every tile samples the image as the whole pass would. InstanceNorm
would otherwise normalise each tile by its own statistics and give each tile its own colour cast:
``SharedInstanceNormStats`` measures the statistics once, on the whole image (or on a downscaled
copy when even that is too large), and every tile uses them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from cyclegan_lit.data.images import convert_image

from .checkpoints import LoadedGenerator, from_model, load_generator


@dataclass(frozen=True)
class TileSpec:
    """How an image is cut: ``core``-sized tiles, each with ``margin`` px of context per side."""

    core: int
    margin: int


def pad_to_multiple(image: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad N×C×H×W on the bottom and right to multiples of ``multiple`` (reflect, else replicate
    where the image is too small to reflect); returns the padded batch and the original (H, W)."""
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        image = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
    return image, (height, width)


class SharedInstanceNormStats:
    """Make every InstanceNorm2d in ``net`` normalise with statistics recorded once.

    ``record()`` runs with ordinary InstanceNorm and stores each layer's per-channel mean and
    variance; ``apply()`` then uses the stored ones instead of the input's own. Recording on a
    downscaled copy gives nearly the same statistics (they are averages over the image).
    """

    def __init__(self, net: nn.Module) -> None:
        self.layers = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
        self.stats: dict[int, tuple[Tensor, Tensor]] = {}

    @contextmanager
    def _patched(self, forward) -> Iterator[None]:
        for index, layer in enumerate(self.layers):
            layer.forward = forward.__get__(layer)  # type: ignore[method-assign]
            layer._shared_index = index  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for layer in self.layers:
                del layer.forward
                del layer._shared_index

    @contextmanager
    def record(self) -> Iterator[None]:
        stats = self.stats

        def forward(layer: nn.InstanceNorm2d, x: Tensor) -> Tensor:
            x32 = x.float()
            stats[layer._shared_index] = (
                x32.mean(dim=(2, 3), keepdim=True),
                x32.var(dim=(2, 3), keepdim=True, unbiased=False),
            )
            return F.instance_norm(x, eps=layer.eps)

        with self._patched(forward):
            yield

    @contextmanager
    def apply(self) -> Iterator[None]:
        stats = self.stats

        def forward(layer: nn.InstanceNorm2d, x: Tensor) -> Tensor:
            mean, var = stats[layer._shared_index]
            return ((x.float() - mean) * torch.rsqrt(var + layer.eps)).to(x.dtype)

        with self._patched(forward):
            yield


class Translator:
    """Runs a loaded generator on whole images in [-1, 1] (N×C×H×W of one size).

    ``tile``: translate in tiles of this side (None: only images above ``max_pixels``). The tiles'
    InstanceNorm statistics come from the whole image, or from a copy downscaled to
    ``stats_pixels`` (default ``max_pixels``) when it is larger. ``device`` and ``precision``
    (``32``, ``bf16``, ``16``) say where and how the generator runs.
    """

    def __init__(
        self,
        generator: LoadedGenerator,
        device: str | torch.device = "cpu",
        precision: str = "32",
        tile: int | None = None,
        max_pixels: int = 2048 * 2048,
        stats_pixels: int | None = None,
    ) -> None:
        self.generator = generator
        self.device = torch.device(device)
        self.net = generator.net.to(self.device).eval()
        self.dtype = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}.get(str(precision))
        if str(precision) not in ("32", "bf16", "16"):
            raise ValueError(f"precision={precision!r}: must be 32, bf16 or 16")
        # every side a multiple of it: ResNets 4 (their total stride), U-Nets 2**num_downs
        self.multiple = generator.min_input_size
        self.max_pixels = max_pixels
        # Statistics from the whole image whenever it could be translated whole.
        self.stats_pixels = stats_pixels or max_pixels
        self.tiles = self._tile_spec(tile) if tile else None
        self.shared_stats = SharedInstanceNormStats(self.net)

    # ---------------------------------------------------------------- set-up
    def _tile_spec(self, tile: int) -> TileSpec:
        field = self.generator.receptive_field
        if tile < max(field, self.multiple):
            raise ValueError(
                f"tile={tile}: smaller than the generator's receptive field ({field} px); use "
                f"tile >= {_round_up(max(field, self.multiple), self.multiple)} or no tiling"
            )
        margin = _round_up(field // 2, self.multiple)
        return TileSpec(core=_round_up(tile, self.multiple), margin=margin)

    @contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
        else:
            with torch.autocast(self.device.type, dtype=self.dtype):
                yield

    # ---------------------------------------------------------------- translation
    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        """Translate a batch of same-size images in [-1, 1]; the output has their size."""
        if images.ndim != 4 or images.shape[1] != self.generator.input_nc:
            raise ValueError(
                f"expected N×{self.generator.input_nc}×H×W images, got {tuple(images.shape)}"
            )
        height, width = images.shape[-2:]
        tiles = self.tiles
        if tiles is None and height * width > self.max_pixels:
            tiles = self._tile_spec(
                _round_up(max(self.generator.receptive_field, 512), self.multiple)
            )
        if tiles is None:
            return self._whole(images)
        return torch.cat([self._tiled(image[None], tiles) for image in images])

    def _run(self, batch: Tensor) -> Tensor:
        with self._autocast():
            return self.net(batch.to(self.device)).float()

    def _whole(self, images: Tensor) -> Tensor:
        padded, (height, width) = pad_to_multiple(images, self.multiple)
        return self._run(padded)[..., :height, :width].cpu()

    def _tiled(self, image: Tensor, tiles: TileSpec) -> Tensor:
        padded, (height, width) = pad_to_multiple(image, self.multiple)
        self._record_stats(padded)
        full_h, full_w = padded.shape[-2:]
        out = torch.empty(1, self.generator.output_nc, full_h, full_w)
        with self.shared_stats.apply():
            for top in range(0, full_h, tiles.core):
                for left in range(0, full_w, tiles.core):
                    t0, l0 = max(top - tiles.margin, 0), max(left - tiles.margin, 0)
                    t1 = min(top + tiles.core + tiles.margin, full_h)
                    l1 = min(left + tiles.core + tiles.margin, full_w)
                    window, _ = pad_to_multiple(padded[..., t0:t1, l0:l1], self.multiple)
                    result = self._run(window).cpu()
                    core_h = min(tiles.core, full_h - top)
                    core_w = min(tiles.core, full_w - left)
                    out[..., top : top + core_h, left : left + core_w] = result[
                        ..., top - t0 : top - t0 + core_h, left - l0 : left - l0 + core_w
                    ]
        return out[..., :height, :width]

    def _record_stats(self, padded: Tensor) -> None:
        """InstanceNorm statistics of the whole image, or of a copy downscaled to fit."""
        height, width = padded.shape[-2:]
        source = padded
        if height * width > self.stats_pixels:
            scale = math.sqrt(self.stats_pixels / (height * width))
            size = (
                _round_up(max(int(height * scale), self.multiple), self.multiple),
                _round_up(max(int(width * scale), self.multiple), self.multiple),
            )
            source = F.interpolate(padded, size=size, mode="bilinear", antialias=True)
        with self.shared_stats.record():
            self._run(source)


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def to_model_range(images: Tensor) -> Tensor:
    """uint8 images (…×C×H×W) to floats in [-1, 1], as training sees them."""
    return images.float() / 127.5 - 1.0


def to_uint8(images: Tensor) -> Tensor:
    """Generator output in [-1, 1] to uint8."""
    return ((images.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def translate(
    images: Image.Image | Sequence[Image.Image] | Tensor,
    checkpoint: str | Path | LoadedGenerator | nn.Module,
    direction: str = "AtoB",
    *,
    generator: Mapping[str, Any] | None = None,
    device: str = "cpu",
    precision: str = "32",
    tile: int | None = None,
) -> Image.Image | list[Image.Image] | Tensor:
    """Translate PIL images (each at its own size) or a tensor batch in [-1, 1].

    ``checkpoint``: our ``.ckpt``, a reference ``.pth``, a ``LoadedGenerator`` or a ``CycleGAN``
    (whose G_A or G_B is used, by ``direction``). PIL images are decoded as training decodes files
    (EXIF orientation, alpha onto white, greyscale); the result has the input's type.
    """
    loaded = _as_loaded(checkpoint, direction, generator)
    translator = Translator(loaded, device=device, precision=precision, tile=tile)
    if isinstance(images, Tensor):
        batch = images if images.ndim == 4 else images[None]
        out = translator(batch)
        return out if images.ndim == 4 else out[0]
    single = isinstance(images, Image.Image)
    results = []
    for image in [images] if single else images:
        array = np.asarray(convert_image(image, loaded.input_nc), dtype=np.uint8)
        tensor = torch.from_numpy(array.copy()).reshape(*array.shape[:2], -1).permute(2, 0, 1)
        fake = to_uint8(translator(to_model_range(tensor)[None])[0])
        results.append(Image.fromarray(fake.permute(1, 2, 0).squeeze(-1).numpy()))
    return results[0] if single else results


def _as_loaded(
    checkpoint: str | Path | LoadedGenerator | nn.Module,
    direction: str,
    generator: Mapping[str, Any] | None,
) -> LoadedGenerator:
    if isinstance(checkpoint, LoadedGenerator):
        return checkpoint
    if isinstance(checkpoint, nn.Module):  # a CycleGAN LightningModule
        return from_model(checkpoint, direction)
    return load_generator(checkpoint, direction, generator)

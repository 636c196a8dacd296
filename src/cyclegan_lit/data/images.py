"""Finding and decoding images: each Pillow mode handled on purpose, each bad file a one-line error.

The reference simply calls ``Image.open(p).convert("RGB")``, which loses transparency, EXIF
orientation and 16-bit range; here every mode has a defined result (docs/data.md, "Decoding").
``read_image`` returns a uint8 tensor and takes a faster path through ``torchvision.io`` only for
files whose decoding cannot differ from the Pillow path (complete JPEGs, 8-bit grey/RGB PNGs
without transparency). Deliberate differences from the reference are listed in docs/model.md.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMG_EXTENSIONS: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
)
"""Extensions recognised as images, compared case-insensitively (the reference's list plus webp)."""

_ALPHA_MODES = {"RGBA", "LA", "PA", "La", "RGBa"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


class ImageLoadError(ValueError):
    """An image file that cannot be decoded; the message names the file and what to do."""


def is_image_file(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(IMG_EXTENSIONS)


def find_images(folder: str | os.PathLike, max_dataset_size: int | None = None) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted by path), truncated to ``max_dataset_size``.

    Raises a one-line ``FileNotFoundError`` when ``folder`` is not a directory.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"image folder {folder} does not exist; create it and put images "
            f"({', '.join(IMG_EXTENSIONS)}) in it"
        )
    paths = sorted(p for p in folder.rglob("*") if is_image_file(p.name) and p.is_file())
    if max_dataset_size is not None:
        paths = paths[: max(0, int(max_dataset_size))]
    return paths


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _open(path: Path) -> Image.Image:
    """Open and fully decode ``path``; any failure becomes one ``ImageLoadError``."""
    try:
        if path.is_dir():
            raise IsADirectoryError("it is a directory")
        if path.stat().st_size == 0:
            raise OSError("the file is empty (0 bytes)")
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            img.load()
            try:
                return ImageOps.exif_transpose(img)  # a copy, detached from the file
            except Exception:  # malformed EXIF: keep the pixels as stored
                return img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(
            f"cannot read image {path}: {_describe(exc)}; downscale the file or raise "
            "PIL.Image.MAX_IMAGE_PIXELS if you trust it"
        ) from exc
    except Exception as exc:
        raise ImageLoadError(
            f"cannot read image {path}: {_describe(exc)}; replace or delete the file"
        ) from exc


def _sixteen_bit_to_l(img: Image.Image) -> Image.Image:
    values = np.asarray(img).astype(np.float64)
    return Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), mode="L")


def _float_to_l(img: Image.Image) -> Image.Image:
    values = np.asarray(img, dtype=np.float64)
    finite = values[np.isfinite(values)]
    scale = 255.0 if finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0) else 1.0
    values = np.nan_to_num(values, nan=0.0, posinf=255.0 / scale, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), mode="L")


def _to_rgb_or_l(img: Image.Image) -> Image.Image:
    """Reduce any Pillow mode to ``RGB`` or ``L`` following the module's policy."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_l(img)
    if mode == "F":
        return _float_to_l(img)
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in ("RGB", "L"):
        return img
    if mode == "1":
        return img.convert("L")
    return img.convert("RGB")


def load_image(path: str | os.PathLike, channels: int = 3) -> Image.Image:
    """Decode ``path`` into a Pillow image of mode ``RGB`` (channels=3) or ``L`` (channels=1)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    return _to_channels(_to_rgb_or_l(_open(Path(path))), channels)


def _to_channels(img: Image.Image, channels: int) -> Image.Image:
    target = "RGB" if channels == 3 else "L"
    return img if img.mode == target else img.convert(target)


def convert_image(img: Image.Image, channels: int = 3) -> Image.Image:
    """An image already in memory, decoded by the same policy as a file (EXIF, alpha, modes)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    with contextlib.suppress(Exception):  # malformed EXIF: keep the pixels as stored
        img = ImageOps.exif_transpose(img)
    return _to_channels(_to_rgb_or_l(img), channels)


def _fast_path_kind(path: Path) -> str | None:
    """'jpeg' or 'png' when torchvision decodes the file as the Pillow policy would.

    Pillow reads only the header here (tens of microseconds), which also applies its
    decompression-bomb check before torchvision allocates anything.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt, mode, info, (width, height) = img.format, img.mode, img.info, img.size
    except Exception:  # load_image will raise the proper ImageLoadError
        return None
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        return None  # load_image refuses it, naming the file
    if mode not in ("RGB", "L") or "transparency" in info:
        return None
    return {"JPEG": "jpeg", "PNG": "png"}.get(fmt or "")


def _decode_with_torchvision(path: Path, kind: str) -> torch.Tensor | None:
    """RGB uint8 from torchvision.io, or None to let Pillow decide (and raise if broken)."""
    from torchvision.io import ImageReadMode, decode_jpeg, decode_png, read_file

    try:
        data = read_file(str(path))
        if kind == "jpeg":
            # libjpeg pads a truncated JPEG with grey and only warns; Pillow refuses it.
            if data.numel() < 4 or data[-2].item() != 0xFF or data[-1].item() != 0xD9:
                return None
            return decode_jpeg(data, mode=ImageReadMode.RGB, apply_exif_orientation=True)
        image = decode_png(data, mode=ImageReadMode.RGB)
        if image.dtype != torch.uint8:  # 16-bit RGB PNG: scale like 16-bit grey
            image = (image.double() / 257.0).round().clamp(0, 255).to(torch.uint8)
        return image
    except Exception:  # CMYK JPEG, a tRNS chunk, a truncated PNG...
        return None


def read_image(path: str | os.PathLike, channels: int = 3, fast: bool = True) -> torch.Tensor:
    """Decode ``path`` into a uint8 tensor of shape (channels, H, W).

    With ``fast=True`` and ``channels=3``, complete JPEG files and 8-bit grey/RGB PNG files are
    decoded by ``torchvision.io`` (see benchmarks/results/data_throughput.md); any file it refuses
    falls back to Pillow, which raises ``ImageLoadError`` for files that are really broken.
    Greyscale output always goes through Pillow so that the luma weights match ``load_image``.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    if fast and channels == 3:
        kind = _fast_path_kind(path)
        if kind is not None:
            decoded = _decode_with_torchvision(path, kind)
            if decoded is not None:
                return decoded
    img = load_image(path, channels)
    array = np.asarray(img, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def check_images(paths: Iterable[str | os.PathLike], channels: int = 3) -> list[tuple[Path, str]]:
    """Decode every path; return ``(path, reason)`` for the ones that fail (for CLI checks)."""
    bad = []
    for p in paths:
        try:
            load_image(p, channels)
        except ImageLoadError as exc:
            bad.append((Path(p), str(exc)))
    return bad

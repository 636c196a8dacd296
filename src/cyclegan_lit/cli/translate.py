"""`cyclegan-translate`: translate your own images with a trained generator, at their own size.

    cyclegan-translate ckpt_path=last input=photos/ output_dir=out
    cyclegan-translate pretrained=horse2zebra input='photos/*.jpg' output_dir=zebras
    cyclegan-translate pretrained=list

Outputs mirror the input folder's structure, keep each image's size and format, and come with an
``index.html`` showing inputs and outputs side by side. An unreadable image is skipped, counted and
listed at the end; everything else is translated. torch is imported inside the functions that
use it: ``--help`` answers without it.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from rich.progress import Progress

from cyclegan_lit.cli.errors import exit_on_user_error
from cyclegan_lit.cli.resume import resolve_ckpt_path
from cyclegan_lit.config_store import config_dir

if TYPE_CHECKING:
    import torch

    from cyclegan_lit.inference.checkpoints import LoadedGenerator
    from cyclegan_lit.inference.html_index import IndexRow

PROG = "cyclegan-translate"
_EXIF_ORIENTATION = 0x0112
_SAVE_OPTIONS = {".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"quality": 95}}


@dataclass
class InputImage:
    path: Path
    relative: Path  # where it sits under the input root: the output mirrors it
    size: tuple[int, int] = (0, 0)  # width, height after EXIF orientation


@dataclass
class Report:
    translated: list[IndexRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    index: Path | None = None


def translate_images(cfg: DictConfig) -> Report:
    """Translate every image ``cfg.input`` names into ``cfg.output_dir``; return what happened.
    A command that stops early leaves no empty ``output_dir`` behind."""
    with output_folder(Path(cfg.output_dir)) as output_dir:
        return _translate_images(cfg, output_dir)


def _translate_images(cfg: DictConfig, output_dir: Path) -> Report:
    import torch

    from cyclegan_lit.inference.checkpoints import load_generator
    from cyclegan_lit.inference.html_index import write_index
    from cyclegan_lit.inference.translate import Translator, to_model_range, to_uint8

    images = collect_inputs(str(cfg.input))
    generator = load_generator(checkpoint_path(cfg), cfg.direction, _plain(cfg.generator))
    device = pick_device(str(cfg.device))
    translator = Translator(
        generator, device=device, precision=str(cfg.precision), tile=cfg.tile,
        max_pixels=int(cfg.max_pixels),
    )  # fmt: skip
    report = Report()
    with Progress(transient=True) as progress:
        task = progress.add_task("translating", total=len(images))
        for batch in _batches(images, int(cfg.batch_size), generator, report):
            inputs = torch.stack([tensor for _, tensor in batch])
            fakes = to_uint8(translator(to_model_range(inputs)))
            for (image, tensor), fake in zip(batch, fakes, strict=True):
                report.translated.append(_save(image, tensor, fake, output_dir, cfg))
            progress.advance(task, len(batch))
    if cfg.html:
        title = f"{generator.source}: {cfg.direction}"
        report.index = write_index(output_dir, report.translated, title, report.skipped)
    return report


@contextlib.contextmanager
def output_folder(path: Path) -> Iterator[Path]:
    """``prepare_output_dir(path)`` for the block; when the block fails, the folders it created
    go again if still empty, so that a command stopping early leaves no empty folder behind."""
    created = [folder for folder in (path, *path.parents) if not folder.exists()]
    prepare_output_dir(path)
    try:
        yield path
    except BaseException:
        for folder in created:  # the deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def prepare_output_dir(path: Path) -> Path:
    """Create ``path`` and prove it can be written, before any work."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".{PROG}-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OSError(f"output_dir={path}: cannot be written ({err.strerror or err})") from None
    return path


def collect_inputs(spec: str) -> list[InputImage]:
    """An image file, a folder (recursive, structure kept) or a glob; sorted by path."""
    from cyclegan_lit.data.images import find_images, is_image_file

    path = Path(spec).expanduser()
    if path.is_file():
        if not is_image_file(path):
            raise ValueError(f"input={spec}: not an image file (by its extension)")
        found = [InputImage(path, Path(path.name))]
    elif path.is_dir():
        found = [InputImage(p, p.relative_to(path)) for p in find_images(path)]
    elif glob.has_magic(spec):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(spec), recursive=True))
        files = [p for p in matches if p.is_file() and is_image_file(p)]
        root = Path(os.path.commonpath([p.parent for p in files])) if files else Path()
        found = [InputImage(p, p.relative_to(root)) for p in files]
    else:
        raise FileNotFoundError(f"input={spec}: no such file or folder")
    if not found:
        raise FileNotFoundError(f"input={spec}: no images (jpg, png, ...) found there")
    for image in found:
        image.size = _header_size(image.path)
    return found


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) as the image will be decoded, from its header; (0, 0) if unreadable."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            if img.getexif().get(_EXIF_ORIENTATION) in (5, 6, 7, 8):
                width, height = height, width
            return width, height
    except Exception:  # decoding will say why
        return (0, 0)


def checkpoint_path(cfg: DictConfig) -> Path:
    """``pretrained=<name>`` (downloaded once) or ``ckpt_path`` (a file or ``last``)."""
    if cfg.pretrained:
        from cyclegan_lit.inference.pretrained import fetch_pretrained

        return fetch_pretrained(str(cfg.pretrained), cfg.cache_dir, cfg.pretrained_url)
    if not cfg.ckpt_path:
        raise ValueError("ckpt_path=null: give a checkpoint (ckpt_path=...) or pretrained=<name>")
    return Path(resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths))


def pick_device(device: str) -> torch.device:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device={device!r}: must be auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device}: no CUDA device here; use device=cpu or auto")
    return torch.device(device)


def _batches(
    images: list[InputImage], batch_size: int, generator: LoadedGenerator, report: Report
) -> Iterator[list[tuple[InputImage, torch.Tensor]]]:
    """Same-size images together (sorted by size), decoded as they are needed."""
    from cyclegan_lit.data.images import ImageLoadError, read_image

    batch: list[tuple[InputImage, torch.Tensor]] = []
    for image in sorted(images, key=lambda i: (i.size, str(i.relative))):
        try:
            tensor = read_image(image.path, generator.input_nc)
        except ImageLoadError as err:
            report.skipped.append(str(err))
            continue
        if batch and (tensor.shape != batch[0][1].shape or len(batch) == batch_size):
            yield batch
            batch = []
        batch.append((image, tensor))
    if batch:
        yield batch


def _save(
    image: InputImage, tensor: torch.Tensor, fake: torch.Tensor, output_dir: Path, cfg: DictConfig
) -> IndexRow:
    from cyclegan_lit.inference.html_index import IndexRow

    suffix = f".{str(cfg.format).lstrip('.')}" if cfg.format else image.path.suffix
    out = output_dir / image.relative.with_suffix(suffix.lower())
    _write(fake, out)
    shown = out
    if cfg.html:  # what the model saw, beside it, so the page needs nothing outside the folder
        shown = output_dir / "_inputs" / image.relative.with_suffix(suffix.lower())
        _write(tensor, shown)
    height, width = tensor.shape[-2:]
    return IndexRow(str(image.relative), shown, out, (width, height))


def _write(image: torch.Tensor, path: Path) -> None:
    """Save a uint8 C×H×W tensor, whole or not at all."""
    from cyclegan_lit.atomic_files import atomic_write

    array = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else np.ascontiguousarray(array))
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"format={path.suffix.lstrip('.')}: Pillow cannot write this format")
    options = _SAVE_OPTIONS.get(path.suffix.lower(), {})
    atomic_write(path, lambda file: pil.save(file, format=fmt, **options))


def _plain(node: DictConfig | None) -> dict | None:
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def _print_report(report: Report, output_dir: Path) -> None:
    print(f"Translated {len(report.translated)} images into {output_dir.resolve()}")
    if report.index is not None:
        print(f"Side by side: {report.index.resolve()}")
    if report.skipped:
        print(f"Skipped {len(report.skipped)} unreadable images:")
        for reason in report.skipped:
            print(f"  {reason}")


def main() -> None:
    """Console entry point: ``cyclegan-translate input=... (ckpt_path=... | pretrained=...)``."""

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="translate")
    def _main(cfg: DictConfig) -> None:
        if cfg.get("pretrained") == "list":
            from cyclegan_lit.inference.pretrained import pretrained_table

            print(pretrained_table(cfg.cache_dir))
            return
        report = exit_on_user_error(PROG, lambda: translate_images(cfg))
        _print_report(report, Path(cfg.output_dir))

    _main()


if __name__ == "__main__":
    main()

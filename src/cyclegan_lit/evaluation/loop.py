"""One pass over a split: translate every test image once per direction, feed the metrics.

The reference's test.py stops after ``num_test`` (50) images and its unaligned loader repeats the
smaller domain up to the larger one's length; here every image of the split counts exactly once
(repeats are recognised by path), as FID and KID need the whole set. Generators run in fp32
outside autocast, on inputs padded to what the network takes; outputs are rounded to uint8, as
the saved PNGs that papers score are (reference #1718 asks for such a standard evaluation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from cyclegan_lit.inference.translate import pad_to_multiple, to_uint8

from .metrics import DOMAINS, TranslationMetrics

Translate = Callable[[Tensor], Tensor]


def generator_function(net: nn.Module, min_input_size: int, device: torch.device) -> Translate:
    """``net`` as a function of batches in [-1, 1] (any size, any device) → outputs in [-1, 1]."""
    multiple = int(min_input_size)  # ResNets: 4, their total stride; U-Nets: 2**num_downs
    param = next(net.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32

    @torch.no_grad()
    def translate(images: Tensor) -> Tensor:
        padded, (height, width) = pad_to_multiple(images.float(), multiple)
        with torch.autocast(device.type, enabled=False):
            out = net(padded.to(device=device, dtype=dtype))
        return out[..., :height, :width].float()

    return translate


def score_batches(
    batches: Iterable[Mapping[str, Any]],
    translators: Mapping[str, Translate],
    metrics: TranslationMetrics,
    max_images: int | None = None,
    advance: Callable[[], None] | None = None,
    ground_truth: bool = True,
) -> dict[str, int]:
    """Translate and score every image of ``batches`` once; returns the images seen per domain.

    ``translators``: direction (AtoB, BtoA) → generator function. ``max_images``: stop after this
    many images per domain. ``advance`` is called after each batch (a progress bar).
    ``ground_truth``: also score PSNR/SSIM where batches carry ``A_target`` / ``B_target``.
    """
    seen: dict[str, set[str]] = {"A": set(), "B": set()}
    for batch in batches:
        fresh = {domain: _fresh(batch, domain, seen[domain], max_images) for domain in seen}
        for direction, translate in translators.items():
            source_key, target_key = DOMAINS[direction]
            index_source, index_real = fresh[source_key], fresh[target_key]
            source = batch[source_key][index_source]
            fake = to_uint8(translate(source)) if len(index_source) else None
            truth = batch.get(f"{source_key}_target") if ground_truth else None
            metrics.update(
                direction,
                fake=fake,
                real=to_uint8(batch[target_key][index_real]),
                source=to_uint8(source),
                target=to_uint8(truth[index_source]) if truth is not None else None,
            )
        if advance is not None:
            advance()
        if max_images is not None and all(len(paths) >= max_images for paths in seen.values()):
            break
    return {domain: len(paths) for domain, paths in seen.items()}


def _fresh(
    batch: Mapping[str, Any], domain: str, seen: set[str], max_images: int | None
) -> list[int]:
    """Indices of the images of ``domain`` in ``batch`` not scored yet (recorded as seen)."""
    images = batch[domain]
    paths = batch.get(f"{domain}_paths")
    if paths is None:  # no paths: count positions
        paths = [f"#{len(seen) + i}" for i in range(len(images))]
    fresh = []
    for i, path in enumerate(paths):
        if path in seen or (max_images is not None and len(seen) >= max_images):
            continue
        seen.add(path)
        fresh.append(i)
    return fresh

"""Images per second per DataLoader worker: Pillow + transform vs torchvision.io + v2 on tensors.

Writes N random-texture JPEGs per size into a temporary folder (256×256 like horse2zebra, and
larger), then times one process (one worker, one torch thread) doing what the training dataset
does per image: decode, resize to ``load_size``, random crop ``crop_size``, random flip, to
float in [-1, 1].

    python benchmarks/data_throughput.py            # writes benchmarks/results/data_throughput.md
    python benchmarks/data_throughput.py --n 50 --out -   # quick look, print only
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from cyclegan_lit.data.images import load_image, read_image
from cyclegan_lit.data.transforms import build_transform
from cyclegan_lit.machine import describe

SIZES = [(256, 256), (500, 333), (1024, 768)]


def make_jpegs(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    """Photo-like JPEGs: smooth colour fields plus noise (random noise alone is unrealistic)."""
    rng = np.random.default_rng(seed)
    w, h = size
    paths = []
    for i in range(n):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))
        noise = rng.normal(0, 12, (h, w, 3))
        image = np.clip(base + noise, 0, 255).astype(np.uint8)
        path = folder / f"{w}x{h}_{i:04d}.jpg"
        Image.fromarray(image).save(path, quality=90)
        paths.append(path)
    return paths


def pil_path(paths, transform) -> None:
    for p in paths:
        transform(load_image(p, 3))


def tensor_path(paths, transform) -> None:
    for p in paths:
        transform(read_image(p, 3))


def measure(fn, paths, transform, repeats: int) -> float:
    fn(paths[:5], transform)  # warm-up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn(paths, transform)
        best = max(best, len(paths) / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images per size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--load-size", type=int, default=286)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "data_throughput.md")
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one DataLoader worker uses one thread
    transform = build_transform("resize_and_crop", args.load_size, args.crop_size, True, 3)
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            paths = make_jpegs(Path(tmp), args.n, size)
            pil = measure(pil_path, paths, transform, args.repeats)
            tv = measure(tensor_path, paths, transform, args.repeats)
            rows.append((size, pil, tv))
            print(f"{size[0]}x{size[1]}: Pillow {pil:.0f} img/s, torchvision {tv:.0f} img/s")
    load_after = os.getloadavg()[0]
    command = "python benchmarks/data_throughput.py" + (" " + " ".join(argv or sys.argv[1:]))
    lines = [
        "# Data pipeline throughput (one worker)",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {describe()}, "
        f"torchvision {torchvision.__version__}, Pillow {Image.__version__}. "
        f"{args.n} JPEGs (quality 90) per size; best of {args.repeats} passes; "
        f"resize_and_crop {args.load_size} → {args.crop_size}, random flip, float in [-1, 1]. "
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} before and {load_after:.1f} after "
        "the run (a load above the CPU count means other processes shared them: lower numbers).",
        "",
        "| JPEG size (W×H) | Pillow decode + v2 on PIL (img/s) "
        "| torchvision.io + v2 on tensors (img/s) | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for (w, h), pil, tv in rows:
        lines.append(f"| {w}×{h} | {pil:.0f} | {tv:.0f} | {tv / pil:.2f}× |")
    lines += [
        "",
        "The datasets use the torchvision path (`read_image`) for plain JPEG and 8-bit PNG files "
        "and Pillow for every other file.",
        "",
    ]
    text = "\n".join(lines)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The built-in ``synthetic`` dataset: plain objects and striped objects, a one-to-one task.

Each scene is a smooth two-colour gradient background with low-frequency texture and a 2×2 grid
of cells, each holding (with probability 0.85, and at least one per scene) a square or a disc of
its own bright colour, 60–90 % of the cell wide.

* Domain A: every object is flat in its own colour.
* Domain B: the same object with dark horizontal stripes across it, as a zebra's on a horse:
  ``STRIPES`` bands of equal height span the object exactly, the odd ones at ``DARK`` times its
  colour. The background is identical in both domains.

Why this task: CycleGAN can only learn a translation that is one-to-one. When one domain drops
information that the other keeps, the generators learn to hide it in their fakes as a faint signal
instead of translating (Chu et al. 2017, "CycleGAN, a Master of Steganography"). Here each A image
determines its B image (lay the stripes over each object) and each B image its A image (fill the
dark stripes with the colour of the light ones), and every object keeps its colour, so there is
one natural answer. The change is local to the objects but large (the identity map scores badly),
and it depends on each object's extent (the stripes are fractions of its height), so no per-pixel
colour map solves it.

Splits: ``trainA`` renders scenes 0..n_train-1 in style A and ``trainB`` renders *different*
scenes n_train..2·n_train-1 in style B (unpaired, file names shuffled); ``testA/i.png`` and
``testB/i.png`` are scene 2·n_train+i in both styles (paired), for evaluation only, and
``testMask/i.png`` labels its objects (0 background, k for the k-th object) for the share of
objects translated right (``cyclegan_lit.evaluation.objects``).

Everything derives from ``seed`` (numpy ``default_rng([seed, scene])``), so the same parameters
give byte-identical PNGs. ``make_synthetic_dataset`` caches the result: it writes into a temporary
sibling folder, adds ``synthetic.json`` with the parameters, renames it into place atomically and
regenerates only when the marker's parameters differ (a new ``FORMAT_VERSION`` too).
"""

from __future__ import annotations

import colorsys
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MARKER = "synthetic.json"
MASK_SPLIT = "testMask"
FORMAT_VERSION = 3
_SUPERSAMPLE = 4
# B objects: bands of equal height spanning the object, light at both edges, the odd ones dark
STRIPES = 3
DARK = 0.3
_GRID = 2
_OCCUPIED = 0.85
_SIDE = (0.6, 0.9)


@dataclass(frozen=True)
class SceneObject:
    shape: str  # "square" | "disc"
    x0: int
    y0: int
    side: int
    colour: tuple[float, float, float]  # RGB, 0-255


@dataclass(frozen=True)
class Scene:
    background: np.ndarray  # H×W×3 float
    objects: tuple[SceneObject, ...]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    c0, c1 = rng.uniform(50, 170, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    background = c0 * (1 - t[..., None]) + c1 * t[..., None]
    coarse = rng.uniform(-18, 18, size=(5, 5, 3))
    texture = np.asarray(
        Image.fromarray((coarse + 128).astype(np.uint8), "RGB").resize(
            (size, size), Image.Resampling.BICUBIC
        ),
        dtype=np.float64,
    )
    return background + (texture - 128.0)


def _object(rng: np.random.Generator, cell_x: int, cell_y: int, cell: int) -> SceneObject:
    side = int(rng.integers(round(_SIDE[0] * cell), round(_SIDE[1] * cell) + 1))
    gap = max(1, cell // 16)
    x0, y0 = (int(v) for v in rng.integers(gap, max(gap, cell - side - gap) + 1, size=2))
    shape = "square" if rng.random() < 0.5 else "disc"
    hue, saturation, value = rng.random(), rng.uniform(0.55, 0.9), rng.uniform(0.8, 1.0)
    # whole grey levels: an A object's pixels are its colour exactly (tests decode scenes back)
    colour = tuple(float(round(255 * c)) for c in colorsys.hsv_to_rgb(hue, saturation, value))
    return SceneObject(shape, cell_x + x0, cell_y + y0, side, colour)  # type: ignore[arg-type]


def make_scene(index: int, size: int = 64, seed: int = 0) -> Scene:
    """Scene ``index`` of the dataset with ``seed``: deterministic, independent of other scenes."""
    rng = np.random.default_rng([seed, index])
    background = _background(rng, size)
    cell = size // _GRID
    cells = [(col * cell, row * cell) for row in range(_GRID) for col in range(_GRID)]
    occupied = rng.random(len(cells)) < _OCCUPIED
    if not occupied.any():
        occupied[int(rng.integers(len(cells)))] = True
    objects = tuple(
        _object(rng, x, y, cell) for (x, y), used in zip(cells, occupied, strict=True) if used
    )
    return Scene(background, objects)


def _supersampled(size: int) -> np.ndarray:
    return (np.arange(size * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE


def coverage(obj: SceneObject, size: int) -> np.ndarray:
    """Fraction of each pixel covered by the object (antialiased edges)."""
    coords = _supersampled(size)
    x, y = coords[None, :], coords[:, None]
    if obj.shape == "square":
        inside = (x >= obj.x0) & (x < obj.x0 + obj.side) & (y >= obj.y0) & (y < obj.y0 + obj.side)
    else:
        r = obj.side / 2
        inside = (x - obj.x0 - r) ** 2 + (y - obj.y0 - r) ** 2 <= r * r
    return inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))


def _fill(obj: SceneObject, size: int, style: str) -> np.ndarray:
    colour = np.asarray(obj.colour)
    if style == "A":
        return np.broadcast_to(colour, (size, size, 3))
    band = np.floor((_supersampled(size) - obj.y0) * STRIPES / obj.side).astype(int)
    shade = np.where(band % 2 == 1, DARK, 1.0).reshape(size, _SUPERSAMPLE).mean(axis=1)
    return np.broadcast_to(shade[:, None, None] * colour, (size, size, 3))


def render(scene: Scene, style: str) -> np.ndarray:
    """The scene in style ``"A"`` or ``"B"`` as an H×W×3 uint8 array."""
    if style not in ("A", "B"):
        raise ValueError(f"style must be 'A' or 'B', got {style!r}")
    size = scene.background.shape[0]
    image = scene.background.copy()
    for obj in scene.objects:
        cov = coverage(obj, size)[..., None]
        image = image * (1 - cov) + _fill(obj, size, style) * cov
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def object_labels(scene: Scene) -> np.ndarray:
    """H×W uint8: 0 on the background, k on the pixels mostly covered by the k-th object."""
    size = scene.background.shape[0]
    labels = np.zeros((size, size), dtype=np.uint8)
    for k, obj in enumerate(scene.objects, start=1):
        labels[coverage(obj, size) > 0.5] = k
    return labels


def _params(size: int, n_train: int, n_test: int, seed: int) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "size": size,
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
        "paired_test": True,
    }


def read_marker(root: str | os.PathLike) -> dict | None:
    try:
        return json.loads((Path(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None


def has_ground_truth(root: str | os.PathLike) -> bool:
    """Whether ``root`` holds a test split with ground truth (testA/x and testB/x: same scene)."""
    marker = read_marker(root)
    return bool(marker and marker.get("paired_test"))


def _save(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array, "RGB" if array.ndim == 3 else "L").save(path, format="PNG")


def _generate(folder: Path, size: int, n_train: int, n_test: int, seed: int) -> None:
    for split in ("trainA", "trainB", "testA", "testB", MASK_SPLIT):
        (folder / split).mkdir(parents=True)
    names = np.random.default_rng([seed, 2**31 - 1]).permutation(2 * n_train)
    for i in range(n_train):
        _save(render(make_scene(i, size, seed), "A"), folder / "trainA" / f"{names[i]:05d}.png")
        scene_b = make_scene(n_train + i, size, seed)
        _save(render(scene_b, "B"), folder / "trainB" / f"{names[n_train + i]:05d}.png")
    for i in range(n_test):
        scene = make_scene(2 * n_train + i, size, seed)
        _save(render(scene, "A"), folder / "testA" / f"{i:05d}.png")
        _save(render(scene, "B"), folder / "testB" / f"{i:05d}.png")
        _save(object_labels(scene), folder / MASK_SPLIT / f"{i:05d}.png")


def make_synthetic_dataset(
    root: str | os.PathLike,
    size: int = 64,
    n_train: int = 400,
    n_test: int = 50,
    seed: int = 0,
) -> Path:
    """Generate (or reuse) the synthetic dataset at ``root``; returns ``root``."""
    if size < 16:
        raise ValueError(f"data.synthetic_size={size}: must be at least 16")
    if n_train < 1 or n_test < 1:
        key, value = (
            ("data.synthetic_train", n_train) if n_train < 1 else ("data.synthetic_test", n_test)
        )
        raise ValueError(f"{key}={value}: must be >= 1")
    root = Path(root)
    params = _params(size, n_train, n_test, seed)
    if read_marker(root) == params:
        return root
    if root.exists() and read_marker(root) is None and any(root.iterdir()):
        raise FileExistsError(
            f"{root} exists but is not a synthetic dataset (no {MARKER}); move it away or set "
            "data.data_dir elsewhere"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        _generate(tmp, size, n_train, n_test, seed)
        (tmp / MARKER).write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")
        if root.exists():
            old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(root, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, root)
        except OSError:
            if read_marker(root) != params:  # not a concurrent twin that just finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root

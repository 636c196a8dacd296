"""The built-in ``synthetic`` dataset: the same random scenes in two styles, with ground truth.

Each scene is a smooth two-colour gradient background with low-frequency texture and 2–4
non-overlapping objects, each a square or a disc (sides 20–36 % of the image).

* Domain A: every object is flat light grey, whatever its shape.
* Domain B: squares have three horizontal stripes spanning them exactly (dark blue, white, dark
  blue); discs are solid yellow. The background is identical in both domains.

The mapping is exact both ways and local, but it depends on spatial context: A→B has to tell a
grey square from a grey disc (a 1×1 convolution or any per-pixel colour map cannot, since both are
the same grey) and to find the square's top and bottom edges to lay its stripes; B→A has to fill
the white stripe of squares with grey, which needs the surrounding blue. (Format 1 had thin
stripes of a fixed 3 px period anchored at the top edge: a phase that unpaired training barely
constrains, and stripes half a period off score worse than no translation at all.) A generator's
receptive field (a ResNet's or the built-in U-Net's) covers a whole object at 64 px.

Splits: ``trainA`` renders scenes 0..n_train-1 in style A and ``trainB`` renders *different*
scenes n_train..2·n_train-1 in style B (unpaired, file names shuffled); ``testA/i.png`` and
``testB/i.png`` are scene 2·n_train+i in both styles (paired), for evaluation only.

Everything derives from ``seed`` (numpy ``default_rng([seed, scene])``), so the same parameters
give byte-identical PNGs. ``make_synthetic_dataset`` caches the result: it writes into a temporary
sibling folder, adds ``synthetic.json`` with the parameters, renames it into place atomically and
regenerates only when the marker's parameters differ.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MARKER = "synthetic.json"
FORMAT_VERSION = 2
_SUPERSAMPLE = 4
# horizontal stripes of a B square, spanning it exactly: blue, white, blue
_SQUARE_BANDS = 3
_GREY = np.array([215.0, 215.0, 215.0])
_BLUE = np.array([35.0, 60.0, 190.0])
_WHITE = np.array([245.0, 245.0, 250.0])
_YELLOW = np.array([245.0, 205.0, 35.0])


@dataclass(frozen=True)
class SceneObject:
    shape: str  # "square" | "disc"
    x0: int
    y0: int
    side: int


@dataclass(frozen=True)
class Scene:
    background: np.ndarray  # H×W×3 float
    objects: tuple[SceneObject, ...]


def make_scene(index: int, size: int = 64, seed: int = 0) -> Scene:
    """Scene ``index`` of the dataset with ``seed``: deterministic, independent of other scenes."""
    rng = np.random.default_rng([seed, index])
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
    background = background + (texture - 128.0)

    objects: list[SceneObject] = []
    n_objects = int(rng.integers(2, 5))
    lo, hi = max(3, round(0.20 * size)), max(4, round(0.36 * size))
    gap = max(1, size // 32)
    for _ in range(60):
        if len(objects) == n_objects:
            break
        side = int(rng.integers(lo, hi + 1))
        x0, y0 = (int(v) for v in rng.integers(gap, size - side - gap + 1, size=2))
        shape = "square" if rng.random() < 0.5 else "disc"
        if all(
            x0 >= o.x0 + o.side + gap
            or o.x0 >= x0 + side + gap
            or y0 >= o.y0 + o.side + gap
            or o.y0 >= y0 + side + gap
            for o in objects
        ):
            objects.append(SceneObject(shape, x0, y0, side))
    return Scene(background, tuple(objects))


def _coverage(obj: SceneObject, size: int) -> np.ndarray:
    """Fraction of each pixel covered by the object (antialiased disc edges)."""
    if obj.shape == "square":
        mask = np.zeros((size, size))
        mask[obj.y0 : obj.y0 + obj.side, obj.x0 : obj.x0 + obj.side] = 1.0
        return mask
    s = _SUPERSAMPLE
    coords = (np.arange(size * s) + 0.5) / s
    r = obj.side / 2
    cx, cy = obj.x0 + r, obj.y0 + r
    inside = (coords[None, :] - cx) ** 2 + (coords[:, None] - cy) ** 2 <= r * r
    return inside.reshape(size, s, size, s).mean(axis=(1, 3))


def _fill(obj: SceneObject, size: int, style: str) -> np.ndarray:
    if style == "A":
        return np.broadcast_to(_GREY, (size, size, 3))
    if obj.shape == "disc":
        return np.broadcast_to(_YELLOW, (size, size, 3))
    band = (np.arange(size) - obj.y0) * _SQUARE_BANDS // obj.side
    dark = band % 2 == 0  # blue at both edges, white between
    rows = np.where(dark[:, None], _BLUE[None, :], _WHITE[None, :])
    return np.broadcast_to(rows[:, None, :], (size, size, 3))


def render(scene: Scene, style: str) -> np.ndarray:
    """The scene in style ``"A"`` or ``"B"`` as an H×W×3 uint8 array."""
    if style not in ("A", "B"):
        raise ValueError(f"style must be 'A' or 'B', got {style!r}")
    size = scene.background.shape[0]
    image = scene.background.copy()
    for obj in scene.objects:
        cov = _coverage(obj, size)[..., None]
        image = image * (1 - cov) + _fill(obj, size, style) * cov
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


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
    Image.fromarray(array, "RGB").save(path, format="PNG")


def _generate(folder: Path, size: int, n_train: int, n_test: int, seed: int) -> None:
    for split in ("trainA", "trainB", "testA", "testB"):
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

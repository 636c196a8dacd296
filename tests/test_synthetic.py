"""The synthetic dataset: deterministic, cached, one-to-one, a paired test split, needs spatial
context."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan_lit.data.synthetic import (
    MARKER,
    MASK_SPLIT,
    Scene,
    SceneObject,
    coverage,
    has_ground_truth,
    make_scene,
    make_synthetic_dataset,
    object_labels,
    render,
)

PARAMS = dict(size=32, n_train=6, n_test=4, seed=0)


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.png"))
    }


def _load(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])


def test_layout_and_byte_identical_for_the_same_seed(tmp_path):
    a = make_synthetic_dataset(tmp_path / "a", **PARAMS)
    b = make_synthetic_dataset(tmp_path / "b", **PARAMS)
    da = _digests(a)
    assert da == _digests(b)
    for split, n in (("trainA", 6), ("trainB", 6), ("testA", 4), ("testB", 4), (MASK_SPLIT, 4)):
        assert len([k for k in da if k.startswith(split + "/")]) == n
    assert Image.open(next((a / "trainA").glob("*.png"))).size == (32, 32)
    other = make_synthetic_dataset(tmp_path / "c", **{**PARAMS, "seed": 1})
    assert set(_digests(other).values()).isdisjoint(da.values())
    assert has_ground_truth(a) and not has_ground_truth(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_cache_hit_does_not_regenerate_and_changed_params_do(tmp_path):
    root = make_synthetic_dataset(tmp_path / "s", **PARAMS)
    first = root / "testA" / "00000.png"
    stamp = first.stat().st_mtime_ns, first.stat().st_ino
    make_synthetic_dataset(root, **PARAMS)
    assert (first.stat().st_mtime_ns, first.stat().st_ino) == stamp
    make_synthetic_dataset(root, **{**PARAMS, "n_test": 2})
    assert len(list((root / "testA").glob("*.png"))) == 2
    assert json.loads((root / MARKER).read_text())["n_test"] == 2


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        make_synthetic_dataset(tmp_path / "mine", **PARAMS)
    assert (tmp_path / "mine" / "thesis.txt").exists()


def test_test_split_is_paired_and_train_split_is_not(tmp_path):
    root = make_synthetic_dataset(tmp_path / "s", **PARAMS)
    test_a, test_b = _load(root / "testA"), _load(root / "testB")
    same = (test_a == test_b).all(axis=-1)
    assert 0.4 < same.mean() < 0.95  # same background, different objects
    train_b_as_a = {
        render(make_scene(PARAMS["n_train"] + i, 32, 0), "A").tobytes()
        for i in range(PARAMS["n_train"])
    }
    train_a = {img.tobytes() for img in _load(root / "trainA")}
    assert len(train_a) == PARAMS["n_train"] and train_a.isdisjoint(train_b_as_a)


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = ((x.astype(np.float64) - y.astype(np.float64)) ** 2).mean()
    return float(10 * np.log10(255.0**2 / mse))


def test_identity_and_any_per_pixel_colour_map_score_badly():
    scenes = [make_scene(i, 64, 0) for i in range(40)]
    shapes = {o.shape for s in scenes for o in s.objects}
    assert shapes == {"square", "disc"}
    a = np.stack([render(s, "A") for s in scenes])
    b = np.stack([render(s, "B") for s in scenes])
    assert _psnr(a, b) < 16  # the identity map is far from the ground truth
    # The best per-pixel colour map, fitted on these very pairs (the most optimistic case):
    keys = a.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
    _, inverse = np.unique(keys, return_inverse=True)
    sums = np.zeros((inverse.max() + 1, 3))
    np.add.at(sums, inverse, b.reshape(-1, 3).astype(np.float64))
    mean = sums / np.bincount(inverse)[:, None]
    mapped = mean[inverse].reshape(b.shape)
    object_pixels = (a != b).any(axis=-1)
    err = np.abs(mapped - b).max(axis=-1)[object_pixels]
    # it cannot tell a light stripe from a dark one: most changed pixels stay far off
    assert (err > 30).mean() > 0.7


def _own_colour(obj: SceneObject, size: int, style: str) -> np.ndarray:
    """Where ``obj`` alone shows its colour exactly in ``style`` (fully covered, light stripes)."""
    alone = render(Scene(np.zeros((size, size, 3)), (obj,)), style)
    return (alone == np.array(obj.colour, dtype=np.uint8)).all(axis=-1)


def decode_objects(image: np.ndarray, style: str) -> list[SceneObject]:
    """The objects of a rendered scene, read back from its pixels alone. In each cell of the 2×2
    grid the object's colour is the brightest pixel value that covers a large area (in B: the
    light stripes), and its shape, place and size the one whose fully covered (in B, light)
    pixels show exactly that colour; more than one such object is a failure."""
    size = image.shape[0]
    cell = size // 2
    found = []
    for y, x in ((0, 0), (0, cell), (cell, 0), (cell, cell)):
        patch = image[y : y + cell, x : x + cell]
        values, counts = np.unique(patch.reshape(-1, 3), axis=0, return_counts=True)
        frequent = values[counts >= 40]  # a smooth background repeats a value far less often
        if not len(frequent):
            continue
        colour = frequent[frequent.astype(int).sum(axis=1).argmax()]
        mask = np.zeros(image.shape[:2], dtype=bool)
        mask[y : y + cell, x : x + cell] = (patch == colour).all(axis=-1)
        ys, xs = np.nonzero(mask)
        extent = max(np.ptp(ys), np.ptp(xs)) + 1
        candidates = [
            SceneObject(shape, x0, y0, side, tuple(float(c) for c in colour))
            for shape in ("square", "disc")
            for side in range(extent, extent + 3)
            for x0 in range(xs.min() - 3, xs.min() + 1)
            for y0 in range(ys.min() - 3, ys.min() + 1)
        ]
        matches = [c for c in candidates if (_own_colour(c, size, style) == mask).all()]
        assert len(matches) == 1, f"cell ({x}, {y}) of a {style} image: {len(matches)} readings"
        found.extend(matches)
    return found


def translate_through_scene(image: np.ndarray, style: str) -> np.ndarray:
    """The other style's image, computed from ``image`` alone: decode its objects, then swap each
    object's fill in proportion to its coverage (the background is left as it is)."""
    size = image.shape[0]
    other = "B" if style == "A" else "A"
    blank = np.zeros((size, size, 3))
    out = image.astype(np.float64)
    for obj in decode_objects(image, style):
        # over a background of the object's own colour, the two styles differ by exactly what
        # the object changes, in proportion to its coverage of each pixel
        alone = {st: render(Scene(blank + np.asarray(obj.colour), (obj,)), st) for st in "AB"}
        out += alone[other].astype(np.float64) - alone[style].astype(np.float64)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.slow
def test_each_domain_determines_the_other_through_the_scene():
    """One-to-one on the renderer itself, for every test scene of the default run (20 scenes
    after 2 x 200 training scenes, 64 px): the objects decoded from A and from B are the scene's
    own, and each image translated through them gives the other to within rounding (two grey
    levels: the image and the two renderings of each object are each rounded once)."""
    for index in range(400, 420):
        scene = make_scene(index, 64, 0)
        a, b = render(scene, "A"), render(scene, "B")
        assert decode_objects(a, "A") == decode_objects(b, "B") == list(scene.objects)
        for image, style, other in ((a, "A", b), (b, "B", a)):
            error = np.abs(translate_through_scene(image, style).astype(int) - other)
            assert error.max() <= 2, (index, style, error.max())


def test_mask_labels_each_object_of_the_test_pairs(tmp_path):
    root = make_synthetic_dataset(tmp_path / "s", **PARAMS)
    for i in range(PARAMS["n_test"]):
        scene = make_scene(2 * PARAMS["n_train"] + i, 32, 0)
        labels = np.asarray(Image.open(root / MASK_SPLIT / f"{i:05d}.png"))
        assert (labels == object_labels(scene)).all()
        assert set(np.unique(labels)) == set(range(len(scene.objects) + 1))
        a = np.asarray(Image.open(root / "testA" / f"{i:05d}.png"))
        b = np.asarray(Image.open(root / "testB" / f"{i:05d}.png"))
        changed = (a != b).any(axis=-1)
        assert not changed[labels == 0].any() or (coverage_sum(scene) > 0)[changed].all()
        assert changed[labels > 0].mean() > 0.25  # the stripes cover a large part of each object


def coverage_sum(scene: Scene) -> np.ndarray:
    size = scene.background.shape[0]
    return sum(coverage(o, size) for o in scene.objects)

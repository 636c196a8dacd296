"""The synthetic dataset: deterministic, cached, a paired test split, needs spatial context."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cyclegan_lit.data.synthetic import (
    MARKER,
    has_ground_truth,
    make_scene,
    make_synthetic_dataset,
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
    for split, n in (("trainA", 6), ("trainB", 6), ("testA", 4), ("testB", 4)):
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
    assert _psnr(a, b) < 20  # the identity map is far from the ground truth
    # The best per-pixel colour map, fitted on these very pairs (the most optimistic case):
    keys = a.reshape(-1, 3).astype(np.int64) @ np.array([65536, 256, 1])
    _, inverse = np.unique(keys, return_inverse=True)
    sums = np.zeros((inverse.max() + 1, 3))
    np.add.at(sums, inverse, b.reshape(-1, 3).astype(np.float64))
    mean = sums / np.bincount(inverse)[:, None]
    mapped = mean[inverse].reshape(b.shape)
    object_pixels = (a != b).any(axis=-1)
    err = np.abs(mapped - b).max(axis=-1)[object_pixels]
    assert (err > 60).mean() > 0.5  # it cannot tell squares from discs: most object pixels wrong

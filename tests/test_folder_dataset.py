"""Unpaired, single-folder and paired datasets: lengths, pairing, direction, channels, bad files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from cyclegan_lit.data.folder import PairedEvalDataset, SingleFolderDataset, UnpairedImageDataset
from cyclegan_lit.data.images import ImageLoadError
from cyclegan_lit.data.sampling import EpochSampler
from cyclegan_lit.data.transforms import build_transform

torch.set_num_threads(1)
SIZE = 16


def _write(path: Path, value: int, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = (value, value, value) if mode == "RGB" else value
    Image.new(mode, (SIZE, SIZE), colour).save(path)


def make_dataset(root: Path, n_a: int = 3, n_b: int = 5, splits=("train",)) -> Path:
    """Images whose grey level encodes domain and index: A_i = 10 + i, B_i = 100 + i."""
    for split in splits:
        for i in range(n_a):
            _write(root / f"{split}A" / f"a{i:02d}.png", 10 + i)
        for i in range(n_b):
            _write(root / f"{split}B" / f"b{i:02d}.png", 100 + i)
    return root


def _eval(channels: int = 3):
    return build_transform("none", flip=False, channels=channels, train=False)


def _dataset(root, **kwargs) -> UnpairedImageDataset:
    kwargs.setdefault("transform_A", _eval(kwargs.get("input_nc", 3)))
    kwargs.setdefault("transform_B", _eval(kwargs.get("output_nc", 3)))
    return UnpairedImageDataset(root, "train", **kwargs)


def _b_names(ds, n=None) -> list[str]:
    return [Path(ds[i]["B_paths"]).name for i in range(n or len(ds))]


def test_length_and_a_cycles(tmp_path):
    ds = _dataset(make_dataset(tmp_path, n_a=3, n_b=5))
    assert len(ds) == 5
    names = [Path(ds[i]["A_paths"]).name for i in range(5)]
    assert names == ["a00.png", "a01.png", "a02.png", "a00.png", "a01.png"]
    item = ds[1]
    assert set(item) == {"A", "B", "A_paths", "B_paths"}
    assert item["A"].shape == (3, SIZE, SIZE)
    assert torch.allclose(item["A"], torch.full_like(item["A"], 11 / 127.5 - 1))


def test_serial_pairing(tmp_path):
    ds = _dataset(make_dataset(tmp_path, n_a=5, n_b=3), serial_batches=True)
    assert _b_names(ds) == ["b00.png", "b01.png", "b02.png", "b00.png", "b01.png"]


def test_random_pairing_is_reproducible_and_differs_by_seed_and_rank(tmp_path):
    root = make_dataset(tmp_path, n_a=40, n_b=40)
    first = _b_names(_dataset(root, seed=1))
    assert first == _b_names(_dataset(root, seed=1))
    assert first != _b_names(_dataset(root, seed=2))
    assert first != _b_names(_dataset(root, seed=1, rank=1))
    assert len(set(first)) > 10  # drawn over the whole domain, not serial
    assert first != [f"b{i:02d}.png" for i in range(40)]


def _epochs(ds, epochs=2, resume: tuple[int, int] | None = None, **kwargs) -> list[list[tuple]]:
    """(A name, B name, A pixels) per item, per epoch, through an EpochSampler as in training."""
    sampler = EpochSampler(len(ds), seed=7)
    if resume is not None:
        sampler.resume_at(*resume)
    loader = DataLoader(ds, batch_size=1, sampler=sampler, **kwargs)
    runs = []
    for epoch in range(resume[0] if resume else 0, epochs):
        sampler.set_epoch(epoch)
        runs.append(
            [(Path(b["A_paths"][0]).name, Path(b["B_paths"][0]).name, b["A"]) for b in loader]
        )
    return runs


@pytest.mark.parametrize("persistent", [False, True])
def test_pairing_crops_and_flips_follow_the_item_not_the_workers(tmp_path, persistent):
    root = make_dataset(tmp_path, n_a=24, n_b=200)
    rng = np.random.default_rng(0)
    for path in sorted((root / "trainA").glob("*.png")):  # texture, so crops and flips show
        Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
    ds = _dataset(root, seed=3)
    ds.domain_A.transform = build_transform("resize_and_crop", 12, 8, flip=True, channels=3)
    ds.domain_A.paths = ds.domain_A.paths * 5  # 120 items, cheap: same 24 files
    plain = _epochs(ds)
    workers = _epochs(ds, num_workers=2, persistent_workers=persistent)
    for one, other in zip(plain, workers, strict=True):  # the same draws whatever the workers
        assert [x[:2] for x in one] == [x[:2] for x in other]
        assert all(torch.equal(x[2], y[2]) for x, y in zip(one, other, strict=True))
    epoch0, epoch1 = plain
    assert [x[0] for x in epoch0] != [x[0] for x in epoch1]  # a new order every epoch
    pairs0, pairs1 = dict(x[:2] for x in epoch0[:24]), dict(x[:2] for x in epoch1[:24])
    assert pairs0 != pairs1  # and new partners
    crops = {x[0]: x[2] for x in epoch0}
    assert sum(not torch.equal(crops[x[0]], x[2]) for x in epoch1) > 10  # and new crops/flips


def test_a_resumed_epoch_continues_with_the_same_items(tmp_path):
    ds = _dataset(make_dataset(tmp_path, n_a=10, n_b=30), seed=3)
    (full,) = _epochs(ds, epochs=2)[1:]
    (resumed,) = _epochs(ds, epochs=2, resume=(1, 4))
    assert [x[:2] for x in resumed] == [x[:2] for x in full[4:]]
    assert all(torch.equal(x[2], y[2]) for x, y in zip(resumed, full[4:], strict=True))


def test_btoa_swaps_folders_and_channels(tmp_path):
    root = make_dataset(tmp_path, n_a=2, n_b=3)
    ds = _dataset(root, direction="BtoA", input_nc=1, output_nc=3, serial_batches=True)
    item = ds[0]
    assert Path(item["A_paths"]).parent.name == "trainB"
    assert Path(item["B_paths"]).parent.name == "trainA"
    assert item["A"].shape == (1, SIZE, SIZE) and item["B"].shape == (3, SIZE, SIZE)
    assert len(ds) == 3


def test_grayscale_one_channel_both_ways(tmp_path):
    root = tmp_path
    for i in range(2):
        _write(root / "trainA" / f"{i}.png", 50 + i, mode="L")
        _write(root / "trainB" / f"{i}.png", 150 + i)
    item = _dataset(root, input_nc=1, output_nc=1)[0]
    assert item["A"].shape == (1, SIZE, SIZE) and item["B"].shape == (1, SIZE, SIZE)
    item = _dataset(root, input_nc=3, output_nc=1)[0]
    assert item["A"].shape == (3, SIZE, SIZE)


def test_max_dataset_size_truncates_each_domain(tmp_path):
    ds = _dataset(make_dataset(tmp_path, n_a=6, n_b=8), max_dataset_size=4)
    assert len(ds.A_paths) == 4 and len(ds.B_paths) == 4 and len(ds) == 4


# -- bad input ----------------------------------------------------------------------------------


def test_missing_root_split_and_empty_domain(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data\.root") as err:
        _dataset(tmp_path / "absent")
    assert "\n" not in str(err.value)
    make_dataset(tmp_path, n_a=2, n_b=2)
    with pytest.raises(FileNotFoundError, match="testA") as err:
        UnpairedImageDataset(tmp_path, "test")
    assert "\n" not in str(err.value)
    for p in (tmp_path / "trainB").iterdir():
        p.unlink()
    (tmp_path / "trainB" / "readme.txt").write_text("no images")
    with pytest.raises(FileNotFoundError, match="no images") as err:
        _dataset(tmp_path)
    assert "trainB" in str(err.value) and "\n" not in str(err.value)


def test_bad_file_is_skipped_warned_once_and_counted(tmp_path, caplog):
    root = make_dataset(tmp_path, n_a=3, n_b=2)
    bad = root / "trainA" / "a01.png"
    bad.write_bytes(b"")  # zero bytes
    ds = _dataset(root, serial_batches=True)
    with caplog.at_level(logging.WARNING, logger="cyclegan_lit.data.folder"):
        names = [Path(ds[i]["A_paths"]).name for i in [0, 1, 2, 1, 1]]
    assert names == ["a00.png", "a02.png", "a02.png", "a02.png", "a02.png"]
    assert list(ds.bad_files) == [str(bad)]
    warnings = [r for r in caplog.records if str(bad) in r.getMessage()]
    assert len(warnings) == 1


def test_bad_files_in_workers_do_not_crash_the_loader(tmp_path):
    root = make_dataset(tmp_path, n_a=4, n_b=4)
    (root / "trainA" / "a02.png").write_bytes(b"not a png at all")
    (root / "trainB" / "b03.png").write_bytes(b"")
    loader = DataLoader(_dataset(root), batch_size=2, num_workers=2)
    batches = list(loader)
    assert sum(len(b["A_paths"]) for b in batches) == 4
    seen = {Path(p).name for b in batches for p in b["A_paths"] + b["B_paths"]}
    assert "a02.png" not in seen and "b03.png" not in seen


def test_whole_domain_unreadable_is_one_error(tmp_path):
    root = make_dataset(tmp_path, n_a=2, n_b=2)
    for p in (root / "trainB").iterdir():
        p.write_bytes(b"")
    ds = _dataset(root)
    with pytest.raises(ImageLoadError, match="none of the 2 images") as err:
        ds[0]
    assert "\n" not in str(err.value)


# -- single folder and paired evaluation -----------------------------------------------------------


def test_single_folder_nested_with_key(tmp_path):
    _write(tmp_path / "x" / "1.png", 10)
    _write(tmp_path / "x" / "deeper" / "2.jpg", 20)
    ds = SingleFolderDataset(tmp_path / "x", key="B", channels=1)
    assert len(ds) == 2
    item = ds[1]
    assert set(item) == {"B", "B_paths"} and item["B"].shape == (1, SIZE, SIZE)
    assert item["B_paths"].endswith("2.jpg")


def test_paired_eval_targets(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        scene = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        for split, offset in (("testA", 0), ("testB", 1)):
            (tmp_path / split).mkdir(exist_ok=True)
            Image.fromarray(scene // 2 + offset).save(tmp_path / split / f"{i}.png")
    ds = PairedEvalDataset(tmp_path, "test", max_dataset_size=2)
    assert len(ds) == 2
    item = ds[1]
    assert Path(item["A_paths"]).name == Path(item["B_paths"]).name == "1.png"
    assert torch.equal(item["A_target"], item["B"]) and torch.equal(item["B_target"], item["A"])
    swapped = PairedEvalDataset(tmp_path, "test", direction="BtoA")[1]
    assert torch.equal(swapped["A"], item["B"])
    (tmp_path / "testB" / "2.png").rename(tmp_path / "testB" / "other.png")
    with pytest.raises(ValueError, match="not paired"):
        PairedEvalDataset(tmp_path, "test")


def test_under_ddp_each_rank_takes_its_share_and_resumes_inside_it():
    """Two ranks cover the epoch's order (padded to equal shares, as DistributedSampler does);
    Lightning keeps the sampler (it is a DistributedSampler), and a resume skips each rank's
    trained items only."""
    from torch.utils.data import DistributedSampler

    whole = list(EpochSampler(7, seed=7))
    shares = [list(EpochSampler(7, seed=7, num_replicas=2, rank=rank)) for rank in (0, 1)]
    assert isinstance(EpochSampler(7), DistributedSampler)
    assert [len(s) for s in shares] == [4, 4] == [len(EpochSampler(7, num_replicas=2, rank=r))
                                                  for r in (0, 1)]  # fmt: skip
    assert shares[0] == whole[0::2] and shares[1][:3] == whole[1::2]
    assert shares[1][3] == whole[0]  # the padding repeats the first item
    resumed = EpochSampler(7, seed=7, num_replicas=2, rank=1)
    resumed.resume_at(0, 2)
    assert list(resumed) == shares[1][2:]
    assert list(resumed) == shares[1]  # used once: the next pass is the whole share

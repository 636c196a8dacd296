"""UnpairedDataModule: real DataLoader workers on synthetic and folder data, options, DDP ranks."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

from cyclegan_lit.data import UnpairedDataModule
from cyclegan_lit.distributed import destroy_process_group_at_exit

torch.set_num_threads(1)
TINY = dict(
    synthetic_size=16,
    synthetic_train=6,
    synthetic_test=5,
    load_size=20,
    crop_size=16,
    batch_size=2,
    num_val_images=3,
)


def _batches(loader) -> list[dict]:
    return list(loader)


def test_synthetic_end_to_end_with_workers(tmp_path):
    dm = UnpairedDataModule(name="synthetic", data_dir=str(tmp_path), num_workers=2, **TINY)
    dm.prepare_data()
    assert dm.dataset_root == tmp_path / "synthetic_16px_seed0_train6_test5" and dm.has_ground_truth
    dm.setup()
    train = _batches(dm.train_dataloader())
    assert len(train) == 3 and set(train[0]) == {"A", "B", "A_paths", "B_paths"}
    assert train[0]["A"].shape == (2, 3, 16, 16) and train[0]["A"].dtype == torch.float32
    assert all(b["A"].min() >= -1 and b["A"].max() <= 1 for b in train)
    val = _batches(dm.val_dataloader())
    assert sum(len(b["A_paths"]) for b in val) == 3
    assert {"A_target", "B_target"} <= set(val[0])
    assert torch.equal(val[0]["A_target"], val[0]["B"])
    assert [Path(p).name for p in val[0]["A_paths"]] == [Path(p).name for p in val[0]["B_paths"]]
    assert _batches(dm.val_dataloader())[0]["A"].equal(val[0]["A"])  # deterministic
    test = _batches(dm.test_dataloader())
    assert sum(len(b["A_paths"]) for b in test) == 5 and "A_target" in test[0]
    labels = test[0]["labels"]  # the objects of each test scene, at the images' size
    assert labels.shape == (2, 16, 16) and labels.dtype == torch.uint8 and labels.max() >= 1
    predict = _batches(dm.predict_dataloader())
    assert set(predict[0]) == {"A", "A_paths"}
    assert sum(len(b["A_paths"]) for b in predict) == 5
    assert all(Path(p).parent.name == "testA" for b in predict for p in b["A_paths"])


def test_synthetic_data_with_other_counts_does_not_replace_a_cached_copy(tmp_path):
    """Two runs side by side (or a sweep over data.synthetic_train) share data_dir: the second
    must not regenerate the folder the first is reading."""
    first = UnpairedDataModule(name="synthetic", data_dir=str(tmp_path), num_workers=0, **TINY)
    first.prepare_data()
    image = first.dataset_root / "trainA" / "00000.png"
    stamp = image.stat().st_ino, image.stat().st_mtime_ns
    more = {**TINY, "synthetic_train": 8}
    second = UnpairedDataModule(name="synthetic", data_dir=str(tmp_path), num_workers=0, **more)
    second.prepare_data()
    assert second.dataset_root != first.dataset_root
    assert (image.stat().st_ino, image.stat().st_mtime_ns) == stamp
    assert len(list((second.dataset_root / "trainA").glob("*.png"))) == 8


def _folder_dataset(root: Path, splits=("train", "test"), n=3, size=24) -> Path:
    for split in splits:
        for domain, value in (("A", 30), ("B", 200)):
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (size + 4 * i, size), (value + i,) * 3).save(folder / f"{i}.jpg")
    return root


def test_folder_btoa_grayscale_predict_dir(tmp_path):
    root = _folder_dataset(tmp_path / "mine")
    dm = UnpairedDataModule(
        name="folder",
        root=str(root),
        direction="BtoA",
        input_nc=1,
        output_nc=3,
        num_workers=0,
        predict_domain="B",
        predict_dir=str(root / "trainA"),
        **{**TINY, "load_size": 24},
    )
    dm.prepare_data()
    dm.setup()
    assert not dm.has_ground_truth and (dm.input_nc, dm.output_nc) == (1, 3)
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (2, 1, 16, 16) and batch["B"].shape == (2, 3, 16, 16)
    assert all(Path(p).parent.name == "trainB" for p in batch["A_paths"])
    val = next(iter(dm.val_dataloader()))
    assert "A_target" not in val and all(Path(p).parent.name == "testB" for p in val["A_paths"])
    predict = next(iter(dm.predict_dataloader()))
    assert set(predict) == {"B", "B_paths"} and predict["B"].shape[1] == 3
    assert all(Path(p).parent.name == "trainA" for p in predict["B_paths"])


def test_scale_width_eval_batches_one_image_at_a_time(tmp_path):
    root = _folder_dataset(tmp_path / "mine")
    dm = UnpairedDataModule(
        name="folder", root=str(root), preprocess="scale_width", num_workers=0, **TINY
    )
    dm.setup("validate")
    shapes = {tuple(b["A"].shape) for b in dm.val_dataloader()}
    assert all(s[0] == 1 for s in shapes) and all(s[-1] == 20 for s in shapes)


def test_no_test_split_validates_on_train_and_test_stage_says_what_is_missing(tmp_path):
    root = _folder_dataset(tmp_path / "mine", splits=("train",))
    dm = UnpairedDataModule(name="folder", root=str(root), num_workers=0, **TINY)
    dm.setup("fit")
    val = next(iter(dm.val_dataloader()))
    assert all(Path(p).parent.name == "trainA" for p in val["A_paths"])
    with pytest.raises(FileNotFoundError, match="testA") as err:
        dm.setup("test")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs,option",
    [
        (dict(direction="AB"), "data.direction"),
        (dict(preprocess="resize"), "data.preprocess"),
        (dict(load_size=128, crop_size=256), "data.crop_size"),
        (dict(name="folder"), "data.root"),
        (dict(input_nc=2), "data.input_nc"),
        (dict(predict_domain="C"), "data.predict_domain"),
        (dict(batch_size=0), "data.batch_size"),
        (dict(preprocess="crop", synthetic_size=16, crop_size=32), "data.synthetic_size=16"),
        (dict(name="horze2zebra"), "data.name='horze2zebra'"),
        (dict(batch_size="abc"), "data.batch_size='abc': must be an integer"),
        (dict(max_dataset_size=0), "data.max_dataset_size=0: must be >= 1"),
    ],
)
def test_bad_options_are_one_line_and_name_the_option(kwargs, option):
    with pytest.raises(ValueError) as err:
        UnpairedDataModule(**kwargs)
    assert option in str(err.value) and "\n" not in str(err.value)


def test_missing_folder_root(tmp_path):
    dm = UnpairedDataModule(name="folder", root=str(tmp_path / "nowhere"), num_workers=0)
    with pytest.raises(FileNotFoundError, match="nowhere") as err:
        dm.setup("fit")
    assert "\n" not in str(err.value)


def test_standard_dataset_without_download_fails_clearly(tmp_path):
    download = pytest.importorskip("cyclegan_lit.data.download")
    assert hasattr(download, "ensure_dataset")
    dm = UnpairedDataModule(name="horse2zebra", data_dir=str(tmp_path), download=False)
    assert dm.dataset_root == tmp_path / "horse2zebra"
    with pytest.raises(Exception) as err:
        dm.prepare_data()
    assert "horse2zebra" in str(err.value) and "\n" not in str(err.value).strip()


class _RecordPairs(L.LightningModule):
    """Writes the (A, B) paths each rank trains on to <out>/rank<r>.txt."""

    def __init__(self, out: str) -> None:
        super().__init__()
        self.out = out
        self.w = torch.nn.Parameter(torch.zeros(1))

    def setup(self, stage):
        destroy_process_group_at_exit()

    def training_step(self, batch, batch_idx):
        with open(Path(self.out) / f"rank{self.global_rank}.txt", "a") as f:
            for a, b in zip(batch["A_paths"], batch["B_paths"], strict=True):
                f.write(f"{Path(a).name} {Path(b).name}\n")
        return (self.w * batch["A"].mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.slow
def test_ddp_ranks_see_different_images_and_pairings(tmp_path):
    dm = UnpairedDataModule(
        name="synthetic",
        data_dir=str(tmp_path),
        num_workers=0,
        **{**TINY, "batch_size": 1, "synthetic_train": 16},
    )
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_RecordPairs(str(tmp_path)), datamodule=dm)
    pairs = [(tmp_path / f"rank{r}.txt").read_text().split("\n")[:-1] for r in (0, 1)]
    assert len(pairs[0]) == len(pairs[1]) == 8
    a_names = [{p.split()[0] for p in rank} for rank in pairs]
    assert a_names[0].isdisjoint(a_names[1])  # the DistributedSampler split the A images
    b_draws = [[p.split()[1] for p in rank] for rank in pairs]
    assert b_draws[0] != b_draws[1]  # each rank draws its own random B sequence

"""The Lightning callbacks: image grids through a real Trainer, throughput against a fake clock."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from cyclegan_lit.callbacks import ImageGridLogger, Throughput
from cyclegan_lit.callbacks import throughput as throughput_module
from cyclegan_lit.data import UnpairedDataModule
from cyclegan_lit.models import CycleGAN

SIZE = 32
PAD = 2  # make_grid's padding around every tile
ALL_COLUMNS = ["real_A", "fake_B", "rec_A", "idt_B", "real_B", "fake_A", "rec_B", "idt_A"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic dataset for the module (generated on first use, then cached)."""
    return tmp_path_factory.mktemp("callbacks_data")


def _datamodule(data_dir: Path, batch_size: int = 1, num_val_images: int = 3):
    return UnpairedDataModule(
        name="synthetic",
        data_dir=str(data_dir),
        synthetic_size=SIZE,
        synthetic_train=4,
        synthetic_test=3,
        load_size=SIZE,
        crop_size=SIZE,
        batch_size=batch_size,
        num_val_images=num_val_images,
        num_workers=0,
        pin_memory=False,
        persistent_workers=False,
    )


def _model(lambda_identity: float = 0.5) -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(
        generator={"name": "resnet_6blocks", "ngf": 8},
        discriminator={"name": "basic", "ndf": 8},
        pool_size=0,
        lambda_identity=lambda_identity,
    )


def _trainer(tmp_path: Path, callbacks: list, **overrides) -> L.Trainer:
    kwargs = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 1,
        "limit_train_batches": 1,
        "limit_val_batches": 1,
        "num_sanity_val_steps": 0,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": tmp_path,
        "callbacks": callbacks,
    }
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def _pngs(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "images").glob("*.png"))


# ---------------------------------------------------------------------------- ImageGridLogger
def test_grid_every_n_epochs_only(tmp_path, data_dir):
    grids = ImageGridLogger(every_n_epochs=2, num_images=1)
    trainer = _trainer(tmp_path, [grids], max_epochs=3)
    trainer.fit(_model(), datamodule=_datamodule(data_dir))
    # Epochs 0, 1, 2: only the second (index 1) is an every-2nd epoch.
    assert _pngs(tmp_path) == ["epoch_001.png"]
    assert grids.saved == [tmp_path / "images" / "epoch_001.png"]


def test_grid_every_n_batches_counts_batches_not_optimizer_steps(tmp_path, data_dir):
    # every_n_epochs=5 > max_epochs: only the batch grids are written.
    grids = ImageGridLogger(every_n_epochs=5, every_n_batches=2, num_images=1)
    trainer = _trainer(tmp_path, [grids], max_epochs=2, limit_train_batches=4, limit_val_batches=0)
    trainer.fit(_model(), datamodule=_datamodule(data_dir))
    # Two optimizer steps per batch: global_step is twice the batch count.
    assert trainer.global_step == 2 * 2 * 4
    assert _pngs(tmp_path) == [
        "epoch_000_batch_000002.png",
        "epoch_000_batch_000004.png",
        "epoch_001_batch_000002.png",
        "epoch_001_batch_000004.png",
    ]


def test_grid_nothing_during_sanity_check_or_validate(tmp_path, data_dir):
    grids = ImageGridLogger(every_n_epochs=1, num_images=1)
    seen_after_sanity: list[list[str]] = []

    class Probe(L.Callback):  # runs after ImageGridLogger: it sees what the sanity check wrote
        def on_sanity_check_end(self, trainer, pl_module):
            assert trainer.sanity_checking
            seen_after_sanity.append(_pngs(tmp_path))

    trainer = _trainer(tmp_path, [grids, Probe()], num_sanity_val_steps=1)
    model, dm = _model(), _datamodule(data_dir)
    trainer.fit(model, datamodule=dm)
    assert seen_after_sanity == [[]]
    assert _pngs(tmp_path) == ["epoch_000.png"]

    (tmp_path / "images" / "epoch_000.png").unlink()
    trainer.validate(model, datamodule=dm, verbose=False)
    assert _pngs(tmp_path) == []


def _tile(grid: np.ndarray, row: int, col: int) -> np.ndarray:
    top, left = PAD + row * (SIZE + PAD), PAD + col * (SIZE + PAD)
    return grid[top : top + SIZE, left : left + SIZE]


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """A CHW image in [-1, 1] as the grid draws it: HWC uint8."""
    unit = (image.clamp(-1, 1) + 1) / 2
    return (unit.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@pytest.mark.parametrize(
    ("lambda_identity", "columns"),
    [(0.5, ALL_COLUMNS), (0.0, [c for c in ALL_COLUMNS if not c.startswith("idt")])],
)
def test_grid_png_has_a_row_per_image_and_a_column_per_visual(
    tmp_path, data_dir, lambda_identity, columns
):
    # 3 images from val batches of 2: the fixed batch spans two loader batches.
    grids = ImageGridLogger(num_images=3)
    dm = _datamodule(data_dir, batch_size=2, num_val_images=3)
    trainer = _trainer(tmp_path, [grids])
    trainer.fit(_model(lambda_identity), datamodule=dm)
    assert _pngs(tmp_path) == ["epoch_000.png"]

    image = Image.open(tmp_path / "images" / "epoch_000.png")
    assert image.mode == "RGB"
    grid = np.asarray(image)
    assert grid.dtype == np.uint8
    rows = 3
    assert grid.shape == (PAD + rows * (SIZE + PAD), PAD + len(columns) * (SIZE + PAD), 3)

    # The real images sit where their columns say, one validation image per row, in order.
    val = list(dm.val_dataloader())
    real_A = torch.cat([b["A"] for b in val])
    real_B = torch.cat([b["B"] for b in val])
    assert len(real_A) == rows
    for row in range(rows):
        np.testing.assert_array_equal(
            _tile(grid, row, columns.index("real_A")), _to_uint8(real_A[row])
        )
        np.testing.assert_array_equal(
            _tile(grid, row, columns.index("real_B")), _to_uint8(real_B[row])
        )
    # The generated columns are not copies of the input.
    assert not np.array_equal(_tile(grid, 0, 1), _tile(grid, 0, 0))


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"every_n_epochs": 0}, "every_n_epochs"),
        ({"every_n_batches": 0}, "every_n_batches"),
    ],
)
def test_grid_bad_intervals_name_the_option(kwargs, option):
    with pytest.raises(ValueError, match=rf"image_grid\.{option}"):
        ImageGridLogger(**kwargs)


# ---------------------------------------------------------------------------- Throughput
class Recorder(L.LightningModule):
    """Stand-in module: ``log`` records what the callback sends."""

    def __init__(self) -> None:
        super().__init__()
        self.logged: list[tuple[str, float, dict]] = []

    def log(self, name, value, **kwargs) -> None:  # type: ignore[override]
        self.logged.append((name, float(value), kwargs))

    @property
    def rates(self) -> list[float]:
        assert {name for name, _, _ in self.logged} <= {"train/images_per_sec"}
        return [value for _, value, _ in self.logged]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(throughput_module, "time", SimpleNamespace(perf_counter=fake))
    return fake


def _batch(n: int) -> dict:
    return {"A": torch.zeros(n, 3, 4, 4), "B": torch.zeros(n, 3, 4, 4)}


def _batch_end(callback, trainer, module, clock, at: float, images: int, batch_idx: int = 0):
    clock.now = at
    callback.on_train_batch_end(trainer, module, None, _batch(images), batch_idx)


def test_throughput_skips_first_batch_of_each_epoch(clock):
    callback, module, trainer = Throughput(window=10), Recorder(), SimpleNamespace(world_size=1)
    callback.on_train_epoch_start(trainer, module)
    _batch_end(callback, trainer, module, clock, at=5.0, images=2)  # start-up: not counted
    assert module.logged == []
    _batch_end(callback, trainer, module, clock, at=5.5, images=2, batch_idx=1)
    assert module.rates == pytest.approx([4.0])  # 2 images in 0.5 s
    name, _, kwargs = module.logged[0]
    assert name == "train/images_per_sec" and kwargs["on_step"] and not kwargs["on_epoch"]

    # A new epoch: the gap since the last batch (validation, say) and its first batch are not
    # counted; the next batch adds 3 images in 1 s to the window: (2 + 3) / (0.5 + 1).
    callback.on_train_epoch_start(trainer, module)
    _batch_end(callback, trainer, module, clock, at=100.0, images=2)
    assert len(module.logged) == 1
    _batch_end(callback, trainer, module, clock, at=101.0, images=3, batch_idx=1)
    assert module.rates == pytest.approx([4.0, 5 / 1.5])


def test_throughput_averages_the_last_window_batches(clock):
    callback, module, trainer = Throughput(window=2), Recorder(), SimpleNamespace(world_size=1)
    callback.on_train_epoch_start(trainer, module)
    ends = [(0.0, 1), (1.0, 2), (1.5, 2), (3.5, 4)]
    for i, (at, images) in enumerate(ends):
        _batch_end(callback, trainer, module, clock, at=at, images=images, batch_idx=i)
    # 2 images in 1 s; then (2 + 2) / (1 + 0.5); then the first drops out: (2 + 4) / (0.5 + 2).
    assert module.rates == pytest.approx([2.0, 4 / 1.5, 6 / 2.5])


def test_throughput_counts_the_images_of_all_ranks(clock):
    callback, module, trainer = Throughput(window=5), Recorder(), SimpleNamespace(world_size=4)
    callback.on_train_epoch_start(trainer, module)
    _batch_end(callback, trainer, module, clock, at=0.0, images=2)
    _batch_end(callback, trainer, module, clock, at=2.0, images=2, batch_idx=1)
    assert module.rates == pytest.approx([4.0])  # 2 images x 4 ranks in 2 s


def test_throughput_window_must_be_positive():
    with pytest.raises(ValueError, match=r"throughput\.window"):
        Throughput(window=0)


def test_throughput_reaches_the_trainer_metrics(tmp_path, data_dir):
    """Through a real Trainer (real clock): the value lands in callback_metrics."""
    trainer = _trainer(tmp_path, [Throughput(window=2)], limit_train_batches=3, limit_val_batches=0)
    trainer.fit(_model(), datamodule=_datamodule(data_dir))
    rate = trainer.callback_metrics["train/images_per_sec"].item()
    assert np.isfinite(rate) and rate > 0

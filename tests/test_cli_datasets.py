"""`cyclegan-train` on a user's folder, and on a standard dataset fetched over HTTP on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import only_run_dir, read_metrics, run_cli
from PIL import Image
from test_download import DatasetServer, dataset_zip

# The tiny-run overrides of conftest.TINY_OVERRIDES, minus the synthetic-only keys.
SMALL = [
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "model.scheduler.n_epochs=1",
    "model.scheduler.n_epochs_decay=0",
    "data.load_size=36",
    "data.crop_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "data.pin_memory=false",
    "trainer.accelerator=cpu",
    "logger=csv",
    "~callbacks.rich_progress_bar",
]


def _folder_dataset(root: Path) -> Path:
    for split, colour in (("trainA", 30), ("trainB", 200), ("testA", 60), ("testB", 220)):
        (root / split / "nested").mkdir(parents=True)
        for i in range(3):
            size = (40 + 4 * i, 36)  # odd sizes: the crop makes batches of one shape
            Image.new("RGB", size, (colour, i * 40, 255 - colour)).save(
                root / split / "nested" / f"{i}.JPG"
            )
    return root


@pytest.mark.slow
def test_trains_on_a_users_folder(tmp_path: Path, cli_env: dict[str, str]) -> None:
    root = _folder_dataset(tmp_path / "my data")
    result = run_cli([*SMALL, "data=folder", f"data.root={root}"], tmp_path, cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run_dir(tmp_path)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert list((run / "images").glob("*.png")), "no image grid written"


@pytest.mark.slow
def test_a_folder_without_a_test_split_trains_and_skips_the_test(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    root = _folder_dataset(tmp_path / "no test")
    for split in ("testA", "testB"):
        shutil.rmtree(root / split)
    result = run_cli([*SMALL, "data=folder", f"data.root={root}"], tmp_path, cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"no testA/ and testB/ under {root}: skipping the test" in result.stderr
    run = only_run_dir(tmp_path)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not any(k.startswith("test/") for k in read_metrics(run)["metrics"])


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["skip", "error"])
def test_truncated_image_met_mid_epoch_is_skipped_or_one_line_by_option(
    tmp_path: Path, cli_env: dict[str, str], policy: str
) -> None:
    """A file that lists fine but cannot be decoded when its turn comes, read by a worker."""
    root = _folder_dataset(tmp_path / "data")
    bad = root / "trainA" / "nested" / "2.JPG"
    bad.write_bytes(bad.read_bytes()[:200])
    overrides = [*SMALL, "data=folder", f"data.root={root}", f"data.bad_images={policy}"]
    overrides += ["data.num_workers=1", "data.batch_size=1"]
    result = run_cli(overrides, tmp_path, cli_env)
    if policy == "skip":
        assert result.returncode == 0, result.stderr[-3000:]
        assert (
            f"skipping unreadable image (1 in {root / 'trainA'} so far)"
            in result.stdout + result.stderr
        )
    else:
        assert result.returncode == 1, result.stderr[-3000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("cyclegan-train: error: cannot read image"), last
        assert str(bad) in last and "data.bad_images=skip" in last


@pytest.mark.slow
def test_folder_without_trainB_says_which_folder(tmp_path: Path, cli_env: dict[str, str]) -> None:
    root = tmp_path / "half"
    (root / "trainA").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(root / "trainA" / "a.png")
    result = run_cli([*SMALL, "data=folder", f"data.root={root}"], tmp_path, cli_env)
    assert result.returncode != 0
    assert str(root / "trainB") in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_standard_dataset_downloads_then_trains(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """`data=mini` with the base URL on a local server: download, verify, extract, train."""
    with DatasetServer() as server:
        server.files["/mini.zip"] = dataset_zip("mini")
        args = [*SMALL, "data=mini", f"data.base_url={server.url}", "paths.data_dir=datasets"]
        result = run_cli(args, tmp_path, cli_env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert [r["path"] for r in server.requests] == ["/mini.zip"]
        assert (tmp_path / "datasets" / "mini" / ".complete").is_file()
        assert (only_run_dir(tmp_path) / "checkpoints" / "last.ckpt").is_file()
        # A second run finds the dataset in place and asks the server nothing.
        result = run_cli(args, tmp_path, cli_env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert len(server.requests) == 1


@pytest.mark.slow
def test_horse2zebra_download_is_verified_against_its_published_checksum(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """A server that hands out a wrong horse2zebra.zip is caught: one line, nothing left behind."""
    with DatasetServer() as server:
        server.files["/horse2zebra.zip"] = dataset_zip("horse2zebra")
        args = [*SMALL, "data=horse2zebra", f"data.base_url={server.url}", "paths.data_dir=ds"]
        result = run_cli(args, tmp_path, cli_env)
    assert result.returncode != 0
    assert server.requests and server.requests[0]["path"] == "/horse2zebra.zip"
    assert "horse2zebra" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "ds" / "horse2zebra").exists()


@pytest.mark.slow
def test_wrong_option_value_is_one_line_naming_the_option(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = run_cli([*SMALL, "model.gan_mode=wgan"], tmp_path, cli_env)
    assert result.returncode != 0
    assert "model.gan_mode='wgan'" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("cyclegan-train: error:")

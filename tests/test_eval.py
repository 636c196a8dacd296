"""`cyclegan-eval` and the FID callback, offline: a fixed-seed tiny feature network stands in for
the Inception (whose weights cannot be downloaded here); the Inception path itself runs once on
random weights of its real architecture."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import TINY_OVERRIDES, composed, run_cli
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from PIL import Image
from torch import nn

from cyclegan_lit.callbacks.fid import FIDCallback
from cyclegan_lit.cli.errors import exit_on_user_error
from cyclegan_lit.cli.evaluate import PROG, evaluate
from cyclegan_lit.evaluation import (
    INCEPTION_URL,
    TranslationMetrics,
    build_feature_extractor,
)
from cyclegan_lit.models import CycleGAN

TESTS = Path(__file__).resolve().parent
EVAL_CLI = Path(sys.executable).parent / "cyclegan-eval"
DATA = [o for o in TINY_OVERRIDES if o.startswith("data.")]  # 32 px, 4 test images a domain
FOLDER = ["data=folder", *(o for o in DATA if not o.startswith("data.synthetic"))]
TINY_FEATURES = "features={_target_:test_eval.TinyFeatures}"
N_TEST = 4


class TinyFeatures(nn.Module):
    """A fixed-seed random conv net with global pooling: N×3×H×W floats in [0, 1] → N×16."""

    def __init__(self, dim: int = 16, seed: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, dim, 3, stride=2, padding=1)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.conv2(torch.relu(self.conv1(images))).mean(dim=(2, 3))


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread, as the CLI subprocesses get (cli_env): on a shared 2-core machine
    OpenMP's spinning threads made these tests tens of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval_data")


def _overrides(data_dir: Path, out: Path, *extra: str) -> list[str]:
    data = FOLDER if "data=folder" in extra else DATA
    extra = tuple(o for o in extra if o != "data=folder")
    return [
        *data,
        f"paths.data_dir={data_dir}",
        f"paths.log_dir={out}",
        f"output_dir={out}",
        *extra,
    ]


def _trainer(root: Path, **kwargs) -> L.Trainer:
    options = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=root,
    )
    options.update(kwargs)
    return L.Trainer(**options)


def _model() -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(
        generator={"name": "resnet_6blocks", "ngf": 8},
        discriminator={"name": "basic", "ndf": 8},
        pool_size=0,
    )


def _datamodule(data_dir: Path, root: Path):
    """The synthetic data exactly as the eval config builds it."""
    with composed(_overrides(data_dir, root), root, config_name="eval") as cfg:
        return hydra.utils.instantiate(cfg.data, _convert_="all")


@pytest.fixture(scope="module")
def ckpt(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CycleGAN trained one batch on the synthetic data, saved as Lightning saves it."""
    root = tmp_path_factory.mktemp("eval_ckpt")
    trainer = _trainer(root)
    trainer.fit(_model(), datamodule=_datamodule(data_dir, root))
    path = root / "tiny.ckpt"
    trainer.save_checkpoint(path)
    return path


def _evaluate(data_dir: Path, out: Path, *extra: str):
    with composed(_overrides(data_dir, out, *extra), out, config_name="eval") as cfg:
        return evaluate(cfg)


def _one_line_error(capsys: pytest.CaptureFixture, data_dir: Path, out: Path, *extra: str) -> str:
    """Runs evaluate as the CLI does; returns its one error line."""
    overrides = _overrides(data_dir, out, *extra)
    with pytest.raises(SystemExit) as exit_info, composed(overrides, out, "eval") as cfg:
        exit_on_user_error(PROG, lambda: evaluate(cfg))
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PROG}: error: "), lines
    assert not (out / "metrics.json").exists()
    return lines[0]


def _smooth_images(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    """n different smooth colour images, uint8 N×3×size×size."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=generator)
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    return (images * 255).round().to(torch.uint8)


def _distort(images: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator) * sigma
    return (images.float() + noise).clamp(0, 255).round().to(torch.uint8)


# ---------------------------------------------------------------------------- the command
@pytest.mark.slow
def test_cli_writes_fid_kid_both_ways_and_ground_truth_metrics(
    ckpt: Path, data_dir: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "eval"
    env = {**cli_env, "PYTHONPATH": str(TESTS)}  # finds test_eval.TinyFeatures
    args = [f"ckpt_path={ckpt}", TINY_FEATURES, *_overrides(data_dir, out)]
    result = run_cli(args, tmp_path, env, command=[str(EVAL_CLI)])
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((out / "metrics.json").read_text())
    metrics = record["metrics"]
    print(json.dumps(metrics, indent=1))  # shown with -s
    for direction in ("AtoB", "BtoA"):
        for name in ("fid", "kid", "psnr", "ssim", "psnr_identity", "ssim_identity"):
            assert math.isfinite(metrics[f"{name}_{direction}"]), name
        assert metrics[f"fid_{direction}"] >= 0 and metrics[f"kid_{direction}_std"] >= 0
        assert 0 < metrics[f"ssim_{direction}"] <= 1
    assert record["num_images"] == {"A": N_TEST, "B": N_TEST}  # the whole split, each once
    assert record["kid_subset_size"] == {"AtoB": N_TEST, "BtoA": N_TEST}
    assert any("kid_subset_size=1000" in note for note in record["notes"])
    assert record["ckpt_path"] == str(ckpt.resolve())
    assert record["features"] == "test_eval.TinyFeatures"
    assert (out / "config.yaml").is_file()
    assert "FID" in result.stdout and "PSNR identity" in result.stdout  # the table
    assert "using subsets of 4" in result.stdout  # the KID cap, said

    # The identity baseline from the image files themselves: mean per-image PSNR of testA/x
    # against its ground truth testB/x (the synthetic data are paired by file name).
    (root,) = data_dir.glob("synthetic_*")
    psnrs = []
    for path_a in sorted((root / "testA").iterdir()):
        a = np.asarray(Image.open(path_a), dtype=np.float64) / 255
        b = np.asarray(Image.open(root / "testB" / path_a.name), dtype=np.float64) / 255
        psnrs.append(10 * math.log10(1 / np.mean((a - b) ** 2)))
    assert metrics["psnr_identity_AtoB"] == pytest.approx(np.mean(psnrs), abs=1e-3)
    assert metrics["psnr_identity_BtoA"] == pytest.approx(np.mean(psnrs), abs=1e-3)


def test_unpaired_folder_counts_every_image_once_and_one_direction_is_allowed(
    ckpt: Path, data_dir: Path, tmp_path: Path
) -> None:
    _datamodule(data_dir, tmp_path).prepare_data()
    (synthetic,) = data_dir.glob("synthetic_*")
    root = tmp_path / "folder"
    for split in ("testA", "testB"):
        shutil.copytree(synthetic / split, root / split)
    next(iter(sorted((root / "testB").iterdir()))).unlink()  # 4 A, 3 B: no ground truth
    folder = ["data=folder", f"data.root={root}", f"ckpt_path={ckpt}", TINY_FEATURES]
    report = _evaluate(data_dir, tmp_path / "both", *folder)
    assert report.num_images == {"A": N_TEST, "B": N_TEST - 1}
    assert {"fid_AtoB", "kid_AtoB", "fid_BtoA", "kid_BtoA"} <= set(report.metrics)
    assert not any(name.startswith(("psnr", "ssim")) for name in report.metrics)
    one_way = _evaluate(data_dir, tmp_path / "one", *folder, "directions=[AtoB]")
    assert set(one_way.metrics) == {"fid_AtoB", "kid_AtoB", "kid_AtoB_std"}


# ---------------------------------------------------------------------------- the metrics
def test_fid_of_a_set_against_itself_is_zero_and_grows_with_distortion() -> None:
    extractor = build_feature_extractor(TinyFeatures())
    real = _smooth_images(64)

    def score(fake: torch.Tensor) -> dict[str, float]:
        metrics = TranslationMetrics(extractor, ["AtoB"], kid_subset_size=32, kid_subsets=20)
        metrics.update("AtoB", fake=fake, real=real)
        return metrics.compute()

    same = score(real)
    noisy = [score(_distort(real, sigma)) for sigma in (16, 48, 96)]
    print({"same": same, "noise 16/48/96": noisy})  # shown with -s
    fids = [values["fid_AtoB"] for values in noisy]
    assert abs(same["fid_AtoB"]) < 1e-3 * fids[0]
    assert 0 < fids[0] < fids[1] < fids[2]
    assert noisy[0]["kid_AtoB"] < noisy[2]["kid_AtoB"]

    # torchmetrics got the features right: the textbook formula on the same features agrees
    with torch.no_grad():
        f_real = extractor(real).double().numpy()
        f_fake = extractor(_distort(real, 96)).double().numpy()
    mu_r, mu_f = f_real.mean(0), f_fake.mean(0)
    cov_r, cov_f = np.cov(f_real, rowvar=False), np.cov(f_fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_r @ cov_f).real
    expected = ((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * covmean)
    assert fids[2] == pytest.approx(expected, rel=1e-3)


def test_kid_subsets_are_capped_and_too_few_images_skip_fid_and_kid(
    caplog: pytest.LogCaptureFixture,
) -> None:
    extractor = build_feature_extractor(TinyFeatures())
    images = _smooth_images(3)
    metrics = TranslationMetrics(extractor, kid_subset_size=100)
    metrics.update("AtoB", fake=images, real=_distort(images, 20))
    metrics.update("BtoA", fake=images[:1], real=images)
    with caplog.at_level("WARNING"):
        values = metrics.compute()
    assert metrics.kid_subset_sizes == {"AtoB": 3}
    assert {"fid_AtoB", "kid_AtoB", "kid_AtoB_std"} <= set(values)
    assert not any(name.endswith("BtoA") for name in values)
    assert "using subsets of 3" in caplog.text
    assert "fid_BtoA and kid_BtoA skipped: 1 translated and 3 real" in caplog.text


def test_inception_features_from_a_weights_file(ckpt: Path, data_dir: Path, tmp_path: Path) -> None:
    """The standard path end to end, on random weights of torch-fidelity's own architecture."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):  # keep the random initialisation
            return None

    torch.save({}, tmp_path / "empty.pth")
    torch.manual_seed(0)
    net = Unloaded("inception-v3-compat", ["2048"], str(tmp_path / "empty.pth"))
    weights = tmp_path / "inception.pth"
    torch.save(net.state_dict(), weights)
    extractor = build_feature_extractor("inception", weights)
    assert extractor.dim == 2048 and extractor.takes_uint8
    grey = torch.full((2, 1, 40, 24), 128, dtype=torch.uint8)  # any size, one channel
    assert extractor(grey).shape == (2, 2048)
    out = tmp_path / "out"
    weights_file = f"inception_weights={weights}"
    two = ["directions=[AtoB]", "data.max_dataset_size=2"]  # 4 images through the Inception
    report = _evaluate(data_dir, out, f"ckpt_path={ckpt}", weights_file, *two)
    assert report.features == "inception" and report.num_images == {"A": 2, "B": 2}
    assert math.isfinite(report.metrics["fid_AtoB"]) and math.isfinite(report.metrics["kid_AtoB"])


# ---------------------------------------------------------------------------- bad input
def test_missing_inception_weights_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "inception.pth"
    with pytest.raises(FileNotFoundError) as err:
        build_feature_extractor("inception", missing)
    message = str(err.value)
    assert "\n" not in message
    assert str(missing) in message and INCEPTION_URL in message


@pytest.fixture
def no_inception(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache and downloads refused (nothing listens on port 9): the Inception
    weights are nowhere to be had. Returns the cache's checkpoints folder."""
    proxy = "http://127.0.0.1:9"
    for name, value in (("TORCH_HOME", str(tmp_path / "torch")), ("https_proxy", proxy),
                        ("HTTPS_PROXY", proxy)):  # fmt: skip
        monkeypatch.setenv(name, value)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_without_inception_weights_ground_truth_is_still_scored(
    ckpt: Path, data_dir: Path, tmp_path: Path, no_inception: Path, capsys
) -> None:
    """The built-in data has ground truth: PSNR/SSIM are computed and written, and one line says
    FID/KID were skipped and how to get them (the file, the folder, the URL)."""
    out = tmp_path / "out"
    report = _evaluate(data_dir, out, f"ckpt_path={ckpt}")
    assert {"psnr_AtoB", "ssim_AtoB", "psnr_BtoA", "ssim_BtoA", "psnr_identity_AtoB"} <= set(
        report.metrics
    )
    assert not any(name.startswith(("fid", "kid")) for name in report.metrics)
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert said.startswith(f"{PROG}: FID and KID skipped, PSNR/SSIM only: ")
    for text in ("weights-inception-2015-12-05", str(no_inception), INCEPTION_URL):
        assert text in said
    record = json.loads((out / "metrics.json").read_text())
    assert record["features"] == "none" and said.split(": ", 1)[1] in record["notes"]
    assert math.isfinite(record["metrics"]["ssim_AtoB"])


def test_features_null_scores_ground_truth_only(ckpt: Path, data_dir: Path, tmp_path: Path) -> None:
    report = _evaluate(data_dir, tmp_path / "out", f"ckpt_path={ckpt}", "features=null")
    assert "psnr_AtoB" in report.metrics and "fid_AtoB" not in report.metrics
    assert report.features == "none"


@pytest.mark.slow
def test_cli_without_inception_weights_or_ground_truth_says_so_in_one_line_before_any_work(
    ckpt: Path, data_dir: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Unpaired data and no Inception weights: nothing to score. One line naming the file,
    folder and URL; nothing translated, no output folder left."""
    hub = tmp_path / "torch"
    proxy = "http://127.0.0.1:9"  # nothing listens there: the download fails at once
    env = {**cli_env, "TORCH_HOME": str(hub), "https_proxy": proxy, "HTTPS_PROXY": proxy}
    root = tmp_path / "unpaired"
    for split in ("testA", "testB"):
        (root / split).mkdir(parents=True)
    out = tmp_path / "out" / "eval"
    args = [f"ckpt_path={ckpt}", *_overrides(data_dir, out, "data=folder"), f"data.root={root}"]
    result = run_cli(args, tmp_path, env, command=[str(EVAL_CLI)])
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"{PROG}: error: "), result.stderr
    for text in ("weights-inception-2015-12-05", str(hub / "hub" / "checkpoints"), INCEPTION_URL):
        assert text in errors[0]
    assert not (tmp_path / "out").exists()  # no empty eval folder, nor the one above it


def test_an_evaluation_that_stops_early_leaves_no_output_folder(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "outputs" / "eval" / "time"
    _one_line_error(capsys, data_dir, out, f"ckpt_path={tmp_path / 'nope.ckpt'}", TINY_FEATURES)
    assert not (tmp_path / "outputs").exists()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no_ckpt", "ckpt_path: required"),
        ("missing_ckpt", "no such file"),
        ("empty_ckpt", "the file is empty"),
        ("corrupt_ckpt", "not a checkpoint torch can read"),
        ("no_test_folders", "testA with images"),
        ("empty_test_folders", "no images"),
        ("folder_without_root", "data.root=null"),
        ("missing_inception_weights", "inception_weights="),
        ("unknown_features", "features=no_such_module.Features: cannot be built"),
    ],
)
def test_bad_input_is_one_line(
    case: str,
    expected: str,
    ckpt: Path,
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    folder = tmp_path / "dataset"
    extra = {
        "no_ckpt": [],
        "missing_ckpt": [f"ckpt_path={tmp_path / 'nope.ckpt'}"],
        "empty_ckpt": [f"ckpt_path={_write(tmp_path / 'empty.ckpt', b'')}"],
        "corrupt_ckpt": [f"ckpt_path={_write(tmp_path / 'bad.ckpt', b'PK not a zip' * 20)}"],
        "no_test_folders": [f"ckpt_path={ckpt}", "data=folder", f"data.root={folder}"],
        "empty_test_folders": [f"ckpt_path={ckpt}", "data=folder", f"data.root={folder}"],
        "folder_without_root": [f"ckpt_path={ckpt}", "data=folder"],
        "missing_inception_weights": [
            f"ckpt_path={ckpt}",
            f"inception_weights={tmp_path / 'inception.pth'}",
        ],
        "unknown_features": [f"ckpt_path={ckpt}", "features={_target_:no_such_module.Features}"],
    }[case]
    (folder / "trainA").mkdir(parents=True)
    if case == "empty_test_folders":
        (folder / "testA").mkdir()
        (folder / "testB").mkdir()
    if case not in ("missing_inception_weights", "unknown_features"):
        extra.append(TINY_FEATURES)
    line = _one_line_error(capsys, data_dir, tmp_path / "out", *extra)
    assert expected in line, line


# ---------------------------------------------------------------------------- the callback
@pytest.mark.parametrize("split", ["test", "val"])
def test_callback_logs_fid_with_best_epoch_and_keeps_the_extractor_out_of_checkpoints(
    split: str, data_dir: Path, tmp_path: Path
) -> None:
    callback = FIDCallback(every_n_epochs=1, features=TinyFeatures(), split=split)
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="last", save_top_k=1)
    trainer = _trainer(
        tmp_path,
        max_epochs=2,
        limit_val_batches=1,
        logger=CSVLogger(tmp_path, name="csv"),
        enable_checkpointing=True,
        callbacks=[callback, checkpoints],
    )
    model = _model()
    trainer.fit(model, datamodule=_datamodule(data_dir, tmp_path))

    with open(Path(trainer.logger.log_dir) / "metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row.get("val/fid_AtoB")]
    assert len(rows) == 2  # every epoch
    for name in ("fid_AtoB", "fid_BtoA", "kid_AtoB", "kid_BtoA"):
        values = [float(row[f"val/{name}"]) for row in rows]
        assert all(math.isfinite(v) for v in values)
        best = min(values)
        assert float(rows[-1][f"val/{name}_best"]) == pytest.approx(best)
        assert float(rows[-1][f"val/{name}_best_epoch"]) == values.index(best)
        assert callback.best[name] == {"value": pytest.approx(best), "epoch": values.index(best)}
    assert "val/kid_AtoB_std" in rows[0]
    assert "val/fid_AtoB_best_epoch" in trainer.callback_metrics

    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)
    assert set(saved["state_dict"]) == set(_model().state_dict())  # the model's own, no more
    (state,) = [v for k, v in saved["callbacks"].items() if k.startswith("FIDCallback")]
    assert set(state) == {"best"} and set(state["best"]) == set(callback.best)

    resumed = FIDCallback(features=TinyFeatures())
    resumed.load_state_dict(state)
    assert resumed.best == callback.best


def test_fid_callback_config_is_opt_in_and_builds_the_callback(tmp_path: Path) -> None:
    with composed(["logger=none"], tmp_path) as cfg:
        assert "fid" not in cfg.callbacks
    with composed(["logger=none", "callbacks=[default,fid]"], tmp_path) as cfg:
        assert "model_checkpoint_last" in cfg.callbacks
        callback = hydra.utils.instantiate(cfg.callbacks.fid, _convert_="all")
    assert isinstance(callback, FIDCallback)
    assert callback.directions == ("AtoB", "BtoA") and callback.split == "test"
    assert callback.features == "inception" and callback.extractor is None  # built in setup
    custom = ["callbacks=[default,fid]", "callbacks.fid.features={_target_:test_eval.TinyFeatures}"]
    with composed(["logger=none", *custom], tmp_path) as cfg:
        callback = hydra.utils.instantiate(cfg.callbacks.fid, _convert_="all")
    assert isinstance(callback.features, TinyFeatures)

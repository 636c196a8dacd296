"""What the README and docs/ tell a newcomer, held to what the commands do: `trainer=fast` says its
choice, a size error names the generator as the user chose it, `debug=fdr` writes what
docs/configuration.md says and prints only paths that exist, and `trainer=gpu` without a GPU is
the same one line whatever the debug preset."""

from __future__ import annotations

import re
from pathlib import Path

import hydra
import pytest
import torch
from conftest import composed, only_run_dir, run_cli

from cyclegan_lit.cli.preflight import check_image_size
from cyclegan_lit.cli.train import build_trainer
from cyclegan_lit.networks import GeneratorConfig
from cyclegan_lit.perf import fast_settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_trainer_fast_says_its_choice_and_why_in_one_line(tmp_path: Path, capsys) -> None:
    with composed(["trainer=fast", "trainer.accelerator=cpu", "logger=none"], tmp_path) as cfg:
        trainer = build_trainer(cfg.trainer, [], [])
    settings = fast_settings("cpu")
    lines = [line for line in capsys.readouterr().err.splitlines() if "cyclegan-train" in line]
    said = f"trainer=fast on cpu: {settings.precision} ({settings.reason})"
    assert lines == [f"cyclegan-train: {said}"]
    assert trainer.precision == settings.precision
    with composed(["trainer=cpu", "logger=none"], tmp_path) as cfg:
        build_trainer(cfg.trainer, [], [])
    assert "trainer=fast" not in capsys.readouterr().err  # only when fast chose


def test_a_size_error_names_the_generator_as_the_user_chose_it(tmp_path: Path) -> None:
    overrides = ["data.crop_size=50", "data.load_size=50", "logger=none"]  # the default: unet_64
    with composed(overrides, tmp_path) as cfg:
        datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
        model = hydra.utils.instantiate(cfg.model, _convert_="all")
    with pytest.raises(ValueError) as info, composed(overrides, tmp_path):
        check_image_size(model, datamodule)  # HydraConfig knows the choice, as in the CLI
    assert str(info.value) == (
        "data.crop_size=50: model/generator=unet_64 (unet_128 with num_downs=6) needs image sides "
        "that are a multiple of 64; set data.crop_size=64 or use a ResNet generator "
        "(model/generator=resnet_6blocks)"
    )
    assert "unet_64" in (DOCS / "configuration.md").read_text()  # the name the docs use


def test_the_generator_label_is_its_reference_name_unless_num_downs_changes_it() -> None:
    assert GeneratorConfig(name="unet_128").label == "unet_128"
    assert GeneratorConfig(name="unet_128", num_downs=7).label == "unet_128"
    assert GeneratorConfig(name="unet_128", num_downs=6).label == "unet_128 with num_downs=6"
    with pytest.raises(ValueError, match=r"^data.crop_size=100: model.generator.name=unet_128 "):
        GeneratorConfig(name="unet128").check_input_size(100, "data.crop_size")
    GeneratorConfig(name="unet_128", num_downs=6).check_input_size(128, "data.crop_size")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("debug", [None, "fdr", "limit", "overfit"])
def test_a_gpu_trainer_without_a_gpu_is_the_same_line_whatever_the_debug_preset(
    debug: str | None, tmp_path: Path
) -> None:
    overrides = ["trainer=gpu", "logger=none", *([f"debug={debug}"] if debug else [])]
    with pytest.raises(ValueError) as info, composed(overrides, tmp_path) as cfg:
        build_trainer(cfg.trainer, [], [])
    assert re.match(r"^trainer\.accelerator=gpu trainer\.devices=1 \S+ \S+: ", str(info.value))
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_debug_fdr_writes_what_the_docs_say_and_prints_only_paths_that_exist(
    tmp_path: Path, cli_env: dict[str, str], shared_data_dir: Path
) -> None:
    args = [
        "debug=fdr", "model.generator.ngf=8", "model.discriminator.ndf=8", "data.synthetic_train=8",
        "data.synthetic_test=4", f"paths.data_dir={shared_data_dir}",
    ]  # fmt: skip
    result = run_cli(args, tmp_path, cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run_dir(tmp_path)
    # docs/configuration.md, `debug/`: no checkpoint, nothing sent to the loggers
    assert {p.name for p in run.iterdir()} == {
        ".hydra", "train.log", "config_tree.log", "images", "metrics.json",
    }  # fmt: skip
    documented = (DOCS / "configuration.md").read_text()
    for name in ("train.log", "config_tree.log", "image grid", "metrics.json"):
        assert name in documented.split("## `debug/`")[1].split("##")[0], name
    printed = re.findall(r"^[A-Za-z& ()]+:\s+(/\S+)", result.stdout, flags=re.MULTILINE)
    assert printed and all(Path(path).exists() for path in printed), printed
    assert "Checkpoints:" not in result.stdout

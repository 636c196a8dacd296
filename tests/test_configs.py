"""Every config in conf/ composes, and every `_target_` in it builds the object it names."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import pytest
from conftest import TINY_OVERRIDES, composed
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from omegaconf import OmegaConf

from cyclegan_lit.config_path import config_dir, total_epochs
from cyclegan_lit.data import UnpairedDataModule
from cyclegan_lit.models import CycleGAN

CONF = config_dir()
# (group, option) for every choice file, the hydra/ internals aside
CHOICES = sorted(
    (str(path.parent.relative_to(CONF)), path.stem)
    for path in CONF.glob("*/*.yaml")
    if path.parent.name != "hydra"
)
NETS = ["model.generator.ngf=8", "model.discriminator.ndf=8"]


def test_config_dir_is_the_source_tree_conf_in_an_editable_install() -> None:
    assert (CONF / "train.yaml").is_file()
    assert {"model", "data", "trainer", "logger", "callbacks", "experiment"} <= {
        p.name for p in CONF.iterdir()
    }


@pytest.mark.parametrize(("group", "option"), CHOICES, ids=[f"{g}={o}" for g, o in CHOICES])
def test_every_choice_composes_and_resolves(group: str, option: str, tmp_path: Path) -> None:
    overrides = [f"{group}={option}", "trainer.accelerator=cpu"]
    if option == "folder":
        overrides.append(f"data.root={tmp_path}")
    with composed(overrides, tmp_path) as cfg:
        resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert resolved["trainer"]["max_epochs"] >= 1


@pytest.mark.parametrize("option", [o for g, o in CHOICES if g == "model"])
def test_model_configs_build_cyclegan(option: str, tmp_path: Path) -> None:
    with composed([f"model={option}", *NETS], tmp_path) as cfg:
        model = hydra.utils.instantiate(cfg.model)
    assert isinstance(model, CycleGAN)
    assert model.hparams.generator["name"] == cfg.model.generator.name
    assert model.total_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("option", [o for g, o in CHOICES if g == "data"])
def test_data_configs_build_the_datamodule(option: str, tmp_path: Path) -> None:
    overrides = [f"data={option}"] + ([f"data.root={tmp_path}"] if option == "folder" else [])
    with composed(overrides, tmp_path) as cfg:
        datamodule = hydra.utils.instantiate(cfg.data)
    assert isinstance(datamodule, UnpairedDataModule)
    assert datamodule.name == option


@pytest.mark.parametrize("option", ["horse2zebra", "monet2photo", "maps", "mini"])
def test_standard_datasets_carry_the_paper_recipe(option: str, tmp_path: Path) -> None:
    with composed([f"data={option}", "model=resnet6"], tmp_path) as cfg:
        m, d = cfg.model, cfg.data
        assert (m.n_epochs, m.n_epochs_decay, m.lr, m.pool_size) == (100, 100, 0.0002, 50)
        assert (m.lambda_cycle, m.lambda_identity) == (10.0, 0.5)
        assert (d.batch_size, d.load_size, d.crop_size, d.flip) == (1, 286, 256, True)
        assert cfg.trainer.max_epochs == 200
        assert m.generator.name == "resnet_6blocks"  # the data config does not pick the network


def test_folder_data_requires_a_root(tmp_path: Path) -> None:
    with composed(["data=folder"], tmp_path) as cfg:
        assert OmegaConf.is_missing(cfg.data, "root")


def test_command_line_overrides_win_over_the_data_recipe(tmp_path: Path) -> None:
    with composed(
        ["data=horse2zebra", "model.n_epochs=3", "model.n_epochs_decay=0"], tmp_path
    ) as cfg:
        assert cfg.trainer.max_epochs == 3


def test_max_epochs_follows_the_reference_epoch_loop() -> None:
    # range(epoch_count, n_epochs + n_epochs_decay + 1)
    assert total_epochs(100, 100, 1) == len(range(1, 201))
    assert total_epochs(100, 100, 51) == len(range(51, 201))


@pytest.mark.parametrize("option", [o for g, o in CHOICES if g == "trainer"])
def test_trainer_configs_build_a_trainer(option: str, tmp_path: Path) -> None:
    overrides = [f"trainer={option}", "trainer.accelerator=cpu", "logger=none"]
    if option in ("ddp", "ddp_spawn", "multinode"):
        overrides.append("trainer.devices=2")
    with composed(overrides, tmp_path) as cfg:
        trainer = hydra.utils.instantiate(cfg.trainer, logger=False, callbacks=[])
    assert isinstance(trainer, L.Trainer)
    if option.startswith("ddp") or option == "multinode":
        assert "find_unused_parameters_true" in cfg.trainer.strategy
        assert cfg.trainer.sync_batchnorm


def test_default_callbacks_build(tmp_path: Path) -> None:
    with composed([], tmp_path) as cfg:
        callbacks = [hydra.utils.instantiate(c) for c in cfg.callbacks.values()]
    names = {type(c).__name__ for c in callbacks}
    assert {"ModelCheckpoint", "ImageGridLogger", "LearningRateMonitor", "Throughput"} <= names
    assert "RichProgressBar" in names


@pytest.mark.parametrize(
    ("option", "kinds"),
    [
        ("wandb", {WandbLogger}),
        ("csv", {CSVLogger}),
        ("tensorboard", {TensorBoardLogger}),
        ("many_loggers", {WandbLogger, CSVLogger, TensorBoardLogger}),
        ("none", set()),
    ],
)
def test_logger_configs_build(option: str, kinds: set, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    with composed([f"logger={option}"], tmp_path) as cfg:
        loggers = [hydra.utils.instantiate(c) for c in (cfg.logger or {}).values()]
    assert {type(x) for x in loggers} == kinds


def test_experiment_quickstart_is_small_and_paper_is_the_reference(tmp_path: Path) -> None:
    with composed(["experiment=quickstart"], tmp_path) as cfg:
        assert cfg.data.name == "synthetic" and cfg.model.generator.ngf == 32
    with composed(["experiment=paper"], tmp_path) as cfg:
        assert cfg.model.generator.name == "resnet_9blocks" and cfg.data.name == "horse2zebra"
        assert cfg.trainer.max_epochs == 200 and cfg.data.crop_size == 256


def test_slurm_launcher_and_optuna_sweeper_compose(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra/launcher=slurm", "hparams_search=optuna", "trainer.devices=2"],
            return_hydra_config=True,
        )
    GlobalHydra.instance().clear()
    assert "submitit" in cfg.hydra.launcher._target_
    assert cfg.hydra.launcher.tasks_per_node == 2
    assert "optuna" in cfg.hydra.sweeper._target_.lower()
    assert set(cfg.hydra.sweeper.params) == {
        "model.lambda_cycle",
        "model.lambda_identity",
        "model.lr",
    }


def test_tiny_overrides_compose(tmp_path: Path) -> None:
    with composed(TINY_OVERRIDES, tmp_path) as cfg:
        assert cfg.trainer.max_epochs == 1
        assert "rich_progress_bar" not in cfg.callbacks

"""Every config in conf/ composes, and every `_target_` in it builds the object it names."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from conftest import TINY_OVERRIDES, composed
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from omegaconf import OmegaConf

from cyclegan_lit.config_store import config_dir
from cyclegan_lit.data import UnpairedDataModule
from cyclegan_lit.models import CycleGAN
from cyclegan_lit.networks import GeneratorConfig
from cyclegan_lit.removed_options import REMOVED_OPTIONS

CONF = config_dir()
# (group, option) for every choice file, the hydra/ internals and the shared data base aside
CHOICES = sorted(
    (str(path.parent.relative_to(CONF)), path.stem)
    for path in CONF.glob("**/*.yaml")
    if path.parent != CONF and "hydra" not in path.parts and path.stem != "base"
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
    assert model.schedule.total_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("option", [o for g, o in CHOICES if g == "data"])
def test_data_configs_build_the_datamodule(option: str, tmp_path: Path) -> None:
    overrides = [f"data={option}"] + ([f"data.root={tmp_path}"] if option == "folder" else [])
    with composed(overrides, tmp_path) as cfg:
        datamodule = hydra.utils.instantiate(cfg.data)
    assert isinstance(datamodule, UnpairedDataModule)
    assert datamodule.hparams.name == option


@pytest.mark.parametrize("option", ["horse2zebra", "monet2photo", "maps", "mini", "folder"])
def test_standard_datasets_train_with_the_reference_defaults(option: str, tmp_path: Path) -> None:
    # options/train_options.py and models/cycle_gan_model.py: the reference's defaults.
    overrides = [f"data={option}", "model=resnet6", f"data.root={tmp_path}"]
    with composed(overrides, tmp_path) as cfg:
        m, d, s = cfg.model, cfg.data, cfg.model.scheduler
        assert (s.policy, s.n_epochs, s.n_epochs_decay, s.epoch_count) == ("linear", 100, 100, 1)
        assert (m.lr, m.beta1, m.pool_size, m.gan_mode) == (0.0002, 0.5, 50, "lsgan")
        assert (m.lambda_cycle, m.lambda_identity) == (10.0, 0.5)
        assert not set(REMOVED_OPTIONS) & set(m)  # the reference algorithm only
        assert (m.generator.ngf, m.discriminator.ndf, m.generator.norm) == (64, 64, "instance")
        assert m.discriminator.norm == "instance"
        assert (d.batch_size, d.load_size, d.crop_size, d.flip) == (1, 286, 256, True)
        assert d.preprocess == "resize_and_crop" and not d.serial_batches
        assert cfg.trainer.max_epochs == 200
        assert m.generator.name == "resnet_6blocks"  # the data config does not pick the network


@pytest.mark.parametrize(
    ("overrides", "generator", "discriminator", "policy"),
    [
        # the built-in data's U-Net (num_downs 6) and 2-layer PatchGAN, unless chosen
        ([], "unet_128", "n_layers", "linear"),
        (["model=resnet9"], "resnet_9blocks", "n_layers", "linear"),
        (["data=horse2zebra"], "resnet_9blocks", "basic", "linear"),
        (["model=unet256", "model/scheduler=cosine"], "unet_256", "n_layers", "cosine"),
        (["model/discriminator=basic"], "unet_128", "basic", "linear"),
        (["model/generator=unet_128", "model/discriminator=pixel"], "unet_128", "pixel", "linear"),
        (["model=resnet6", "model/discriminator=n_layers"], "resnet_6blocks", "n_layers", "linear"),
    ],
)
def test_presets_and_groups_pick_the_networks_and_schedule(
    overrides: list[str], generator: str, discriminator: str, policy: str, tmp_path: Path
) -> None:
    with composed(overrides, tmp_path) as cfg:
        model = hydra.utils.instantiate(cfg.model, _convert_="all", generator={"ngf": 8})
    assert model.hparams.generator["name"] == generator
    assert model.hparams.discriminator["name"] == discriminator
    assert model.hparams.scheduler["policy"] == policy


def test_the_built_in_data_runs_its_own_u_net_unless_a_generator_is_chosen(tmp_path: Path) -> None:
    with composed([], tmp_path) as cfg:
        generator = GeneratorConfig(**cfg.model.generator)
        assert (generator.unet_downsamplings, generator.min_input_size) == (6, 64)
        assert cfg.data.crop_size == 64 and cfg.model.lr == 0.001
    for choice in ("model=resnet6", "model/generator=resnet_6blocks"):
        with composed([choice], tmp_path) as cfg:
            assert (cfg.model.generator.name, cfg.model.generator.num_downs) == (
                "resnet_6blocks",
                None,
            ), choice


def test_a_mistyped_network_option_is_refused_while_composing(tmp_path: Path) -> None:
    from hydra.errors import ConfigCompositionException

    for override, key in (("model.generator.ngf=abc", "ngf"), ("model.generator.nfg=8", "nfg")):
        with pytest.raises(ConfigCompositionException, match=key), composed([override], tmp_path):
            pass


def test_folder_data_without_a_root_is_a_one_line_error(tmp_path: Path) -> None:
    with composed(["data=folder"], tmp_path) as cfg:
        options = {k: v for k, v in cfg.data.items() if k != "_target_"}
    with pytest.raises(ValueError, match=r"^data\.root=null: data=folder needs") as info:
        UnpairedDataModule(**options)
    assert "\n" not in str(info.value)


def test_command_line_overrides_win_over_the_data_recipe(tmp_path: Path) -> None:
    with composed(
        ["data=horse2zebra", "model.scheduler.n_epochs=3", "model.scheduler.n_epochs_decay=0"],
        tmp_path,
    ) as cfg:
        assert cfg.trainer.max_epochs == 3


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


# What the built-in data's recipe and experiment=quickstart may change in the model: its scale
SCALE_KEYS = {
    "generator.name", "generator.num_downs", "generator.ngf", "discriminator.name",
    "discriminator.n_layers", "discriminator.ndf", "lr", "scheduler.n_epochs",
    "scheduler.n_epochs_decay",
}  # fmt: skip


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize(
    "overrides", [[], ["experiment=quickstart"]], ids=["default", "quickstart"]
)
def test_built_in_recipes_keep_the_papers_algorithm(overrides: list[str], tmp_path: Path) -> None:
    """The default run and the quickstart change only the scale of model=cyclegan: the losses,
    their weights, the pool, the instance-norm networks and one Adam stay the model's defaults."""
    with composed(["data=mini"], tmp_path) as cfg:
        paper = _flat(OmegaConf.to_container(cfg.model, resolve=True))
    with composed(overrides, tmp_path) as cfg:
        recipe = _flat(OmegaConf.to_container(cfg.model, resolve=True))
    assert set(recipe) == set(paper)
    changed = {key for key in paper if recipe[key] != paper[key]}
    assert changed <= SCALE_KEYS, changed - SCALE_KEYS
    assert (recipe["gan_mode"], recipe["lambda_cycle"], recipe["lambda_identity"]) == (
        "lsgan", 10.0, 0.5,
    )  # fmt: skip
    assert (recipe["pool_size"], recipe["discriminator.norm"], recipe["generator.norm"]) == (
        50, "instance", "instance",
    )  # fmt: skip


def test_experiment_quickstart_is_the_default_recipe_longer_and_paper_is_the_reference(
    tmp_path: Path,
) -> None:
    with composed([], tmp_path) as recipe:
        recipe_model = OmegaConf.to_container(recipe.model, resolve=True)
    with composed(["experiment=quickstart"], tmp_path) as cfg:
        assert cfg.data.name == "synthetic" and cfg.data.synthetic_train == 200
        quick_model = OmegaConf.to_container(cfg.model, resolve=True)
        # only the schedule is longer
        assert cfg.trainer.max_epochs > recipe.trainer.max_epochs
        quick_model.pop("scheduler"), recipe_model.pop("scheduler")
        assert quick_model == recipe_model
    with composed(["experiment=paper"], tmp_path) as cfg:
        assert cfg.model.generator.name == "resnet_9blocks" and cfg.data.name == "horse2zebra"
        assert cfg.model.discriminator.name == "basic" and cfg.trainer.precision == "32-true"
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


def test_logger_none_drops_the_lr_monitor(tmp_path: Path) -> None:
    from cyclegan_lit.cli.train import instantiate_all

    with composed(["logger=none"], tmp_path) as cfg:
        callbacks = instantiate_all(cfg.callbacks)
        assert not instantiate_all(cfg.logger)
    names = {type(c).__name__ for c in callbacks}
    assert "LearningRateMonitor" not in names and "ModelCheckpoint" in names


def _build_trainer(overrides: list[str], tmp_path: Path):
    from cyclegan_lit.cli.train import build_trainer

    with composed([*overrides, "logger=none"], tmp_path) as cfg:
        return build_trainer(cfg.trainer, [], [])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_a_gpu_trainer_without_a_gpu_is_one_line_naming_the_options(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^trainer\.accelerator=gpu trainer\.devices=1 ") as info:
        _build_trainer(["trainer=gpu"], tmp_path)
    assert "\n" not in str(info.value)


def test_more_cpu_processes_than_cores_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^trainer\.devices=4096: more processes than the"):
        _build_trainer(["trainer=ddp_spawn", "trainer.accelerator=cpu", "trainer.devices=4096"],
                       tmp_path)  # fmt: skip


def test_emulated_bf16_on_a_cpu_is_a_warning(tmp_path: Path, monkeypatch, capsys) -> None:
    import cyclegan_lit.cli.train as cli_train

    monkeypatch.setattr(cli_train, "cpu_has_bf16", lambda: False)  # the CPU is the one fake
    _build_trainer(["trainer=cpu", "trainer.precision=bf16-mixed"], tmp_path)
    assert "this CPU has no bf16 instructions" in capsys.readouterr().err
    monkeypatch.setattr(cli_train, "cpu_has_bf16", lambda: True)
    _build_trainer(["trainer=cpu", "trainer.precision=bf16-mixed"], tmp_path)
    assert "bf16" not in capsys.readouterr().err

"""What `cyclegan-train` checks before W&B starts a run and before any training, each failure one
line naming the option: a group's base chosen as an option, an output folder that cannot be
written, images the networks cannot take (the generator named as the user chose it), data that
cannot be fetched or found."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from cyclegan_lit.config_store import BASE

if TYPE_CHECKING:
    import lightning as L
    from omegaconf import DictConfig


def check_data(datamodule: L.LightningDataModule, stage: str) -> None:
    """Download (or generate) the data and find its images now, so that no network or a missing
    folder stops the command before W&B starts a run (Lightning repeats both in ``fit``: the
    download is then found done, and the folders are listed again)."""
    datamodule.prepare_data()
    datamodule.setup(stage)


def check_image_size(model: L.LightningModule, datamodule: L.LightningDataModule) -> None:
    """Images the networks cannot take are one line before any work; the generator is named as
    the user chose it (``model/generator=unet_64`` is unet_128 with num_downs=6)."""
    from cyclegan_lit.networks.options import GeneratorConfig, options_from

    size, option = datamodule.image_size
    generator = options_from(GeneratorConfig, model.hparams["generator"], "model.generator")
    generator.check_input_size(size, option, chosen_as=config_choice("model/generator"))
    model.check_image_size(size, option)


def refuse_base_choices() -> None:
    """``data=base`` (or ``model/generator=base`` ...) is one line: the base of a group's options
    is not an option of its own, and ``--help`` does not list it."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    for group, choice in HydraConfig.get().runtime.choices.items():
        if choice == BASE and not str(group).startswith("hydra/"):
            raise ValueError(
                f"{group}={BASE}: the base that the {group} options extend, not an option of its "
                f"own; pick one of those `cyclegan-train --help` lists for {group}"
            )


def config_choice(group: str) -> str | None:
    """The option of config group ``group`` this run was composed with (None outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    choice = HydraConfig.get().runtime.choices.get(group)
    return None if choice is None else str(choice)


def check_writable(folder: Path, option: str) -> None:
    """One line naming ``option`` when ``folder`` cannot be created or written, before any work
    (a real write: permission bits say nothing for root)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OSError(
            f"{option}={folder}: cannot create or write this folder "
            f"({err.strerror or type(err).__name__}); set {option} to a folder you can write"
        ) from None


def fetch_data_first(data: DictConfig | None) -> None:
    """Download a registered dataset (``data=horse2zebra``) before torch and Lightning load, which
    takes seconds on a small CPU: offline, its one-line error then comes at once. ``check_data``
    later finds it done; a data set already there, a folder or the built-in one is left alone."""
    if not data or data.get("root") or data.get("name") in (None, "folder", "synthetic"):
        return
    from cyclegan_lit.data.sources import DownloadSource, dataset_source

    source = dataset_source(
        data.name, None, data.data_dir, download=data.get("download", True),
        base_url=data.get("base_url"),
    )  # fmt: skip
    if isinstance(source, DownloadSource):
        source.prepare()

"""Where the Hydra configs live, the schemas they extend, and the resolvers they use.

An installed console script cannot find a top-level ``conf/`` by a relative path: the wheel ships it
as ``cyclegan_lit/conf`` (hatchling ``force-include``), while an editable install reads the source
tree's ``conf/``. ``register_configs`` (run on import, like the ``cyclegan.*`` resolvers) stores the
option dataclasses as ``base`` schemas of ``model/generator``, ``model/discriminator`` and
``model/scheduler``, so their defaults live once, in the dataclasses, and a mistyped value is
refused while composing, naming its key.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

# The option of a group that its other options extend (conf/data/base.yaml, the schemas below):
# composed into the choices, never a choice of its own
BASE = "base"

_PACKAGED = Path(__file__).resolve().parent / "conf"
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "conf"


def config_dir() -> Path:
    """Return the folder holding ``train.yaml``: the packaged copy first, else the source tree's."""
    for candidate in (_PACKAGED, _SOURCE_TREE):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"cyclegan-lit configs not found in {_PACKAGED} or {_SOURCE_TREE}: reinstall the package "
        "(pip install cyclegan-lit) or run from a source checkout that has conf/train.yaml"
    )


def _total_epochs(n_epochs: int, n_epochs_decay: int, epoch_count: int = 1) -> int:
    from cyclegan_lit.schedulers import total_epochs  # torch only when a config resolves it

    return total_epochs(n_epochs, n_epochs_decay, epoch_count)


def wandb_api_key_configured() -> bool:
    """True when W&B can log in without a prompt: ``WANDB_API_KEY`` or a netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].split("/")[0]
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_mode() -> str:
    """``WANDB_MODE`` if set, else ``online`` with an API key and ``offline`` without."""
    return os.environ.get("WANDB_MODE") or ("online" if wandb_api_key_configured() else "offline")


def _fast_precision(accelerator: str = "auto") -> str:
    from cyclegan_lit.perf import fast_precision  # torch only when a config resolves it

    return fast_precision(accelerator)


def _config_groups() -> str:
    """The config groups and their options, one line each, as ``--help`` lists them, without
    ``base``: the file each option of ``data`` extends and the option dataclasses of the network
    and schedule groups are what the choices are built on, not choices. Hydra's own groups are
    left to ``--hydra-help``."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    lines: list[str] = []

    def walk(parent: str) -> None:
        for group in sorted(loader.list_groups(parent)):
            name = f"{parent}/{group}" if parent else group
            if name == "hydra":
                continue
            options = [o for o in loader.get_group_options(name) if o != BASE]
            if options:
                lines.append(f"{name}: {', '.join(options)}")
            walk(name)

    walk("")
    return "\n".join(lines)


def register_resolvers() -> None:
    """Register ``${cyclegan.total_epochs:...}``, ``${cyclegan.wandb_mode:}``,
    ``${cyclegan.fast_precision:<accelerator>}`` and ``${cyclegan.config_groups:}`` (--help's
    listing) (idempotent)."""
    if not OmegaConf.has_resolver("cyclegan.total_epochs"):
        OmegaConf.register_new_resolver("cyclegan.total_epochs", _total_epochs)
    if not OmegaConf.has_resolver("cyclegan.wandb_mode"):
        OmegaConf.register_new_resolver("cyclegan.wandb_mode", wandb_mode)
    if not OmegaConf.has_resolver("cyclegan.fast_precision"):
        OmegaConf.register_new_resolver("cyclegan.fast_precision", _fast_precision)
    if not OmegaConf.has_resolver("cyclegan.config_groups"):
        OmegaConf.register_new_resolver("cyclegan.config_groups", _config_groups)


def register_configs() -> None:
    """Store the option dataclasses as the ``base`` schema of their config groups."""
    from cyclegan_lit.networks.options import DiscriminatorConfig, GeneratorConfig
    from cyclegan_lit.schedulers import SchedulerConfig

    store = ConfigStore.instance()
    store.store(group="model/generator", name=BASE, node=GeneratorConfig)
    store.store(group="model/discriminator", name=BASE, node=DiscriminatorConfig)
    store.store(group="model/scheduler", name=BASE, node=SchedulerConfig)


register_resolvers()
register_configs()

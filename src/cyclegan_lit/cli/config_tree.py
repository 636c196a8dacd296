"""The composed config as a tree, one branch per group: saved in the run folder as
``config_tree.log``, printed with ``print_config=true``."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.tree import Tree

from cyclegan_lit.cli.console import rank

# Groups printed first in the config tree, in the order a reader wants them.
TREE_ORDER = ("data", "model", "callbacks", "logger", "trainer", "paths")


def _config_tree(cfg: DictConfig) -> Tree:
    tree = Tree("config", guide_style="dim")
    keys = [k for k in TREE_ORDER if k in cfg] + [k for k in cfg if k not in TREE_ORDER]
    for key in keys:
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        tree.add(key).add(Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    return tree


def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Print the composed config as a rich tree (one branch per group); also write it to a file."""
    if rank() != 0:
        return
    Console().print(_config_tree(cfg))
    if save_to is not None:
        save_config_tree(cfg, save_to)


def save_config_tree(cfg: DictConfig, path: Path) -> None:
    """Write the config tree to ``path`` (a resumed run writes it only once the checkpoint passed
    its checks, so that a refused resume leaves the run's folder as it was)."""
    if rank() != 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as file:
        Console(file=file, width=120, color_system=None).print(_config_tree(cfg))

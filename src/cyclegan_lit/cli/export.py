"""`cyclegan-export`: one trained generator as a file an app can run, checked before it is kept.

    cyclegan-export ckpt_path=last                      # <run>/checkpoints/last_AtoB.onnx
    cyclegan-export ckpt_path=run.ckpt format=pt2 direction=BtoA    # run_BtoA.pt2 beside run.ckpt
    cyclegan-export ckpt_path=latest_net_G.pth format=reference output=app/latest_net_G.pth

Everything that can be wrong with the command line (the checkpoint, the format, the direction, an
output folder that cannot be written) is found before the minutes of exporting, and said in one
line. The file is reloaded by its own runtime and compared with PyTorch before it is kept.
torch is imported only once there is something to export: ``--help`` answers without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig, OmegaConf

from cyclegan_lit.cli.errors import exit_on_user_error
from cyclegan_lit.cli.resume import resolve_ckpt_path
from cyclegan_lit.config_store import config_dir

if TYPE_CHECKING:
    from cyclegan_lit.inference.export import ExportResult

PROG = "cyclegan-export"


def export(cfg: DictConfig) -> ExportResult:
    """Export the generator ``cfg`` names; return what was written and how it was checked."""
    from cyclegan_lit.inference.checkpoints import check_direction, load_generator
    from cyclegan_lit.inference.export import check_format, export_generator

    fmt, direction = str(cfg.format), str(cfg.direction)
    check_format(fmt)
    check_direction(direction)
    if not cfg.ckpt_path:
        raise ValueError("ckpt_path=null: give a checkpoint (a .ckpt, a reference .pth or `last`)")
    ckpt = Path(resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths))
    generator_cfg = OmegaConf.to_container(cfg.generator, resolve=True)
    generator = load_generator(ckpt, direction, generator_cfg)
    output = output_path(cfg, ckpt)
    prepare_output(output, "output" if cfg.output else "output_dir")
    print(f"Exporting {generator.source} as {fmt} ...", flush=True)
    return export_generator(generator, output, fmt, opset=cfg.opset, check=bool(cfg.check))


def output_path(cfg: DictConfig, ckpt: Path) -> Path:
    """``output``; or ``<output_dir>/<ckpt stem>_<direction><suffix>`` (also inside an ``output``
    that is an existing folder), ``output_dir`` being the checkpoint's folder unless given."""
    from cyclegan_lit.inference.export import SUFFIXES

    name = f"{ckpt.stem}_{cfg.direction}{SUFFIXES[str(cfg.format)]}"
    if cfg.output:
        given = Path(str(cfg.output)).expanduser()
        return given / name if given.is_dir() else given
    folder = Path(str(cfg.output_dir)).expanduser() if cfg.output_dir else ckpt.parent
    return folder / name


def prepare_output(path: Path, key: str) -> None:
    """Create the output's folder and prove it can be written, before any work."""
    shown = path if key == "output" else path.parent
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".{PROG}-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        reason = err.strerror or str(err)
        blocker = next((p for p in path.parents if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            reason = f"{blocker} is a file, not a folder"
        raise OSError(f"{key}={shown}: cannot be written ({reason})") from None


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


def print_result(result: ExportResult) -> None:
    print(f"Wrote {result.path.resolve()} ({human_size(result.size_bytes)}, {result.format})")
    print(result.check_line())
    print(result.contract)


def main() -> None:
    """Console entry point: ``cyclegan-export ckpt_path=... [format=...] [direction=...]``."""

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="export")
    def _main(cfg: DictConfig) -> None:
        print_result(exit_on_user_error(PROG, lambda: export(cfg)))

    _main()


if __name__ == "__main__":
    main()

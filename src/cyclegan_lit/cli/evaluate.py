"""`cyclegan-eval`: score a trained model on the whole test split, both ways, as papers do.

    cyclegan-eval ckpt_path=last
    cyclegan-eval ckpt_path=run/checkpoints/last.ckpt data=horse2zebra device=cuda
    cyclegan-eval ckpt_path=model.ckpt data=folder data.root=/path/to/my_dataset

The reference has no evaluation script, and FID numbers from ad-hoc scripts differ in resizing,
image counts and reference sets (reference #1192, #1718). Here the recipe is fixed: every test
image once, translated by G_A and G_B, rounded to uint8, FID/KID against the real test images of
the target domain with the standard Inception; PSNR/SSIM and the identity baseline where the
dataset has ground truth. Everything that can fail on bad input (checkpoint, data, Inception
weights) fails before the first image is translated, in one line. torch is imported inside the
functions that use it: ``--help`` answers without it.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cyclegan_lit.callbacks.sweep import METRICS_FILE
from cyclegan_lit.cli.errors import exit_on_user_error
from cyclegan_lit.cli.resume import resolve_ckpt_path
from cyclegan_lit.cli.translate import output_folder, pick_device
from cyclegan_lit.config_store import config_dir

if TYPE_CHECKING:
    import lightning as L

    from cyclegan_lit.evaluation import FeatureExtractor
    from cyclegan_lit.inference.checkpoints import LoadedGenerator

PROG = "cyclegan-eval"


@dataclass
class EvalReport:
    """What ``evaluate`` measured and where it wrote it."""

    metrics: dict[str, float]
    num_images: dict[str, int]
    ckpt_path: str
    features: str
    kid_subset_size: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metrics_file: Path | None = None


def evaluate(cfg: DictConfig) -> EvalReport:
    """Translate and score the test split that ``cfg.data`` describes; write ``metrics.json``.
    A command that stops early leaves no empty ``output_dir`` behind."""
    with output_folder(Path(cfg.output_dir)) as output_dir:
        return _evaluate(cfg, output_dir)


def _evaluate(cfg: DictConfig, output_dir: Path) -> EvalReport:
    from cyclegan_lit.evaluation import (
        TranslationMetrics,
        check_directions,
        generator_function,
        score_batches,
    )

    directions = check_directions(_plain(cfg.directions))
    ckpt_path = checkpoint_path(cfg)
    generators = load_generators(ckpt_path, directions)
    device = pick_device(str(cfg.device))
    # instantiated, not prepared: option errors now, downloads after the Inception check
    datamodule: L.LightningDataModule = hydra.utils.instantiate(
        cfg.data, batch_size=int(cfg.batch_size), _convert_="all"
    )
    check_channels(generators, datamodule, ckpt_path)
    extractor, skipped = feature_extractor(cfg, bool(datamodule.has_ground_truth))
    metrics = TranslationMetrics(
        extractor.to(device) if extractor is not None else None,
        directions,
        kid_subset_size=int(cfg.kid_subset_size),
        kid_subsets=int(cfg.kid_subsets),
        seed=int(cfg.seed),
        device=device,
    )
    datamodule.prepare_data()
    datamodule.setup("test")
    loader = datamodule.test_dataloader()
    translators = {
        d: generator_function(g.net.to(device), g.min_input_size, device)
        for d, g in generators.items()
    }
    with Progress(transient=True) as progress:
        task = progress.add_task("translating and scoring the test split", total=len(loader))
        counts = score_batches(loader, translators, metrics, advance=lambda: progress.advance(task))
    report = EvalReport(
        metrics=metrics.compute(),
        num_images=counts,
        ckpt_path=ckpt_path,
        features=extractor.name if extractor is not None else "none",
        kid_subset_size=dict(metrics.kid_subset_sizes),
        notes=[*([skipped] if skipped else []), *metrics.notes],
    )
    report.metrics_file = write_report(output_dir, report, cfg)
    return report


def feature_extractor(
    cfg: DictConfig, has_ground_truth: bool
) -> tuple[FeatureExtractor | None, str | None]:
    """The network FID and KID compare features of, or None and the one line saying why they are
    skipped: ``features=null``, or the standard Inception's weights not at hand (not given, not
    in the torch cache, no network) when the test split has ground truth for PSNR/SSIM. Without
    ground truth FID and KID are all there is, and either case is an error."""
    from cyclegan_lit.evaluation import build_feature_extractor

    features, weights = _plain(cfg.features), cfg.get("inception_weights")
    if features is None:
        if not has_ground_truth:
            raise ValueError(
                "features=null: this test split has no ground truth, so without FID and KID "
                "nothing is scored; set features=inception (or a _target_ of your own module)"
            )
        return None, say_skipped(
            "FID and KID skipped (features=null); features=inception adds them"
        )
    try:
        return build_feature_extractor(features, weights), None
    except FileNotFoundError as err:
        if features != "inception" or weights or not has_ground_truth:
            raise
        return None, say_skipped(f"FID and KID skipped, PSNR/SSIM only: {err}")


def say_skipped(line: str) -> str:
    print(f"{PROG}: {line}", file=sys.stderr)
    return line


def checkpoint_path(cfg: DictConfig) -> str:
    """``ckpt_path``, required; ``last`` is the newest last.ckpt under the run folders."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ValueError("ckpt_path: required; give our .ckpt, a reference .pth or `last`")
    return str(resolve_ckpt_path(str(cfg.ckpt_path), cfg.paths))


def load_generators(ckpt_path: str, directions: tuple[str, ...]) -> dict[str, LoadedGenerator]:
    """G_A for AtoB, G_B for BtoA; a reference .pth (one generator) scores one direction."""
    from cyclegan_lit.inference.checkpoints import load_generator

    generators = {d: load_generator(ckpt_path, d) for d in directions}
    single = not generators[directions[0]].source.endswith(("(G_A)", "(G_B)"))
    if single and len(directions) > 1:
        raise ValueError(
            f"ckpt_path={ckpt_path}: one generator, not a CycleGAN checkpoint; give the direction "
            "it translates: directions=[AtoB] (or [BtoA])"
        )
    return generators


def check_channels(generators: dict[str, LoadedGenerator], datamodule: Any, ckpt_path: str) -> None:
    """The data's channels (after its direction swap) must be what each generator takes."""
    wanted = {
        "AtoB": ("input_nc", datamodule.input_nc),
        "BtoA": ("output_nc", datamodule.output_nc),
    }
    for direction, generator in generators.items():
        option, channels = wanted[direction]
        if generator.input_nc != channels:
            raise ValueError(
                f"ckpt_path={ckpt_path}: the {direction} generator takes {generator.input_nc}-"
                f"channel images, but data.{option}={channels}; set data.{option}="
                f"{generator.input_nc}"
            )


def write_report(output_dir: Path, report: EvalReport, cfg: DictConfig) -> Path:
    """``metrics.json`` (the metrics, what they were measured on) and the resolved config."""
    data = cfg.data
    record = {
        "metrics": report.metrics,
        "num_images": report.num_images,
        "kid_subset_size": report.kid_subset_size,
        "ckpt_path": str(Path(report.ckpt_path).resolve()),
        "features": report.features,
        "data": {
            "name": data.get("name"),
            "root": data.get("root"),
            "direction": data.get("direction"),
            "preprocess": data.get("preprocess"),
            "crop_size": data.get("crop_size"),
        },
        "notes": report.notes,
        "output_dir": str(output_dir),
    }
    path = output_dir / METRICS_FILE
    path.write_text(json.dumps(record, indent=2) + "\n")
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    return path


def metrics_table(report: EvalReport) -> Table:
    """One row per metric, one column per direction."""
    directions = [d for d in ("AtoB", "BtoA") if any(k.endswith(d) for k in report.metrics)]
    features = "PSNR/SSIM only" if report.features == "none" else f"{report.features} features"
    table = Table(title=f"{report.ckpt_path} ({features})")
    table.add_column("metric")
    for direction in directions:
        table.add_column(direction, justify="right")
    rows = [
        ("FID ↓", "fid_{}", ".2f"),
        ("KID ↓", "kid_{}", ".4f"),
        ("PSNR ↑", "psnr_{}", ".2f"),
        ("SSIM ↑", "ssim_{}", ".4f"),
        ("PSNR identity", "psnr_identity_{}", ".2f"),
        ("SSIM identity", "ssim_identity_{}", ".4f"),
    ]
    for label, key, fmt in rows:
        cells = [_cell(report.metrics, key.format(d), fmt) for d in directions]
        if any(cells):
            table.add_row(label, *cells)
    a, b = report.num_images.get("A", 0), report.num_images.get("B", 0)
    counts = {"AtoB": f"{a} / {b}", "BtoA": f"{b} / {a}"}
    table.add_row("images (translated / real)", *[counts[d] for d in directions])
    return table


def _cell(metrics: dict[str, float], key: str, fmt: str) -> str:
    if key not in metrics:
        return ""
    value = format(metrics[key], fmt)
    std = metrics.get(f"{key}_std")
    return value if std is None or math.isnan(std) else f"{value} ± {format(std, fmt)}"


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def main() -> None:
    """Console entry point: ``cyclegan-eval ckpt_path=... [data=...]``."""

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
    def _main(cfg: DictConfig) -> None:
        report = exit_on_user_error(PROG, lambda: evaluate(cfg))
        console = Console()
        console.print(metrics_table(report))  # what was capped or skipped was logged above
        console.print(f"Metrics: {report.metrics_file.resolve() if report.metrics_file else '-'}")

    _main()


if __name__ == "__main__":
    main()

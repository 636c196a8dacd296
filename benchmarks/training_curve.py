"""Test-split PSNR, SSIM and objects right of a training recipe against training time and steps.

    python benchmarks/training_curve.py                        # the default run (cyclegan-train)
    python benchmarks/training_curve.py --name quickstart experiment=quickstart
    python benchmarks/training_curve.py --plot-only            # redraw the plot from the tables

Each run is the real ``cyclegan-train`` (the same composed config and ``train()``), plus one
callback that snapshots both generators at evenly spaced steps and keeps a clock of the training
time (from the first batch; set-up, data generation and the snapshots themselves excluded;
validation and image grids included, as a user waits for them). After training, every snapshot is
scored on the whole paired test split by the model's own ``test_step``, with the identity map as
the baseline. Writes ``benchmarks/results/curve_<name>.csv``, appends the run to
``benchmarks/results/training_curve.md`` and redraws ``docs/images/training_curve.png`` from every
``curve_*.csv``.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from omegaconf import open_dict

from cyclegan_lit.cli.errors import exit_on_user_error
from cyclegan_lit.cli.train import train
from cyclegan_lit.config_store import config_dir
from cyclegan_lit.machine import describe

RESULTS = Path(__file__).parent / "results"
Result = TypeVar("Result")
PLOT = Path(__file__).parents[1] / "docs" / "images" / "training_curve.png"
COLUMNS = (
    "step",
    "train_seconds",
    "psnr_AtoB",
    "ssim_AtoB",
    "psnr_BtoA",
    "ssim_BtoA",
    "objects_right_AtoB",
    "objects_right_BtoA",
    "psnr_identity_AtoB",
    "ssim_identity_AtoB",
    "psnr_identity_BtoA",
    "ssim_identity_BtoA",
)


def generator_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of G_A's and G_B's weights, keyed as ``_score`` loads them back."""
    return {
        f"{name}.{key}": value.detach().clone()
        for name in ("G_A", "G_B")
        for key, value in getattr(model, name).state_dict().items()
    }


class GeneratorSnapshots(L.Callback):
    """Copies G_A and G_B every ``every`` batches, with the training time spent so far."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.points: list[tuple[int, float, dict[str, torch.Tensor]]] = []
        self._clock = 0.0
        self._since: float | None = None

    def _snapshot(self, pl_module: L.LightningModule, step: int) -> None:
        self.points.append((step, self._clock, generator_weights(pl_module)))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._snapshot(pl_module, 0)
        self._since = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        batches = trainer.fit_loop.total_batch_idx + 1
        if batches % self.every == 0 and self._since is not None:
            self._clock += time.perf_counter() - self._since
            self._snapshot(pl_module, batches)
            self._since = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._since is not None:
            self._clock += time.perf_counter() - self._since
            self._since = None
        batches = trainer.fit_loop.total_batch_idx + 1
        if not self.points or self.points[-1][0] != batches:
            self._snapshot(pl_module, batches)


def run_or_exit(parser: argparse.ArgumentParser, run: Callable[[], Result]) -> Result:
    """``run()``, with a mistyped override or a bad option value as one argparse error line (as
    ``cyclegan-train`` says them), not a traceback."""
    try:
        return exit_on_user_error(parser.prog, run)
    except CompactHydraException as err:
        parser.error(str(err).replace("\n", " "))


def _compose(overrides: list[str], output_dir: Path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            del cfg.hydra
    return cfg


def _score(cfg, points) -> list[dict[str, float]]:
    """Each snapshot through the model's own test_step on the whole test split."""
    import hydra

    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    model = hydra.utils.instantiate(cfg.model, _convert_="all")
    tester = L.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    rows = []
    for step, seconds, weights in points:
        for name in ("G_A", "G_B"):
            prefix = f"{name}."
            getattr(model, name).load_state_dict(
                {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
            )
        (metrics,) = tester.test(model, datamodule=datamodule, verbose=False)
        row = {"step": step, "train_seconds": round(seconds, 2)}
        row.update({k: round(metrics[f"test/{k}"], 4) for k in COLUMNS[2:]})
        rows.append(row)
        print(
            f"step {step:5d}  {seconds:7.1f} s  A→B {row['psnr_AtoB']:.2f}/{row['ssim_AtoB']:.3f}"
            f"/{row['objects_right_AtoB']:.0%}  B→A {row['psnr_BtoA']:.2f}/{row['ssim_BtoA']:.3f}"
            f"/{row['objects_right_BtoA']:.0%}",
            flush=True,
        )
    return rows


def provenance(command: str) -> str:
    """The line every results table opens with: the machine, when, and the command to rerun."""
    when = time.strftime("%Y-%m-%d %H:%M")
    return f"Machine: {describe()}. Measured {when}. Reproduce: `{command}`"


def _write(
    results: Path, name: str, rows: list[dict[str, Any]], command: str, overrides: list[str]
) -> None:
    results.mkdir(parents=True, exist_ok=True)
    with open(results / f"curve_{name}.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"\n## {name}: `{' '.join(['cyclegan-train', *overrides])}`\n",
        provenance(command) + "\n",
        *markdown_table(rows),
    ]
    with open(results / "training_curve.md", "a") as file:
        file.write("\n".join(lines) + "\n")


def markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    """``_score``'s rows as a Markdown table, with the identity map as its last line."""
    last = rows[-1]
    lines = [
        "| step | training s | A→B PSNR | A→B SSIM | A→B objects right | B→A PSNR | B→A SSIM "
        "| B→A objects right |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['step']} | {row['train_seconds']:.0f} | {row['psnr_AtoB']:.2f} | "
            f"{row['ssim_AtoB']:.3f} | {row['objects_right_AtoB']:.0%} | {row['psnr_BtoA']:.2f} | "
            f"{row['ssim_BtoA']:.3f} | {row['objects_right_BtoA']:.0%} |"
        )
    lines.append(
        f"| identity map | | {last['psnr_identity_AtoB']:.2f} | {last['ssim_identity_AtoB']:.3f}"
        f" | 0% | {last['psnr_identity_BtoA']:.2f} | {last['ssim_identity_BtoA']:.3f} | 0% |"
    )
    return lines


def plot(results: Path, path: Path) -> None:
    """PSNR and SSIM of every recorded recipe against training minutes, identity map dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {p.stem.removeprefix("curve_"): p for p in sorted(results.glob("curve_*.csv"))}
    if not runs:
        raise SystemExit(f"no curve_*.csv under {results}: run a recipe first")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = {"AtoB": "tab:blue", "BtoA": "tab:orange"}
    styles = ["-", "-.", ":"]
    identity: dict[str, float] = {}
    for (name, csv_path), style in zip(runs.items(), styles * len(runs), strict=False):
        with open(csv_path) as file:
            rows = list(csv.DictReader(file))
        minutes = [float(r["train_seconds"]) / 60 for r in rows]
        for axis, kind in zip(axes, ("psnr", "ssim"), strict=True):
            for direction, colour in colours.items():
                values = [float(r[f"{kind}_{direction}"]) for r in rows]
                label = f"{name}: {direction.replace('to', '→')}"
                axis.plot(minutes, values, style, color=colour, marker=".", label=label)
                identity[f"{kind}_{direction}"] = float(rows[-1][f"{kind}_identity_{direction}"])
    for axis, kind, unit in zip(axes, ("psnr", "ssim"), (" (dB)", ""), strict=True):
        level = identity[f"{kind}_AtoB"]
        axis.axhline(level, color="grey", linestyle="--", label="identity map (output = input)")
        axis.set_xlabel("training time (minutes, 2-core CPU)")
        axis.set_ylabel(f"test {kind.upper()}{unit}")
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Built-in synthetic data: test-split scores against the ground truth", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="cyclegan-train overrides of the recipe")
    parser.add_argument("--name", default="default", help="names the table and the curve")
    parser.add_argument("--points", type=int, default=12, help="snapshots along the run")
    parser.add_argument("--plot-only", action="store_true", help="only redraw the plot")
    parser.add_argument("--results", type=Path, default=RESULTS, help="tables go here")
    parser.add_argument("--plot", type=Path, default=PLOT, help="the PNG to (re)draw")
    args = parser.parse_args()
    if args.plot_only:
        plot(args.results, args.plot)
        return
    os.environ.setdefault("WANDB_MODE", "disabled")
    rows, final = run_or_exit(parser, lambda: record(args.overrides, args.points))
    if abs(rows[-1]["psnr_AtoB"] - final.get("test/psnr_AtoB", rows[-1]["psnr_AtoB"])) > 1e-3:
        raise SystemExit("the last snapshot does not score as the run's own test: a bug")
    command = shlex.join(
        [
            "python",
            "benchmarks/training_curve.py",
            *(["--name", args.name] if args.name != "default" else []),
            *args.overrides,
        ]
    )
    _write(args.results, args.name, rows, command, args.overrides)
    plot(args.results, args.plot)


def record(overrides: list[str], points: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Trains the recipe with ``points`` snapshots; their scores and the run's own test metrics."""
    with tempfile.TemporaryDirectory(prefix="curve-") as tmp:
        run_overrides = [*overrides, "logger=none", "~callbacks.rich_progress_bar"]
        run_overrides.append(f"paths.log_dir={tmp}")
        cfg = _compose(run_overrides, Path(tmp) / "run")
        steps = _total_batches(cfg)
        snapshots = GeneratorSnapshots(every=max(1, steps // points))
        with open_dict(cfg):
            cfg.callbacks = cfg.callbacks or {}
        # train() instantiates every callbacks entry: hand it ours through a registered instance
        _INSTANCES["snapshots"] = snapshots
        with open_dict(cfg):
            cfg.callbacks.curve_snapshots = {
                "_target_": f"{__name__}.registered",
                "key": "snapshots",
            }
        final = train(cfg)
        rows = _score(cfg, snapshots.points)
    return rows, final


_INSTANCES: dict[str, L.Callback] = {}


def registered(key: str) -> L.Callback:
    """Hydra target returning a callback built in this script (train() instantiates configs)."""
    return _INSTANCES[key]


def _total_batches(cfg) -> int:
    """Training batches of the recipe: epochs × ceil(max(|A|, |B|) / batch size)."""
    import math

    import hydra

    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    epochs = cfg.trainer.get("max_epochs") or (
        cfg.model.scheduler.n_epochs + cfg.model.scheduler.n_epochs_decay
    )
    return epochs * math.ceil(len(datamodule.train_set) / cfg.data.batch_size)


if __name__ == "__main__":
    sys.exit(main())

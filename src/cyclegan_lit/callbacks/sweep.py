"""Hydra callbacks for sweeps (-m): refuse DDP re-launching; summarise the jobs at the end."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

# Written by cyclegan-train into each job's output folder.
METRICS_FILE = "metrics.json"


def relaunches_per_rank(strategy: Any) -> bool:
    """True for the DDP strategies that re-run the command once per rank (not ``ddp_spawn``)."""
    name = str(strategy or "")
    return name.startswith("ddp") and "spawn" not in name and "fork" not in name


class RefuseDDPInMultirun(Callback):
    """Stop a sweep with ``trainer=ddp`` before it starts: each rank would re-run the sweep."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = str(config.hydra.launcher.get("_target_", ""))
        if "submitit" in launcher:
            return  # SLURM starts one process per rank itself; Lightning does not re-launch
        strategy = config.get("trainer", {}).get("strategy")
        if relaunches_per_rank(strategy):
            sys.exit(
                f"error: trainer.strategy={strategy} cannot run inside a sweep (-m): each rank "
                "would re-launch the whole sweep. Use trainer=ddp_spawn, or hydra/launcher=slurm."
            )


class SweepSummary(Callback):
    """After a sweep, print one row per job: its overrides and the final metrics it saved."""

    def __init__(self, metrics: list[str] | None = None) -> None:
        self.metrics = metrics

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = collect_sweep_results(sweep_dir)
        if rows:
            console = Console()
            console.width = max(console.width, 160)  # not a terminal: rich would assume 80
            console.print(sweep_table(rows, self.metrics, title=f"Sweep {sweep_dir}"))


def collect_sweep_results(sweep_dir: Path) -> list[dict[str, Any]]:
    """Read ``<job>/metrics.json`` of every job folder under ``sweep_dir``, in job order."""
    rows = []
    for path in sweep_dir.glob(f"*/{METRICS_FILE}"):
        rows.append(json.loads(path.read_text()))
    return sorted(rows, key=lambda row: row.get("job_num", 0))


def sweep_table(
    rows: list[dict[str, Any]], metrics: list[str] | None = None, title: str = "Sweep"
) -> Table:
    """A rich table with one column per job: the overrides that differ between jobs, then one row
    per metric (default: every ``val/`` and ``test/`` metric, and the throughput)."""
    names = metrics or sorted(
        {
            name
            for row in rows
            for name in row.get("metrics", {})
            if name.startswith(("val/", "test/")) or name == "train/images_per_sec"
        }
    )
    overrides = [row.get("overrides", []) for row in rows]
    varying = {o for job in overrides for o in job if not all(o in other for other in overrides)}
    table = Table(title=title)
    table.add_column("job")
    for row in rows:
        table.add_column(str(row.get("job_num", "")), overflow="fold")
    table.add_row("overrides", *(" ".join(o for o in job if o in varying) for job in overrides))
    for name in names:
        table.add_row(name, *(_format(row.get("metrics", {}).get(name)) for row in rows))
    return table


def _format(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

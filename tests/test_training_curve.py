"""benchmarks/training_curve.py: a run's snapshots scored on the test split, a table and a plot."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_OVERRIDES

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "training_curve.py"


@pytest.mark.slow
def test_curve_scores_snapshots_and_draws_the_plot(tmp_path: Path, cli_env: dict[str, str]) -> None:
    overrides = [o for o in TINY_OVERRIDES if o != "~callbacks.rich_progress_bar"]
    overrides = [o for o in overrides if not o.startswith("trainer.max_epochs")]
    overrides += ["model.scheduler.n_epochs=1", "model.scheduler.n_epochs_decay=1"]
    overrides.append(f"paths.data_dir={tmp_path / 'data'}")
    results, plot = tmp_path / "results", tmp_path / "curve.png"
    args = ["--name", "tiny", "--points", "2", "--results", str(results), "--plot", str(plot)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, *overrides],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(results / "curve_tiny.csv") as file:
        rows = list(csv.DictReader(file))
    # 8 images, batch 2: 4 batches an epoch, 2 epochs; snapshots at 0, 4 and 8
    assert [int(r["step"]) for r in rows] == [0, 4, 8]
    seconds = [float(r["train_seconds"]) for r in rows]
    assert seconds[0] == 0 and seconds == sorted(seconds) and seconds[-1] > 0
    # the identity map does not depend on the weights; the generators' scores do
    assert len({r["psnr_identity_AtoB"] for r in rows}) == 1
    assert len({r["psnr_AtoB"] for r in rows}) > 1
    table = (results / "training_curve.md").read_text()
    assert "## tiny: `cyclegan-train" in table and "| identity map |" in table
    assert plot.stat().st_size > 10_000

"""Two-process DDP on the CPU (gloo) through the installed CLI: Lightning re-launches the command
for rank 1, and the run still produces one run folder, one checkpoint and one metrics file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import only_run_dir, read_metrics, run_cli


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is missing")
def test_two_process_ddp_run_on_cpu(
    tmp_path: Path, cli_env: dict[str, str], tiny: list[str]
) -> None:
    args = [*tiny, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "logger=csv"]
    result = run_cli([*args, "test=false"], tmp_path, cli_env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run = only_run_dir(tmp_path)  # rank 1 wrote into rank 0's folder, not a new one
    assert (run / "checkpoints" / "last.ckpt").is_file()
    checkpoint = torch.load(
        run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True
    )
    # 8 images, batch 2, two ranks: 2 batches per rank, 2 optimizer steps (G, D) per batch
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (0, 4)
    assert (run / "train_ddp_process_1.log").is_file()  # the re-launched rank 1 logged here
    metrics = read_metrics(run)["metrics"]
    assert "val/loss_cycle" in metrics and metrics["train/images_per_sec"] > 0

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


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is missing")
def test_a_two_process_ddp_run_resumed_inside_an_epoch_ends_bit_identical(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Each rank's data share, position, image pools and RNG survive the checkpoint (rank 0
    gathers the pools and RNG of all ranks into it)."""
    from test_resume import RUN, _checkpoint, _losses

    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
    # 8 images over 2 ranks at batch 1: 4 batches (8 optimizer steps) per epoch, 3 epochs
    args = [*RUN, *ddp, "data.synthetic_train=8", f"paths.data_dir={tmp_path / 'data'}"]
    full = run_cli([*args, "paths.log_dir=full"], tmp_path, cli_env, timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]
    stopped = run_cli(
        [*args, "paths.log_dir=part", "+trainer.max_steps=12",  # epoch 1, after its batch 2
         "~callbacks.model_checkpoint_last", "~callbacks.model_checkpoint"],
        tmp_path, cli_env, timeout=300,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    part = _checkpoint(tmp_path / "part")
    assert (part["epoch"], part["global_step"]) == (1, 12)
    assert len(part["random_state_per_rank"]) == 2
    (ckpt,) = (tmp_path / "part").glob("*/*/checkpoints/last.ckpt")
    resumed = run_cli([*args, f"ckpt_path={ckpt}"], tmp_path, cli_env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    end, again = _checkpoint(tmp_path / "full"), _checkpoint(tmp_path / "part")
    assert again["global_step"] == end["global_step"] == 24
    for name, value in end["state_dict"].items():
        assert torch.equal(value, again["state_dict"][name]), name
    assert _losses(tmp_path / "full") == _losses(tmp_path / "part")

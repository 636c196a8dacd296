"""Checkpoints of an earlier version, whose model had options for the old built-in dataset
(cycle_detach, cycle_noise, lambda_gan_A / _B, lr_scale_G_A / _B, ...): one that used one of them
is refused in one line naming it by every loader, one that left them at the reference's values
loads, translates and resumes as before.

Each old checkpoint is a real one (a tiny model trained with this code), its saved
hyper-parameters edited to hold what the earlier version wrote: all ten options, and the cycle
noise's generator state beside the image pools."""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import TINY_OVERRIDES, run_cli
from PIL import Image
from torch.utils.data import DataLoader

from cyclegan_lit.checkpoint_io import check_resumable
from cyclegan_lit.inference import load_generator
from cyclegan_lit.models import CycleGAN
from cyclegan_lit.removed_options import REMOVED_OPTIONS, check_removed_options

TRANSLATE = Path(sys.executable).parent / "cyclegan-translate"

# what the earlier version saved with its defaults (the reference algorithm)
OLD_DEFAULTS = {
    "lambda_gan_A": 1.0,
    "lambda_gan_B": 1.0,
    "lr_scale_G_A": 1.0,
    "lr_scale_G_B": 1.0,
    "cycle_noise": 0.0,
    "cycle_noise_A": None,
    "cycle_noise_B": None,
    "cycle_detach": False,
    "cycle_detach_A": None,
    "cycle_detach_B": None,
}
# (option, value, as the message shows it): values the earlier version's recipes used
NOT_REFERENCE = [
    ("cycle_detach", True, "model.cycle_detach=True"),
    ("cycle_detach_B", True, "model.cycle_detach_B=True"),
    ("cycle_noise", 0.1, "model.cycle_noise=0.1"),
    ("cycle_noise_B", 0.2, "model.cycle_noise_B=0.2"),
    ("lambda_gan_A", 0.0, "model.lambda_gan_A=0.0"),
    ("lambda_gan_B", 2.0, "model.lambda_gan_B=2.0"),
    ("lr_scale_G_A", 0.5, "model.lr_scale_G_A=0.5"),
    ("lr_scale_G_B", 2.0, "model.lr_scale_G_B=2.0"),
]
SAYS = "an option this version no longer has (removed with the old built-in dataset"


def write_old(good: Path, path: Path, **changed: object) -> Path:
    """``good`` as the earlier version would have written it, with ``changed`` options."""
    checkpoint = torch.load(good, map_location="cpu", weights_only=True)
    checkpoint["hyper_parameters"].update({**OLD_DEFAULTS, **changed})
    checkpoint["noise_rng"] = torch.Generator().manual_seed(2).get_state()
    scales = (changed.get("lr_scale_G_A", 1.0), changed.get("lr_scale_G_B", 1.0))
    if scales != (1.0, 1.0):  # the earlier version gave each generator an Adam group of its own
        groups = checkpoint["optimizer_states"][0]["param_groups"]
        lr = groups[0]["lr"]
        groups[:] = [{**groups[0], "lr": lr * s, "initial_lr": lr * s} for s in scales]
    torch.save(checkpoint, path)
    return path


def _batches() -> DataLoader:
    return DataLoader([{"A": torch.rand(3, 32, 32) * 2 - 1, "B": torch.rand(3, 32, 32) * 2 - 1}])


def _trainer(tmp_path: Path, max_epochs: int) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu", max_epochs=max_epochs, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        default_root_dir=tmp_path,
    )  # fmt: skip


def test_the_list_holds_every_option_the_model_lost() -> None:
    assert set(REMOVED_OPTIONS) == set(OLD_DEFAULTS)
    assert not set(REMOVED_OPTIONS) & set(CycleGAN(generator={"ngf": 8}).hparams)
    kept = {"lambda_cycle": 10.0, "lambda_cycle_A": None, "lr": 2e-4}
    assert check_removed_options({**OLD_DEFAULTS, **kept}, "x") == kept


def test_an_old_checkpoint_of_the_reference_algorithm_loads_translates_and_resumes(
    tmp_path: Path, tiny_model_and_checkpoint
) -> None:
    model, good = tiny_model_and_checkpoint
    old = write_old(good, tmp_path / "old.ckpt")
    x = torch.rand(1, 3, 32, 32) * 2 - 1

    restored = CycleGAN.load_from_checkpoint(old, map_location="cpu").eval()
    with torch.no_grad():
        assert torch.equal(restored.G_A(x), model.G_A(x))
        generator = load_generator(old, "BtoA")
        assert torch.equal(generator.net(x), model.eval().G_B(x))

    check_resumable(old, model, max_epochs=2)
    # one Adam group for both generators (lr_scale 1 and 1): Lightning restores it and trains on
    resumed = CycleGAN(**model.hparams)
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(resumed, train_dataloaders=_batches(), ckpt_path=old)
    assert trainer.current_epoch == 2
    steps = {int(s["step"]) for s in resumed.optimizers()[0].optimizer.state.values()}
    assert steps == {2}  # went on from the checkpoint's one step


@pytest.mark.parametrize(("option", "value", "shown"), NOT_REFERENCE)
def test_an_old_checkpoint_that_used_a_removed_option_is_one_line_in_every_loader(
    tmp_path: Path, tiny_model_and_checkpoint, option: str, value: object, shown: str
) -> None:
    model, good = tiny_model_and_checkpoint
    old = write_old(good, tmp_path / "old.ckpt", **{option: value})
    loaders = {
        f"ckpt_path={old}": (
            lambda: load_generator(old, "AtoB"),
            lambda: load_generator(old, "BtoA"),
            lambda: check_resumable(old, model, max_epochs=2),
        ),
        "checkpoint": (lambda: CycleGAN.load_from_checkpoint(old, map_location="cpu"),),
    }
    for source, calls in loaders.items():
        for call in calls:
            with pytest.raises(ValueError) as info:
                call()
            message = str(info.value)
            assert message.startswith(f"{source}: written with {shown}, {SAYS}"), message
            assert "\n" not in message and "retrain" in message


def test_a_trainer_resuming_an_old_checkpoint_that_used_one_stops_before_training(
    tmp_path: Path, tiny_model_and_checkpoint
) -> None:
    model, good = tiny_model_and_checkpoint
    old = write_old(good, tmp_path / "old.ckpt", cycle_detach=True, lambda_gan_A=0.0)
    resumed = CycleGAN(**model.hparams)
    before = {k: v.clone() for k, v in resumed.state_dict().items()}
    with pytest.raises(ValueError) as info:
        _trainer(tmp_path, max_epochs=2).fit(resumed, train_dataloaders=_batches(), ckpt_path=old)
    message = str(info.value)
    assert message.startswith(
        f"ckpt_path={old}: written with model.cycle_detach=True, model.lambda_gan_A=0.0, options "
        "this version no longer has"
    ), message
    after = resumed.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing loaded or trained


@pytest.mark.slow
def test_the_clis_refuse_an_old_checkpoint_that_used_one_in_one_line(
    tmp_path: Path, cli_env: dict[str, str], shared_data_dir: Path
) -> None:
    """cyclegan-train trains a tiny run; its last.ckpt, as the earlier version would have
    written it, resumes with the reference's values, and with G_B at twice the rate neither
    resumes nor translates: one error line each, before any work."""
    run = [*TINY_OVERRIDES, f"paths.data_dir={shared_data_dir}", "test=false",
           "~callbacks.image_grid", "logger=none"]  # fmt: skip
    result = run_cli(run, tmp_path, cli_env)
    assert result.returncode == 0, result.stderr[-3000:]
    (last,) = (tmp_path / "outputs").glob("*/*/checkpoints/last.ckpt")

    same = write_old(last, tmp_path / "same.ckpt")
    result = run_cli([*run, f"ckpt_path={same}", "trainer.max_epochs=2"], tmp_path, cli_env)
    assert result.returncode == 0, result.stderr[-3000:]

    faster = write_old(last, tmp_path / "faster.ckpt", lr_scale_G_B=2.0)
    expected = f"ckpt_path={faster}: written with model.lr_scale_G_B=2.0, {SAYS}"
    resumed = run_cli([*run, f"ckpt_path={faster}", "trainer.max_epochs=2"], tmp_path, cli_env)
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (32, 32)).save(inputs / "a.png")
    translated = run_cli(
        [f"ckpt_path={faster}", f"input={inputs}", "output_dir=translated"],
        tmp_path,
        cli_env,
        command=[str(TRANSLATE)],
    )
    for program, result in (("cyclegan-train", resumed), ("cyclegan-translate", translated)):
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
        (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
        assert line.startswith(f"{program}: error: {expected}"), line
    assert not [p for p in (tmp_path / "translated").rglob("*") if p.is_file()]  # none translated

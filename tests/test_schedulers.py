"""LR policies stepped once per epoch at the epoch's end, against the reference's numbers."""

import io
import itertools

import pytest
import torch

from cyclegan_lit.schedulers import LR_POLICIES, SchedulerConfig, build_scheduler, total_epochs

LR = 2e-4


def optimizer() -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=LR, betas=(0.5, 0.999))


def epoch_lrs(policy: str, epochs: int, **kwargs) -> list[float]:
    """lrs[k - 1] is the LR used during epoch k (1-based), i.e. after k - 1 end-of-epoch steps."""
    opt = optimizer()
    scheduler = build_scheduler(opt, SchedulerConfig(policy, **kwargs))
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


def test_linear_matches_the_reference_head():
    lrs = epoch_lrs("linear", 200)
    assert all(lr == pytest.approx(LR) for lr in lrs[:100])
    assert lrs[100] == pytest.approx(1.980e-4, rel=1e-3)  # epoch 101
    assert lrs[149] == pytest.approx(1.010e-4, rel=1e-3)  # epoch 150
    assert lrs[199] == pytest.approx(1.98e-6, rel=1e-2)  # epoch 200: never 0
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_linear_epoch_count_starts_the_schedule_later():
    # Resuming at epoch 151 the reference way gives epochs 151-200 of an uninterrupted run.
    resumed = epoch_lrs("linear", 50, epoch_count=151)
    assert resumed == pytest.approx(epoch_lrs("linear", 200)[150:])


def test_linear_scheduler_state_restores():
    opt = optimizer()
    scheduler = build_scheduler(opt, SchedulerConfig("linear", n_epochs=2, n_epochs_decay=4))
    for _ in range(3):
        opt.step()
        scheduler.step()
    buffer = io.BytesIO()
    torch.save(scheduler.state_dict(), buffer)
    buffer.seek(0)
    opt2 = optimizer()
    restored = build_scheduler(opt2, SchedulerConfig("linear", n_epochs=2, n_epochs_decay=4))
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    opt.step()
    scheduler.step()
    opt2.step()
    restored.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    assert opt2.param_groups[0]["lr"] < LR


def test_step_decays_every_lr_decay_epochs():
    lrs = epoch_lrs("step", 120, lr_decay_epochs=50)
    assert lrs[0] == pytest.approx(LR) and lrs[49] == pytest.approx(LR)
    assert lrs[50] == pytest.approx(LR * 0.1) and lrs[99] == pytest.approx(LR * 0.1)
    assert lrs[100] == pytest.approx(LR * 0.01)


def test_cosine_anneals_to_zero_over_the_whole_run_without_climbing_back():
    lrs = epoch_lrs("cosine", 200)
    assert lrs[0] == pytest.approx(LR)
    assert lrs[100] == pytest.approx(LR / 2, rel=1e-3)  # halfway through 200 epochs
    assert lrs[-1] < LR * 1e-3
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_plateau_reduces_only_when_the_metric_stalls():
    opt = optimizer()
    scheduler = build_scheduler(opt, SchedulerConfig("plateau"))
    for epoch in range(20):  # improving by 10% each epoch: above the 1% threshold
        scheduler.step(1.0 * 0.9**epoch)
    assert opt.param_groups[0]["lr"] == pytest.approx(LR)
    lrs = []
    for _ in range(8):  # stalled
        scheduler.step(1.0)
        lrs.append(opt.param_groups[0]["lr"])
    # patience 5: the 6th epoch without improvement cuts the LR by 0.2.
    assert lrs[:5] == pytest.approx([LR] * 5)
    assert lrs[5] == pytest.approx(LR * 0.2)


def test_unknown_policy_is_a_one_line_error_naming_the_key():
    with pytest.raises(ValueError, match="linear, step, cosine, plateau") as info:
        SchedulerConfig("exponential")
    assert str(info.value).startswith("model.scheduler.policy='exponential': ")
    assert "\n" not in str(info.value)
    assert set(LR_POLICIES) == {"linear", "step", "cosine", "plateau"}


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"n_epochs": -1}, "model.scheduler.n_epochs=-1"),
        ({"n_epochs_decay": -2}, "model.scheduler.n_epochs_decay=-2"),
        ({"epoch_count": 0}, "model.scheduler.epoch_count=0"),
        ({"lr_decay_epochs": 0}, "model.scheduler.lr_decay_epochs=0"),
        ({"n_epochs": 0, "n_epochs_decay": 0}, "model.scheduler.n_epochs=0"),
        ({"n_epochs": 2, "n_epochs_decay": 2, "epoch_count": 6}, "no epoch to train"),
    ],
)
def test_bad_schedules_are_one_line_errors_naming_the_key(options: dict, key: str):
    with pytest.raises(ValueError, match=key) as info:
        SchedulerConfig(**options)
    assert "\n" not in str(info.value)


def test_total_epochs_follows_the_reference_epoch_loop():
    # range(epoch_count, n_epochs + n_epochs_decay + 1)
    assert total_epochs(100, 100, 1) == len(range(1, 201))
    assert SchedulerConfig(epoch_count=51).total_epochs == len(range(51, 201))

"""Learning-rate schedules in epochs, as the reference's ``get_scheduler`` (REFERENCE.md §1.8).

``SchedulerConfig`` is the one home of the schedule's options (``model.scheduler`` in the configs)
and of its length, ``total_epochs``, which sets ``trainer.max_epochs``. Every scheduler returned by
``build_scheduler`` is stepped **once per epoch, at the epoch's end**,
as the reference's HEAD does; "epoch k" below is the LR used during the k-th epoch (1-based), i.e.
after k−1 steps. Lightning does not step schedulers under manual optimization: the
LightningModule does.

Policies and how they differ from the reference:

* ``linear`` (default): constant LR for ``n_epochs`` epochs, then linear decay over
  ``n_epochs_decay`` epochs; after ``e`` steps the LR is
  ``lr · (1 − max(0, e + epoch_count − n_epochs) / (n_epochs_decay + 1))``. With 100 + 100
  epochs: 2e-4 for epochs 1–100, 1.980e-4 at 101, 1.010e-4 at 150, 1.98e-6 at 200. Same as the
  reference HEAD (the 2024 code stepped at the epoch's start, so decay began one epoch early and
  the last epoch ran at LR 0). ``epoch_count`` is the first epoch's number when resuming the
  reference way, without scheduler state.
* ``step``: ``StepLR(step_size=lr_decay_epochs, gamma)``, per epoch. The reference calls the option
  ``lr_decay_iters`` but also steps it per epoch.
* ``cosine``: ``CosineAnnealingLR(T_max=n_epochs + n_epochs_decay)``, so the LR anneals to 0 over
  the whole run. The reference uses ``T_max=n_epochs``, and because it trains
  ``n_epochs + n_epochs_decay`` epochs its LR climbs back to the initial value by the end.
* ``plateau``: ``ReduceLROnPlateau(mode, factor=0.2, threshold=0.01, patience=5)``. The caller must
  step it with a real metric (``scheduler.step(value)``); the reference steps it with a constant 0,
  so its LR is cut ×0.2 every 6 epochs regardless of training.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)

LR_POLICIES = ("linear", "step", "cosine", "plateau")
# The reference's fixed settings (networks.get_scheduler): StepLR's gamma, ReduceLROnPlateau's.
STEP_GAMMA = 0.1
PLATEAU = {"mode": "min", "factor": 0.2, "threshold": 0.01, "patience": 5}


def total_epochs(n_epochs: int, n_epochs_decay: int, epoch_count: int = 1) -> int:
    """Epochs the reference trains: ``range(epoch_count, n_epochs + n_epochs_decay + 1)``."""
    return int(n_epochs) + int(n_epochs_decay) - int(epoch_count) + 1


@dataclass
class SchedulerConfig:
    """The learning-rate schedule: the reference's ``--lr_policy --n_epochs --n_epochs_decay
    --epoch_count --lr_decay_iters`` (in epochs), and the metric ``plateau`` steps on."""

    policy: str = "linear"
    n_epochs: int = 100
    n_epochs_decay: int = 100
    epoch_count: int = 1
    lr_decay_epochs: int = 50
    plateau_monitor: str = "val/loss_cycle"

    def __post_init__(self) -> None:
        key = "model.scheduler"
        if self.policy not in LR_POLICIES:
            raise ValueError(f"{key}.policy={self.policy!r}: not one of {', '.join(LR_POLICIES)}")
        for option in ("n_epochs", "n_epochs_decay"):
            if getattr(self, option) < 0:
                raise ValueError(f"{key}.{option}={getattr(self, option)}: must be >= 0")
        if self.epoch_count < 1:
            raise ValueError(f"{key}.epoch_count={self.epoch_count}: must be >= 1")
        if self.lr_decay_epochs < 1:
            raise ValueError(f"{key}.lr_decay_epochs={self.lr_decay_epochs}: must be >= 1")
        if self.total_epochs < 1:
            raise ValueError(
                f"{key}.n_epochs={self.n_epochs}: with n_epochs_decay={self.n_epochs_decay} it "
                f"leaves no epoch to train from epoch_count={self.epoch_count}"
            )

    @property
    def total_epochs(self) -> int:
        """The run's length in epochs: ``trainer.max_epochs``."""
        return total_epochs(self.n_epochs, self.n_epochs_decay, self.epoch_count)


class LinearDecay:
    """LR multiplier of the ``linear`` policy after ``epoch`` end-of-epoch steps.

    A callable object rather than a closure, so ``LambdaLR.state_dict`` stores its settings.
    """

    def __init__(self, n_epochs: int, n_epochs_decay: int, epoch_count: int) -> None:
        self.n_epochs = n_epochs
        self.n_epochs_decay = n_epochs_decay
        self.epoch_count = epoch_count

    def __call__(self, epoch: int) -> float:
        return 1.0 - max(0, epoch + self.epoch_count - self.n_epochs) / float(
            self.n_epochs_decay + 1
        )


def build_scheduler(
    optimizer: Optimizer, config: SchedulerConfig | None = None
) -> LRScheduler | ReduceLROnPlateau:
    """The scheduler ``config`` describes; step it once at the end of every epoch."""
    c = config or SchedulerConfig()
    if c.policy == "linear":
        return LambdaLR(optimizer, LinearDecay(c.n_epochs, c.n_epochs_decay, c.epoch_count))
    if c.policy == "step":
        return StepLR(optimizer, step_size=c.lr_decay_epochs, gamma=STEP_GAMMA)
    if c.policy == "cosine":
        return CosineAnnealingLR(optimizer, T_max=c.n_epochs + c.n_epochs_decay, eta_min=0.0)
    return ReduceLROnPlateau(optimizer, **PLATEAU)

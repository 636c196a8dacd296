"""Learning-rate schedules in epochs, as the reference's ``get_scheduler`` (``models/networks.py``).

``SchedulerConfig`` is the one home of the schedule's options (``model.scheduler`` in the configs)
and of the run's length, ``total_epochs``, which sets ``trainer.max_epochs``. Every scheduler from
``build_scheduler`` is stepped once per epoch, at the epoch's end, by the LightningModule: Lightning
does not step schedulers under manual optimization. ``linear`` (default) keeps the LR for
``n_epochs`` epochs, then decays it linearly over ``n_epochs_decay``; ``step``, ``cosine`` and
``plateau`` wrap the torch schedulers with the reference's fixed settings. Deliberate differences
from the reference (cosine length, plateau metric, step time) are listed in docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only when a scheduler is built: the configs compose without it
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

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
    from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, ReduceLROnPlateau, StepLR

    c = config or SchedulerConfig()
    if c.policy == "linear":
        return LambdaLR(optimizer, LinearDecay(c.n_epochs, c.n_epochs_decay, c.epoch_count))
    if c.policy == "step":
        return StepLR(optimizer, step_size=c.lr_decay_epochs, gamma=STEP_GAMMA)
    if c.policy == "cosine":
        return CosineAnnealingLR(optimizer, T_max=c.n_epochs + c.n_epochs_decay, eta_min=0.0)
    return ReduceLROnPlateau(optimizer, **PLATEAU)

"""Learning-rate schedules in epochs, as the reference's ``get_scheduler`` (REFERENCE.md §1.8).

Every scheduler returned by ``build_scheduler`` is stepped **once per epoch, at the epoch's end**,
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

from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LRScheduler,
    ReduceLROnPlateau,
    StepLR,
)

LR_POLICIES = ("linear", "step", "cosine", "plateau")


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
    optimizer: Optimizer,
    policy: str = "linear",
    n_epochs: int = 100,
    n_epochs_decay: int = 100,
    epoch_count: int = 1,
    lr_decay_epochs: int = 50,
    gamma: float = 0.1,
    plateau_factor: float = 0.2,
    plateau_threshold: float = 0.01,
    plateau_patience: int = 5,
    plateau_mode: str = "min",
) -> LRScheduler | ReduceLROnPlateau:
    """The scheduler for ``policy``; step it once at the end of every epoch."""
    if n_epochs < 0 or n_epochs_decay < 0:
        raise ValueError(
            f"schedulers.py: n_epochs ({n_epochs}) and n_epochs_decay ({n_epochs_decay}) "
            "must be >= 0"
        )
    if policy == "linear":
        return LambdaLR(optimizer, lr_lambda=LinearDecay(n_epochs, n_epochs_decay, epoch_count))
    if policy == "step":
        return StepLR(optimizer, step_size=lr_decay_epochs, gamma=gamma)
    if policy == "cosine":
        total = n_epochs + n_epochs_decay
        if total < 1:
            raise ValueError(
                "schedulers.py: the cosine policy needs n_epochs + n_epochs_decay >= 1"
            )
        return CosineAnnealingLR(optimizer, T_max=total, eta_min=0.0)
    if policy == "plateau":
        return ReduceLROnPlateau(
            optimizer,
            mode=plateau_mode,
            factor=plateau_factor,
            threshold=plateau_threshold,
            patience=plateau_patience,
        )
    raise ValueError(
        f"schedulers.py: unknown lr policy {policy!r}; choose one of {', '.join(LR_POLICIES)}"
    )

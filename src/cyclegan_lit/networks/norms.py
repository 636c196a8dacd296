"""Normalisation layers chosen by name, with the reference's conv-bias rule (models/networks.py).

``syncbatch`` builds :class:`torch.nn.SyncBatchNorm` directly. Under Lightning you can instead keep
``norm="batch"`` and pass ``Trainer(sync_batchnorm=True)``: Lightning then converts every BatchNorm
to SyncBatchNorm when it wraps the model in DDP (the same as :func:`to_sync_batchnorm`), and the
state_dict keys stay identical, so checkpoints load either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from torch import nn

from .options import NORM_NAMES

NormFactory = Callable[[int], nn.Module]


def _check_norm(norm: str) -> str:
    if norm not in NORM_NAMES:
        raise ValueError(f"unknown norm {norm!r}: choose one of {', '.join(NORM_NAMES)}")
    return norm


def get_norm_layer(norm: str = "instance") -> NormFactory:
    """Return a factory ``num_features -> nn.Module`` for the named normalisation.

    ``instance`` has no parameters and no buffers (affine=False, track_running_stats=False), as in
    the reference since late 2018; ``batch``/``syncbatch`` are affine with running statistics.
    """
    _check_norm(norm)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "syncbatch":
        return functools.partial(nn.SyncBatchNorm, affine=True, track_running_stats=True)
    return lambda num_features: nn.Identity()


def norm_uses_bias(norm: str) -> bool:
    """Whether a conv followed by this norm has a bias.

    The reference gives such convs a bias only under instance norm (it compares the norm class with
    InstanceNorm2d), so ``none`` and ``syncbatch`` convs have no bias either: a quirk kept so that
    parameter counts and state_dict keys match (G9 with ``none`` has 11,372,931 parameters).
    """
    return _check_norm(norm) == "instance"


def to_sync_batchnorm(net: nn.Module) -> nn.Module:
    """Convert every BatchNorm in ``net`` to SyncBatchNorm (what ``sync_batchnorm=True`` does)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(net)

"""Weight initialisation exactly as the reference's ``init_weights`` (models/networks.py).

Applied with ``net.apply`` so that, under the same seed, parameters are drawn in the same order
as in the reference.
"""

from __future__ import annotations

from torch import nn

from .options import INIT_TYPES


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialise conv/linear weights by ``init_type``, zero their biases; BatchNorm ~ N(1, gain).

    Layers are matched like the reference does, by class name containing ``Conv`` or ``Linear``
    (so ConvTranspose is included). ``kaiming`` is ``kaiming_normal_(a=0, mode="fan_in")`` and
    ignores ``init_gain``, as in the reference. Deviation: SyncBatchNorm is initialised like
    BatchNorm2d (the reference's class-name test skips it), so ``syncbatch`` and ``batch`` nets
    start from the same distribution.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}: choose one of {', '.join(INIT_TYPES)}")

    def init_module(m: nn.Module) -> None:
        classname = m.__class__.__name__
        weight = getattr(m, "weight", None)
        if weight is not None and ("Conv" in classname or "Linear" in classname):
            if init_type == "normal":
                nn.init.normal_(weight.data, 0.0, init_gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(weight.data, gain=init_gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(weight.data, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(weight.data, gain=init_gain)
            bias = getattr(m, "bias", None)
            if bias is not None:
                nn.init.constant_(bias.data, 0.0)
        elif isinstance(m, nn.BatchNorm2d | nn.SyncBatchNorm) and weight is not None:
            nn.init.normal_(weight.data, 1.0, init_gain)
            nn.init.constant_(m.bias.data, 0.0)

    net.apply(init_module)
    return net

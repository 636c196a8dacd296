"""Model options that earlier versions had and this one does not, checked wherever a checkpoint's
hyper-parameters become a model again.

The CycleGAN LightningModule once carried options for the old built-in dataset (a detached or noisy
cycle, per-generator GAN weights and learning rates). They are gone: the module is the reference
algorithm only. A checkpoint that used one of them was trained with another algorithm, so every
load path (``CycleGAN.load_from_checkpoint`` and a ``Trainer``'s ``ckpt_path``, a resumed or tested
``cyclegan-train``, ``cyclegan-translate`` / ``-export`` / ``-eval``) refuses it in one line naming
the option. One that left them all at the reference's values is a reference CycleGAN and loads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _off(value: Any) -> bool:
    return value is None or value is False


def _no_noise(value: Any) -> bool:
    return value is None or (not isinstance(value, bool) and value == 0)


def _one(value: Any) -> bool:
    return not isinstance(value, bool) and value == 1


# name -> whether a saved value is the reference's (then the option did nothing and is dropped)
REMOVED_OPTIONS: dict[str, Callable[[Any], bool]] = {
    "cycle_detach": _off,
    "cycle_detach_A": _off,
    "cycle_detach_B": _off,
    "cycle_noise": _no_noise,
    "cycle_noise_A": _no_noise,
    "cycle_noise_B": _no_noise,
    "lambda_gan_A": _one,
    "lambda_gan_B": _one,
    "lr_scale_G_A": _one,
    "lr_scale_G_B": _one,
}


def check_removed_options(hparams: Mapping[str, Any] | None, source: str) -> dict[str, Any]:
    """``hparams`` (a checkpoint's ``hyper_parameters``) without the removed options, which must
    hold the reference's values; otherwise a one-line ``ValueError`` starting with ``source``
    (e.g. ``ckpt_path=<file>``) that names each option set otherwise."""
    hparams = dict(hparams or {})
    used = [
        f"model.{name}={hparams[name]!r}"
        for name, is_reference in REMOVED_OPTIONS.items()
        if name in hparams and not is_reference(hparams[name])
    ]
    if used:
        what = "an option" if len(used) == 1 else "options"
        raise ValueError(
            f"{source}: written with {', '.join(used)}, {what} this version no longer has (removed "
            "with the old built-in dataset: the model is the reference CycleGAN only); retrain, "
            "or use the cyclegan-lit version that wrote it"
        )
    return {k: v for k, v in hparams.items() if k not in REMOVED_OPTIONS}

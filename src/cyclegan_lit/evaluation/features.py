"""The network whose features FID and KID compare: the standard Inception, or a module of yours.

Numbers are comparable with papers only with the standard one: torch-fidelity's TF-ported
InceptionV3 (pool3, 2048 features), fed uint8 images that it resizes to 299 px with TF1's bilinear
resize, as the original TensorFlow FID does; another resize gives other numbers (reference
#1192). Its weights are never fetched in the middle of a run: they are looked up (and fetched,
once) when the extractor is built, and a failure says which file, where, and how to get it. A
custom ``torch.nn.Module`` gets float images in [0, 1] resized to 299 px and returns N×D
features; its numbers only compare with themselves.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cyclegan_lit.messages import first_line

INPUT_SIZE = 299  # the side every image is resized to, as the standard protocol does
INCEPTION_DIM = 2048
# torch-fidelity's converted TF Inception (the same file pytorch-fid ships as pt_inception-...)
INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
_CACHE_NAMES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
_DOWNLOAD_TIMEOUT_S = 30


class FeatureExtractor:
    """Images (uint8, N×C×H×W, C 1 or 3) → N×D float32 features, in fp32 outside any autocast.

    ``takes_uint8``: the network gets uint8 images at their own size and resizes them itself (the
    Inception); otherwise floats in [0, 1] resized here to ``INPUT_SIZE`` (bilinear).
    """

    def __init__(self, net: nn.Module, name: str, takes_uint8: bool, dim: int | None = None):
        self.net = net.eval().requires_grad_(False)
        self.name = name
        self.takes_uint8 = takes_uint8
        self.dim = dim if dim is not None else self._probe()

    @property
    def device(self) -> torch.device:
        tensor = next(iter([*self.net.parameters(), *self.net.buffers()]), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def to(self, device: str | torch.device) -> FeatureExtractor:
        self.net.to(device)
        return self

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"features: expected uint8 N×(1|3)×H×W images, got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        device = self.device
        batch = images.to(device).expand(-1, 3, -1, -1)
        with torch.autocast(device.type, enabled=False):
            if not self.takes_uint8:
                batch = batch.float().div(255.0)
                batch = F.interpolate(
                    batch, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False
                )
            features = self.net(batch)
        if not isinstance(features, Tensor):
            raise ValueError(f"features={self.name}: returned a {type(features).__name__}")
        return features.float().reshape(len(images), -1)

    def _probe(self) -> int:
        try:
            features = self(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
        except Exception as err:  # a user's module: say which and why, in one line
            first = first_line(err, 200)
            raise ValueError(
                f"features={self.name}: fails on a 2×3×{INPUT_SIZE}×{INPUT_SIZE} float batch in "
                f"[0, 1] ({first}); it must return N×D features"
            ) from None
        return int(features.shape[1])


def build_feature_extractor(
    features: str | nn.Module | Mapping[str, Any] = "inception",
    inception_weights: str | Path | None = None,
) -> FeatureExtractor:
    """``inception`` (the standard one), a module, or a Hydra ``_target_`` config of a module."""
    if isinstance(features, str):
        if features != "inception":
            raise ValueError(
                f"features={features!r}: give `inception` or a _target_ config of a torch.nn.Module"
            )
        return inception_extractor(inception_weights)
    if isinstance(features, Mapping):
        if "_target_" not in features:
            raise ValueError("features: a config of a custom extractor needs a _target_")
        import hydra

        name = str(features["_target_"])
        try:
            module = hydra.utils.instantiate(features, _convert_="all")
        except Exception as err:
            cause = err.__cause__ or err
            first = first_line(cause, 200)
            raise ValueError(f"features={name}: cannot be built ({first})") from None
    else:
        module = features
        name = f"{type(module).__module__}.{type(module).__qualname__}"
    if not isinstance(module, nn.Module):
        raise ValueError(f"features={name}: not a torch.nn.Module ({type(module).__name__})")
    return FeatureExtractor(module, name, takes_uint8=False)


def inception_extractor(weights: str | Path | None = None) -> FeatureExtractor:
    """The standard extractor, with weights from ``weights`` or the torch hub cache."""
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
    except ImportError as err:  # pragma: no cover - torchmetrics is a dependency
        raise ValueError(f"features=inception: torchmetrics is broken ({err})") from None
    if not _TORCH_FIDELITY_AVAILABLE:
        raise ValueError(
            "features=inception needs torch-fidelity: pip install 'cyclegan-lit[eval]' (or give "
            "features a _target_ of your own torch.nn.Module)"
        )
    path = inception_weights_file(weights)
    try:
        # antialias=False: TF1's bilinear resize to 299 px, as the standard protocol does
        net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=[str(INCEPTION_DIM)],
            feature_extractor_weights_path=str(path),
            antialias=False,
        )
    except Exception as err:
        first = first_line(err, 160)
        raise ValueError(
            f"inception_weights={path}: not the Inception weights torch-fidelity expects "
            f"({first}); download {INCEPTION_URL} again"
        ) from None
    return FeatureExtractor(net, "inception", takes_uint8=True, dim=INCEPTION_DIM)


def inception_weights_file(weights: str | Path | None = None) -> Path:
    """``weights`` if given (it must exist), else the torch hub cache's copy, fetched if missing."""
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"inception_weights={path}: no such file; download {INCEPTION_URL} there, or set "
                "inception_weights=null to use the torch hub cache"
            )
        return path
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for name in _CACHE_NAMES:
        if (folder / name).is_file():
            return folder / name
    target = folder / _CACHE_NAMES[0]
    try:
        _download(INCEPTION_URL, target)
    except Exception as err:
        reason = first_line(err, 120)
        raise FileNotFoundError(
            f"features=inception: the Inception weights {target.name} are not in {folder} and "
            f"cannot be downloaded ({reason}); download {INCEPTION_URL} into {folder}/ (or set "
            "TORCH_HOME), or give the file with inception_weights=<path>"
        ) from None
    return target


def _download(url: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    match = re.search(r"-([a-f0-9]{8,})\.", target.name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)  # no network must not mean a hang
    try:
        torch.hub.download_url_to_file(url, str(target), match.group(1) if match else None)
    finally:
        socket.setdefaulttimeout(previous)

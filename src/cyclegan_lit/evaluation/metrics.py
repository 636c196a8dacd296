"""FID and KID in both directions, PSNR and SSIM against ground truth, and the identity baseline.

FID compares the translated images with the real test images of the target domain, not with
their inputs: it measures realism, not fidelity to the input (reference #730), so it is reported
beside PSNR/SSIM where a dataset has ground truth, and beside the identity map's PSNR/SSIM (what
"translating" by doing nothing scores). Every image goes through the feature extractor once: its
features feed torchmetrics' FID and KID alike. Images arrive as uint8, as the saved PNGs papers
score; everything is computed in fp32 (FID's sums in fp64), never under autocast. FID from fewer
images than feature dimensions (2048) is biased upwards: compare runs at equal image counts.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image import (
    FrechetInceptionDistance,
    KernelInceptionDistance,
    PeakSignalNoiseRatio,
    StructuralSimilarityIndexMeasure,
)

from .features import FeatureExtractor

log = logging.getLogger(__name__)

DIRECTIONS: tuple[str, ...] = ("AtoB", "BtoA")
# direction -> (domain of its inputs, domain of its outputs)
DOMAINS: dict[str, tuple[str, str]] = {"AtoB": ("A", "B"), "BtoA": ("B", "A")}
# metrics are computed where they are needed (rank 0 of a DDP run): no gathering across ranks
_LOCAL = {"sync_on_compute": False, "dist_sync_on_step": False}


def check_directions(directions: str | Sequence[str], key: str = "directions") -> tuple[str, ...]:
    """``directions`` as a tuple of AtoB / BtoA, each at most once."""
    chosen = (directions,) if isinstance(directions, str) else tuple(directions)
    if not chosen or any(d not in DIRECTIONS for d in chosen) or len(set(chosen)) < len(chosen):
        raise ValueError(f"{key}={list(chosen)}: give AtoB, BtoA or both, each once")
    return chosen


class _Precomputed(nn.Module):
    """Hands features already extracted to torchmetrics as its ``feature`` network."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def _to_unit(images: Tensor) -> Tensor:
    return images.float().div(255.0)


class TranslationMetrics:
    """Accumulates one evaluation: ``update`` per batch, ``compute`` once. Metrics live on the
    extractor's device (move it first). Without an extractor (None) FID and KID are not computed,
    only PSNR/SSIM against ground truth, on ``device``.

    ``kid_subset_size``: images per KID subset; capped at the number of images there are.
    PSNR is the mean of per-image PSNRs, as papers average it (the model's ``val/psnr_*`` pools
    the squared errors of a whole epoch instead); SSIM is the mean of per-image SSIMs.
    """

    def __init__(
        self,
        extractor: FeatureExtractor | None,
        directions: Sequence[str] = DIRECTIONS,
        kid_subset_size: int = 1000,
        kid_subsets: int = 100,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if kid_subset_size < 2:
            raise ValueError(f"kid_subset_size={kid_subset_size}: must be at least 2")
        if kid_subsets < 1:
            raise ValueError(f"kid_subsets={kid_subsets}: must be at least 1")
        self.extractor = extractor
        self.directions = check_directions(directions)
        self.kid_subset_size = kid_subset_size
        self.seed = seed
        self.device = extractor.device if extractor is not None else torch.device(device)
        device = self.device
        self.fid: dict[str, FrechetInceptionDistance] = {}
        self.kid: dict[str, KernelInceptionDistance] = {}
        self.paired: dict[str, Metric] = {}
        self.counts = {d: {"real": 0, "fake": 0} for d in self.directions}
        with warnings.catch_warnings():  # KID's notice that it keeps every feature
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            for d in self.directions:
                if extractor is not None:
                    feature = _Precomputed(extractor.dim)
                    self.fid[d] = FrechetInceptionDistance(feature=feature, **_LOCAL).to(device)
                    self.kid[d] = KernelInceptionDistance(
                        feature=feature, subsets=kid_subsets, subset_size=kid_subset_size, **_LOCAL
                    ).to(device)
                for name in (d, f"identity_{d}"):
                    self.paired[f"psnr_{name}"] = PeakSignalNoiseRatio(
                        data_range=1.0, dim=(1, 2, 3), **_LOCAL
                    ).to(device)
                    self.paired[f"ssim_{name}"] = StructuralSimilarityIndexMeasure(
                        data_range=1.0, **_LOCAL
                    ).to(device)
        self.notes: list[str] = []
        self.kid_subset_sizes: dict[str, int] = {}

    @torch.no_grad()
    def update(
        self,
        direction: str,
        fake: Tensor | None = None,
        real: Tensor | None = None,
        source: Tensor | None = None,
        target: Tensor | None = None,
    ) -> None:
        """uint8 batches of one ``direction``: ``fake`` (translated), ``real`` (real images of
        the target domain), and for ground truth ``source`` (the inputs of ``fake``) and
        ``target`` (their true translations)."""
        device = self.device
        with torch.autocast(device.type, enabled=False):
            for images, is_real in ((fake, False), (real, True)):
                if images is None or len(images) == 0 or self.extractor is None:
                    continue
                features = self.extractor(images)
                self.fid[direction].update(features, real=is_real)
                self.kid[direction].update(features, real=is_real)
                self.counts[direction]["real" if is_real else "fake"] += len(images)
            if fake is None or target is None or len(fake) == 0:
                return
            target_f = _to_unit(target.to(device))
            pairs = {direction: fake, f"identity_{direction}": source}
            for name, images in pairs.items():
                if images is None or images.shape != target.shape:
                    continue  # the identity baseline is undefined across channel counts
                images_f = _to_unit(images.to(device))
                self.paired[f"psnr_{name}"].update(images_f, target_f)
                self.paired[f"ssim_{name}"].update(images_f, target_f)

    @torch.no_grad()
    def compute(self) -> dict[str, float]:
        """``fid_<d>``, ``kid_<d>`` and ``kid_<d>_std`` per direction, and ``psnr_<d>``,
        ``ssim_<d>``, ``psnr_identity_<d>``, ``ssim_identity_<d>`` where there was ground truth.
        What was capped or skipped is logged and kept in ``notes``."""
        results: dict[str, float] = {}
        self.notes, self.kid_subset_sizes = [], {}
        with torch.autocast(self.device.type, enabled=False):
            if self.extractor is not None:
                for d in self.directions:
                    results.update(self._distribution_metrics(d))
            for name, metric in self.paired.items():
                if metric.update_count:
                    results[name] = float(metric.compute())
        return results

    def _distribution_metrics(self, direction: str) -> dict[str, float]:
        fakes, reals = self.counts[direction]["fake"], self.counts[direction]["real"]
        if min(fakes, reals) < 2:
            self._note(
                f"fid_{direction} and kid_{direction} skipped: {fakes} translated and {reals} "
                "real images; FID and KID need at least 2 of each"
            )
            return {}
        results = {"fid_" + direction: float(self.fid[direction].compute())}
        kid = self.kid[direction]
        size = min(self.kid_subset_size, fakes, reals)
        if size < self.kid_subset_size:
            self._note(
                f"kid_{direction}: kid_subset_size={self.kid_subset_size} is more than the "
                f"{min(fakes, reals)} images there are; using subsets of {size}"
            )
        kid.subset_size = size
        self.kid_subset_sizes[direction] = size
        with torch.random.fork_rng(devices=[]):  # KID's subsets: the same for the same images
            torch.manual_seed(self.seed)
            mean, std = kid.compute()
        results["kid_" + direction] = float(mean)
        results[f"kid_{direction}_std"] = float(std)
        return results

    def _note(self, message: str) -> None:
        log.warning(message)
        self.notes.append(message)

"""The share of objects translated right: what a person sees in a grid, as a number.

PSNR and SSIM average over the whole image, where the background (kept as it is) outweighs the
objects (the part that changes). Where the test split labels its objects (the built-in data's
``testMask/``), each object is judged on its own pixels: it is **right** when the translation's
mean absolute error against the ground truth there is at most ``RIGHT_FRACTION`` of the identity
map's error there (the error of not translating it at all). An object the generator left as it
was, or painted half-way, is wrong; one with the change in the right place and colour is right.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

# an object is right when its error is at most this share of the identity map's error
RIGHT_FRACTION = 0.5


def object_errors(
    prediction: Tensor, target: Tensor, source: Tensor, labels: Tensor
) -> tuple[Tensor, Tensor]:
    """Per object: the mean absolute error of ``prediction`` and of ``source`` (the identity map)
    against ``target`` on the object's pixels. Images are N×C×H×W in one range, ``labels`` N×H×W
    (or N×1×H×W) integers, 0 for the background and k > 0 for object k of that image. Returns two
    1-D tensors, one entry per object present, in image order."""
    if labels.dim() == 4:
        labels = labels[:, 0]
    error = (prediction.float() - target.float()).abs().mean(dim=1)
    identity = (source.float() - target.float()).abs().mean(dim=1)
    ours, baseline = [], []
    for i in range(labels.shape[0]):
        for k in labels[i].unique():
            if k == 0:
                continue
            mask = labels[i] == k
            ours.append(error[i][mask].mean())
            baseline.append(identity[i][mask].mean())
    if not ours:
        empty = prediction.new_zeros(0, dtype=torch.float32)
        return empty, empty
    return torch.stack(ours), torch.stack(baseline)


class ObjectsRight(Metric):
    """The share of labelled objects translated right (see the module docstring)."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, fraction: float = RIGHT_FRACTION, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fraction = fraction
        self.add_state("right", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, prediction: Tensor, target: Tensor, source: Tensor, labels: Tensor) -> None:
        ours, baseline = object_errors(prediction, target, source, labels)
        self.right += (ours <= self.fraction * baseline).sum()
        self.total += ours.numel()

    def compute(self) -> Tensor:
        return self.right / self.total.clamp(min=1)

"""The share of objects translated right: defined on the built-in data's labelled test scenes."""

from __future__ import annotations

import numpy as np
import torch

from cyclegan_lit.data.synthetic import make_scene, object_labels, render
from cyclegan_lit.evaluation.objects import RIGHT_FRACTION, ObjectsRight, object_errors


def _scene_tensors(index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    scene = make_scene(index, 64, 0)

    def as_tensor(style: str) -> torch.Tensor:
        return torch.from_numpy(render(scene, style)).permute(2, 0, 1)[None].float() / 255

    labels = torch.from_numpy(object_labels(scene))[None]
    return as_tensor("A"), as_tensor("B"), labels, list(scene.objects)


def test_truth_is_all_right_and_the_identity_map_none():
    a, b, labels, objects = _scene_tensors(3)
    metric = ObjectsRight()
    metric.update(b, b, a, labels)  # A→B translated perfectly
    assert metric.compute() == 1.0
    metric.reset()
    metric.update(a, b, a, labels)  # not translated at all
    assert metric.compute() == 0.0
    assert metric.total == len(objects)


def test_each_object_is_judged_on_its_own_pixels():
    """One object translated, the others left as they were: only that one counts as right; an
    object whose error is 60 % of the identity map's is wrong, one at 40 % right."""
    a, b, labels, objects = _scene_tensors(5)
    assert len(objects) >= 2
    first = (labels == 1)[:, None].expand_as(a)
    prediction = torch.where(first, b, a)
    ours, baseline = object_errors(prediction, b, a, labels)
    assert ours[0] == 0 and (ours[1:] == baseline[1:]).all()
    metric = ObjectsRight()
    metric.update(prediction, b, a, labels)
    assert metric.right == 1 and metric.total == len(objects)
    partial = a + 0.4 * (b - a)  # 40 % of the way: its error is 60 % of the identity map's
    metric.reset()
    metric.update(partial, b, a, labels)
    assert RIGHT_FRACTION < 0.6 and metric.compute() == 0.0
    nearly = a + 0.6 * (b - a)  # 60 % of the way: 40 % of the identity map's error
    metric.reset()
    metric.update(nearly, b, a, labels)
    assert metric.compute() == 1.0


def test_batches_accumulate_and_background_is_ignored():
    images = [_scene_tensors(i) for i in (1, 2)]
    a = torch.cat([t[0] for t in images])
    b = torch.cat([t[1] for t in images])
    labels = torch.cat([t[2] for t in images])
    noisy_background = b + (labels == 0)[:, None] * 0.5  # the background is not an object
    metric = ObjectsRight()
    metric.update(noisy_background, b, a, labels)
    assert metric.compute() == 1.0
    assert metric.total == sum(len(t[3]) for t in images)
    assert np.isclose(float(metric.right), float(metric.total))

"""History of generated images that the discriminators learn from, as the reference's
``util/image_pool.py``.

Shrivastava et al. (2017): updating D with a buffer of past fakes, not only the latest ones, reduces
oscillation. ``ImagePool.query`` follows the reference draw for draw, but from its own seeded
``random.Random`` whose state, with the stored images, is saved in checkpoints, so a run is
reproducible and resumes exactly. Deliberate differences from the reference are listed in
docs/model.md. Stored images are detached clones kept on the device they came from.
"""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import Tensor


class ImagePool:
    """Returns, per image, either the image itself or (once full, with probability 1/2) a stored
    older one, which the new image replaces. ``pool_size=0`` is a pass-through."""

    def __init__(self, pool_size: int = 50, seed: int | None = None) -> None:
        if pool_size < 0:
            raise ValueError(f"image_pool.py: pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.images: list[Tensor] = []
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.images)

    def reseed(self, seed: int | None) -> None:
        """Restart the pool's random stream (e.g. ``base_seed + rank`` under DDP)."""
        self._rng.seed(seed)

    def query(self, images: Tensor) -> Tensor:
        """Pass a batch N×C×H×W of fresh fakes; get back a detached batch of the same shape."""
        if self.pool_size == 0:
            return images
        self._follow_device(images)
        returned: list[Tensor] = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                returned.append(image)
            elif self._rng.uniform(0, 1) > 0.5:
                slot = self._rng.randint(0, self.pool_size - 1)
                returned.append(self.images[slot].to(dtype=image.dtype, copy=True))
                self.images[slot] = image.clone()
            else:
                returned.append(image)
        return torch.cat(returned, 0)

    def _follow_device(self, images: Tensor) -> None:
        """After ``load_state_dict`` the pool holds cpu tensors: move them next to the queries."""
        if self.images and self.images[0].device != images.device:
            self.images = [stored.to(images.device) for stored in self.images]

    def state_dict(self) -> dict[str, Any]:
        """Stored images (cpu) and RNG state, storable with ``torch.save`` and loadable with
        ``torch.load(weights_only=True)``."""
        version, internal, gauss_next = self._rng.getstate()
        return {
            "pool_size": self.pool_size,
            "images": [stored.detach().cpu() for stored in self.images],
            "rng_version": version,
            "rng_internal": torch.tensor(internal, dtype=torch.int64),
            "rng_gauss_next": gauss_next,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        images = list(state["images"])
        if len(images) > self.pool_size:
            raise ValueError(
                f"image_pool.py: the saved pool holds {len(images)} images but pool_size is "
                f"{self.pool_size}; resume with pool_size >= {len(images)}"
            )
        self.images = [stored.detach().clone() for stored in images]
        internal = tuple(int(word) for word in state["rng_internal"].tolist())
        self._rng.setstate((int(state["rng_version"]), internal, state["rng_gauss_next"]))

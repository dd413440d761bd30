"""Images held in memory as one uint8 tensor, served as the training loop expects them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mmae.data.image_io import resize_image, to_channels


class InMemoryImages(Dataset):
    """Normal images as a uint8 ``(N, C, S, S)`` tensor (labels all 0).

    Items: ``{"image": FloatTensor (C, S, S) in [0, 1], "label": 0, "index": int}``;
    :meth:`get_batch` collates several in one indexing step.
    """

    def __init__(self, images: torch.Tensor, channels: int) -> None:
        self.images = images
        self.channels = channels

    @classmethod
    def resized(cls, images: Sequence[np.ndarray], size: int, channels: int) -> InMemoryImages:
        """uint8 ``(H, W, C)`` arrays, each resized once to ``size`` with ``channels``."""
        arr = np.stack([resize_image(to_channels(im, channels), size) for im in images])
        return cls(torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous(), channels)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i].float().div(255.0), "label": 0, "index": i}

    def get_batch(self, indices: list[int]) -> dict[str, Any]:
        """Items ``indices`` collated in one indexing step (the training loop's fast path)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return {"image": self.images[idx].float().div_(255.0),
                "label": torch.zeros(len(indices), dtype=torch.int64), "index": idx}

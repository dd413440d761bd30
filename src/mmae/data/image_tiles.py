"""Images at their own resolution for tiled runs, and the training tiles cut from them.

:class:`FullImages` keeps an image dataset's records (layout, labels, masks) and decodes each
image at full resolution when asked, with the decoder of ``mmae predict`` and ``mmae serve``
(:func:`~mmae.data.image_decode.decode_for_model`), or holds arrays given in memory.
:class:`TileSet` is what the training loop iterates for a tiled run: every tile of every image,
resized to the model's side and stored once as uint8 ``(M, C, S, S)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mmae.data.image_decode import decode_for_model
from mmae.data.image_io import resize_image, to_channels
from mmae.data.in_memory import InMemoryImages
from mmae.data.tiles import TileGrid

_FULL = 1 << 40  # a view side / pixel count no image reaches: decode at full resolution


def decode_full(path: Any, channels: int | None, max_pixels: int | None = None) -> np.ndarray:
    """An image file as uint8 ``(H, W, C)`` at its own resolution (``max_pixels`` checked from
    the header first, as for ``mmae predict``)."""
    dec = decode_for_model(path, 1, channels, max_pixels, view_side=_FULL, reduce_above=_FULL)
    assert dec.view is not None
    return dec.view


def tiles_for_model(image: np.ndarray, grid: TileGrid, size: int) -> np.ndarray:
    """The tiles of a uint8 ``(H, W, C)`` image resized to ``size``: uint8 ``(N, S, S, C)``."""
    tiles = grid.split(image)
    if grid.tile == size:
        return tiles
    c = image.shape[2]
    return np.stack([resize_image(t, size).reshape(size, size, c) for t in tiles])


class FullImages(Dataset):
    """Images at their own resolution: an image dataset's records, or arrays in memory.

    Args:
        base: An image dataset (``records``, ``channels``, ``load_mask``, ``original_size``),
            or None with ``arrays``.
        indices: The items of ``base`` (or ``arrays``) kept, in order (default: all).
        arrays: uint8 ``(H, W, C)`` images (instead of ``base``).
        channels: Channels of ``arrays`` (1 or 3).
    """

    def __init__(self, base: Any = None, indices: Sequence[int] | None = None,
                 arrays: Sequence[np.ndarray] | None = None, channels: int | None = None) -> None:
        self.base = base
        self.arrays = None if arrays is None else [to_channels(a, channels or a.shape[2])
                                                   for a in arrays]
        n = len(base) if base is not None else len(self.arrays or [])
        self.indices = list(range(n)) if indices is None else [int(i) for i in indices]
        self.channels = int(base.channels if base is not None else channels or 3)

    def subset(self, indices: Sequence[int]) -> FullImages:
        """The items ``indices`` of this dataset."""
        out = FullImages.__new__(FullImages)
        out.base, out.arrays, out.channels = self.base, self.arrays, self.channels
        out.indices = [self.indices[i] for i in indices]
        return out

    @property
    def records(self) -> list[Any]:
        """The records of the items (an image dataset's), in order."""
        return [self.base.records[i] for i in self.indices]

    @property
    def layout(self) -> str:
        """The base dataset's layout name (``"arrays"`` for images in memory)."""
        return "arrays" if self.base is None else self.base.layout

    @property
    def validation_indices(self) -> list[int] | None:
        """The base dataset's own validation split, as positions in this dataset."""
        held = None if self.base is None else getattr(self.base, "validation_indices", None)
        if held is None:
            return None
        held = set(held)
        return [k for k, i in enumerate(self.indices) if i in held]

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, index: int) -> np.ndarray:
        """Item ``index`` as uint8 ``(H, W, C)`` at its own resolution."""
        i = self.indices[index]
        if self.arrays is not None:
            return self.arrays[i]
        return decode_full(self.base.records[i].path, self.channels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        img = torch.from_numpy(np.ascontiguousarray(self.image(index))).permute(2, 0, 1)
        label = 0 if self.base is None else int(self.base.records[self.indices[index]].label)
        return {"image": img.float().div(255.0), "label": label, "index": index}

    def load_mask(self, index: int) -> np.ndarray | None:
        """The ground-truth mask of item ``index`` (as the base dataset gives it)."""
        return self.base.load_mask(self.indices[index])

    def original_size(self, index: int) -> tuple[int, int]:
        """(H, W) of item ``index``."""
        if self.arrays is not None:
            return tuple(self.arrays[self.indices[index]].shape[:2])  # type: ignore[return-value]
        return self.base.original_size(self.indices[index])


class TileSet(InMemoryImages):
    """Every tile of every image of a :class:`FullImages`, resized to ``size`` (training).

    Items: ``{"image": FloatTensor (C, S, S) in [0, 1], "label": 0, "index": int}``.
    """

    def __init__(self, images: FullImages, tile: int, overlap: int, size: int) -> None:
        parts = []
        for i in range(len(images)):
            img = images.image(i)
            grid = TileGrid(img.shape[0], img.shape[1], tile, overlap)
            parts.append(tiles_for_model(img, grid, size))
        arr = np.concatenate(parts).transpose(0, 3, 1, 2)
        super().__init__(torch.from_numpy(np.ascontiguousarray(arr)), images.channels)

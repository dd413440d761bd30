"""Tiling geometry: cut a large image into overlapping square tiles and stitch maps back.

Tiles of side ``tile`` start every ``tile - overlap`` pixels along each axis; the last tile of an
axis is moved back to end at the image's edge, so every pixel is covered whatever the size (it
then overlaps its neighbour by more than ``overlap``). An image side shorter than ``tile`` is
padded by repeating its edge pixels and the padding is cropped away when stitching.

Stitching is a weighted mean: each tile's pixel weight is a ramp that rises linearly over the
first ``overlap`` pixels of the tile and falls over the last ``overlap`` (``(i + 0.5) /
overlap``, capped at 1), the same along both axes (the product). Where two tiles overlap by
exactly ``overlap`` pixels their weights sum to 1, so the stitched value moves linearly from
one tile's value to the other's; a constant map stays constant; with ``overlap = 0`` every
pixel comes from one tile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of the tiles along one axis of ``length`` pixels.

    Raises:
        ValueError: ``tile < 1``, ``overlap < 0`` or ``overlap >= tile``.
    """
    if tile < 1 or overlap < 0 or overlap >= tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got {tile=} {overlap=}")
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def ramp(tile: int, overlap: int) -> np.ndarray:
    """The 1-D blending weight of a tile, ``(tile,)`` float64 in (0, 1]."""
    i = np.arange(tile, dtype=np.float64)
    if overlap == 0:
        return np.ones(tile)
    return np.minimum(1.0, np.minimum((i + 0.5) / overlap, (tile - i - 0.5) / overlap))


@dataclass(frozen=True)
class TileGrid:
    """The tiles of one ``height`` x ``width`` image.

    Attributes:
        height, width: The image's size in pixels.
        tile: Side of a square tile in image pixels.
        overlap: Pixels shared by neighbouring tiles (``0 <= overlap < tile``).
    """

    height: int
    width: int
    tile: int
    overlap: int

    @property
    def boxes(self) -> list[tuple[int, int]]:
        """``(y, x)`` of each tile's top-left corner, row by row."""
        ys = tile_starts(self.height, self.tile, self.overlap)
        xs = tile_starts(self.width, self.tile, self.overlap)
        return [(y, x) for y in ys for x in xs]

    def __len__(self) -> int:
        return len(self.boxes)

    def _padded(self) -> tuple[int, int]:
        return max(self.height, self.tile), max(self.width, self.tile)

    def split(self, image: np.ndarray) -> np.ndarray:
        """The tiles of ``image`` ``(H, W)`` or ``(H, W, C)``: ``(N, tile, tile[, C])``.

        Raises:
            ValueError: the image is not ``height`` x ``width``.
        """
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"image is {image.shape[:2]}, grid is {(self.height, self.width)}")
        ph, pw = self._padded()
        if (ph, pw) != (self.height, self.width):
            pad = [(0, ph - self.height), (0, pw - self.width)] + [(0, 0)] * (image.ndim - 2)
            image = np.pad(image, pad, mode="edge")
        t = self.tile
        return np.stack([image[y : y + t, x : x + t] for y, x in self.boxes])

    def stitch(self, tiles: np.ndarray) -> np.ndarray:
        """Blend per-tile maps ``(N, tile, tile[, C])`` into one ``(H, W[, C])`` float32 map."""
        t = self.tile
        if tiles.shape[:3] != (len(self), t, t):
            raise ValueError(f"expected {len(self)} tiles of {t}x{t}, got {tiles.shape}")
        w1 = ramp(t, self.overlap)
        w = np.outer(w1, w1)
        if tiles.ndim == 4:
            w = w[..., None]
        ph, pw = self._padded()
        acc = np.zeros((ph, pw, *tiles.shape[3:]), np.float64)
        norm = np.zeros((ph, pw, *([1] if tiles.ndim == 4 else [])), np.float64)
        for k, (y, x) in enumerate(self.boxes):
            acc[y : y + t, x : x + t] += w * tiles[k]
            norm[y : y + t, x : x + t] += w
        return (acc / norm)[: self.height, : self.width].astype(np.float32)

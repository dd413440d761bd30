"""The image task for runs with ``tile_size``: train on tiles, score stitched full-size maps.

Images are read at their own resolution (:class:`~mmae.data.image_tiles.FullImages`, the same
records, labels and masks as the untiled task). Training iterates the tiles of the good
images (:class:`~mmae.data.image_tiles.TileSet`); scoring (threshold calibration, ``mmae
test``) stitches each image's tile maps back to its resolution (:mod:`mmae.scoring.tiled`) and
takes the image score from the stitched map. Everything else is the image task's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmae.data.image_io import resize_image
from mmae.data.image_tiles import FullImages, TileSet
from mmae.scoring.postprocess import PostProcess
from mmae.scoring.tiled import TiledScorer, tiling
from mmae.tasks.image import ImageTask

#: Longest side of the pictures (grid, report gallery) of a tiled test.
PICTURE_SIDE = 512


def as_full_images(data: Any) -> FullImages:
    """``data`` as :class:`FullImages` (an image dataset is wrapped, its records kept)."""
    return data if isinstance(data, FullImages) else FullImages(data)


def common_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The largest height and width of a list of ``(H, W)``."""
    return max(h for h, _ in sizes), max(w for _, w in sizes)


class TiledImageTask(ImageTask):
    """Images of any size in overlapping tiles; maps ``(N, H, W)`` at the images' resolution.

    Test images of different sizes have their stitched maps resized (bilinear) to the largest
    height and width among them, before they are resized to each mask for the metrics.
    """

    def open(self, split: str, data: str | Path | None = None, cache_dir: Path | None = None,
             progress: bool = True) -> FullImages:
        return FullImages(super().open(split, data, cache_dir, progress))

    def subset(self, dataset: Any, indices: list[int]) -> FullImages:
        return as_full_images(dataset).subset(indices)

    def split(self, dataset: Any) -> tuple[Any, Any | None]:
        return super().split(as_full_images(dataset))

    def training_set(self, part: Any) -> TileSet:
        tile, overlap = tiling(self.cfg) or (0, 0)
        return TileSet(as_full_images(part), tile, overlap, self.cfg.image_size)

    def scorer(self, model: torch.nn.Module, device: torch.device,
               post: PostProcess | None = None) -> TiledScorer:
        """The tile-by-tile scorer of this run."""
        tile, overlap = tiling(self.cfg) or (0, 0)
        post = (post or self.post()).to(device)
        return TiledScorer(model, post, tile, overlap, self.cfg.image_size, device,
                           self.cfg.eval_batch_size)

    def score_all(self, model: torch.nn.Module, dataset: Any,
                  device: torch.device) -> tuple[np.ndarray, np.ndarray]:
        """Stitched maps ``(N, H, W)`` float32 and image scores ``(N,)`` float64."""
        data = as_full_images(dataset)
        scorer = self.scorer(model, device)
        results = [scorer.score(data.image(i)) for i in range(len(data))]
        size = common_size([m.shape for m, _ in results])
        post = scorer.post
        maps = [m if m.shape == size else post.resize(torch.from_numpy(m)[None], size)[0].numpy()
                for m, _ in results]
        return np.stack(maps).astype(np.float32), np.array([s for _, s in results], np.float64)

    def reconstruct(self, model: torch.nn.Module, ds: Any, device: torch.device,
                    indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and stitched reconstructions of a few test images, at most
        :data:`PICTURE_SIDE` on their long side: ``(N, h, w, C)`` in [0, 1]."""
        data = as_full_images(ds)
        scorer = self.scorer(model, device)
        h, w = common_size([data.original_size(i) for i in indices])
        k = min(1.0, PICTURE_SIDE / max(h, w))
        side = (max(1, round(h * k)), max(1, round(w * k)))
        images, recons = [], []
        for i in indices:
            img = data.image(i)
            rec = (scorer.reconstruct(img) * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
            images.append(resize_image(img, side))
            recons.append(resize_image(rec, side))
        return (np.stack(images).astype(np.float32) / 255.0,
                np.stack(recons).astype(np.float32) / 255.0)

"""Scoring a large image tile by tile: model + :class:`PostProcess` per tile, maps stitched.

For a run with ``tile_size`` set, an image at its own resolution is cut into overlapping tiles
(:mod:`mmae.data.tiles`), each tile is resized to the model's side and scored by the model; its
map is post-processed by the run's :class:`~mmae.scoring.postprocess.PostProcess` (map terms
and smoothing at model resolution, as one tile is scored in the ONNX graph), resized back to
the tile's side, and the tile maps are blended into one map at the image's resolution. The
image score is the post-processing's reduction (``score_reduce``) of that stitched map.
"""

from __future__ import annotations

import numpy as np
import torch

from mmae.config import RunConfig
from mmae.data.image_tiles import tiles_for_model
from mmae.data.tiles import TileGrid
from mmae.device import eval_mode
from mmae.errors import ConfigError
from mmae.scoring.postprocess import PostProcess


def tiling(cfg: RunConfig) -> tuple[int, int] | None:
    """``(tile_size, tile_overlap)`` of a run, or None when it does not tile.

    Raises:
        ConfigError: an overlap not smaller than the tile, or tiles for a video model.
    """
    size = int(getattr(cfg, "tile_size", 0) or 0)
    if size <= 0:
        return None
    overlap = int(getattr(cfg, "tile_overlap", 0) or 0)
    if cfg.kind != "image":
        raise ConfigError(f"setting tile_size={size}: tiles work with image models only, "
                          f"{cfg.model} is a {cfg.kind} model")
    if not 0 <= overlap < size:
        raise ConfigError(f"setting tile_overlap={overlap}: must be >= 0 and smaller than "
                          f"tile_size={size}")
    return size, overlap


class TiledScorer:
    """Scores images of any size tile by tile with a model and its post-processing.

    Args:
        model: The run's model (eval mode is set while scoring).
        post: The run's post-processing module (on ``device``).
        tile: Tile side in image pixels. overlap: Pixels shared by neighbouring tiles.
        size: The model's input side. device: Where the model runs.
        batch_size: Tiles per forward pass.
    """

    def __init__(self, model: torch.nn.Module, post: PostProcess, tile: int, overlap: int,
                 size: int, device: torch.device, batch_size: int = 32) -> None:
        self.model, self.post = model, post
        self.tile, self.overlap, self.size = tile, overlap, size
        self.device, self.batch_size = device, batch_size

    def grid(self, image: np.ndarray) -> TileGrid:
        """The tile grid of an ``(H, W, C)`` image."""
        return TileGrid(image.shape[0], image.shape[1], self.tile, self.overlap)

    def _forward(self, image: np.ndarray, recon: bool = False) -> tuple[TileGrid, np.ndarray]:
        grid = self.grid(image)
        tiles = tiles_for_model(image, grid, self.size)
        out = []
        with eval_mode(self.model), torch.no_grad():
            for i in range(0, len(tiles), self.batch_size):
                x = torch.from_numpy(tiles[i : i + self.batch_size]).permute(0, 3, 1, 2)
                x = x.float().div(255.0).to(self.device)
                if not recon:  # the post-processed (map terms, smoothed) tile map
                    m = self.post.run(self.model, x)[1]
                    out.append(self.post.resize(m, (self.tile, self.tile)).cpu().numpy())
                    continue
                r = self.model(x).recon.float().clamp(0, 1)
                r = torch.nn.functional.interpolate(r, size=(self.tile, self.tile),
                                                    mode="bilinear", align_corners=False)
                out.append(r.permute(0, 2, 3, 1).cpu().numpy())
        return grid, np.concatenate(out)

    def score(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """The stitched map ``(H, W)`` float32 of a uint8 ``(H, W, C)`` image and its score."""
        grid, maps = self._forward(image)
        stitched = grid.stitch(maps)
        score = self.post.reduce(torch.from_numpy(stitched)[None].to(self.device))
        return stitched, float(score[0])

    def reconstruct(self, image: np.ndarray) -> np.ndarray:
        """The stitched reconstruction ``(H, W, C)`` in [0, 1] of a uint8 image."""
        grid, recs = self._forward(image, recon=True)
        return grid.stitch(recs)

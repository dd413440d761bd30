"""From model outputs to anomaly maps and scores.

The model gives the raw per-pixel map (squared l2 error over channels). Here the map is optionally
smoothed with a Gaussian and reduced to an image score (``max`` by default); evaluation resizes it
to each ground-truth mask's own resolution (``mmae.metrics.resize_map_to_mask``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch.utils.data import DataLoader, Dataset

from mmae.engine.config import RunConfig
from mmae.engine.datasets import batch_input
from mmae.engine.device import eval_mode


@dataclass
class Scored:
    """Maps and scores of a whole dataset, at model resolution."""

    maps: np.ndarray  # (N, *spatial) float32, post-processed
    scores: np.ndarray  # (N,) float64


def smooth_map(m: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of one map (no-op for ``sigma == 0``), truncated at 4 sigma."""
    if sigma <= 0:
        return m
    return gaussian_filter(m, sigma=sigma, mode="nearest", truncate=4.0).astype(np.float32)


def reduce_score(m: np.ndarray, how: str = "max", topk: float = 0.01) -> float:
    """Image score of one map: ``max``, ``mean`` or ``topk_mean`` (mean of the top fraction)."""
    if how == "max":
        return float(m.max())
    if how == "mean":
        return float(m.mean())
    flat = m.ravel()
    k = max(1, int(round(topk * flat.size)))
    return float(np.partition(flat, flat.size - k)[-k:].mean())


def iter_outputs(model: torch.nn.Module, dataset: Dataset, batch_size: int,
                 device: torch.device) -> Iterator[tuple[dict, object]]:
    """Yield ``(batch, ModelOutput)`` over a dataset in order, in eval mode."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    with eval_mode(model):
        for batch in loader:
            x = batch_input(batch).to(device)
            yield batch, model(x)


def score_images(model: torch.nn.Module, dataset: Dataset, cfg: RunConfig,
                 device: torch.device) -> Scored:
    """Anomaly maps (post-processed, model resolution) and scores of every image."""
    maps, scores = [], []
    for _, out in iter_outputs(model, dataset, cfg.eval_batch_size, device):
        for m in out.anomaly_map.float().cpu().numpy()[:, 0]:
            m = smooth_map(m, cfg.smoothing_sigma)
            maps.append(m.astype(np.float32))
            scores.append(reduce_score(m, cfg.score_reduce, cfg.score_topk))
    return Scored(np.stack(maps), np.asarray(scores, dtype=np.float64))


def map_images(model: torch.nn.Module, images: Sequence[np.ndarray], cfg: RunConfig,
               device: torch.device, batch_size: int = 32) -> list[np.ndarray]:
    """Post-processed anomaly maps (model resolution) of uint8 HxWxC images of any size.

    Each image is converted to the run's channels and resized exactly as the training data was
    (``mmae.data.image_io.resize_image``).
    """
    from mmae.data.image_io import resize_image, to_channels

    out: list[np.ndarray] = []
    with eval_mode(model):
        for i in range(0, len(images), batch_size):
            x = torch.stack([
                torch.tensor(resize_image(to_channels(im, cfg.channels), cfg.image_size))
                .permute(2, 0, 1) for im in images[i : i + batch_size]]).float().div(255)
            maps = model(x.to(device)).anomaly_map.float().cpu().numpy()[:, 0]
            out.extend(smooth_map(m, cfg.smoothing_sigma) for m in maps)
    return out

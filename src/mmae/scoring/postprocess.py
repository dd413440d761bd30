"""From a model's raw anomaly map to the map and score a user sees: one torch module.

``mmae test``, ``mmae predict``, the :class:`~mmae.detector.Detector`, video prediction and the
exported ONNX graph all run this module, so they give the same numbers:

* images: optional Gaussian smoothing (``smoothing_sigma`` pixels at model resolution, the kernel
  of ``scipy.ndimage.gaussian_filter(mode="nearest", truncate=4.0)``), then reduction of the map to
  an image score (``max``, ``mean`` or ``topk_mean``, the mean of the top ``score_topk`` fraction);
* video: the clip error, the mean over T*H*W of the per-pixel error, ``squared`` (the raw map:
  squared l2 norm over channels) or ``l2norm`` (MemAE: its square root, the l2 norm over channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmae.config import RunConfig


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> Tensor:
    """The normalised 1-D Gaussian of ``scipy.ndimage.gaussian_filter`` (radius 4 sigma)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).float()


class PostProcess(nn.Module):
    """Smoothing, resizing and reduction of anomaly maps (images), clip error (video).

    Args:
        kind: ``"image"`` or ``"video"``.
        smoothing_sigma: Gaussian sigma in pixels (0 = none); images only.
        score_reduce: ``max`` | ``mean`` | ``topk_mean``; images only.
        score_topk: Fraction of pixels averaged by ``topk_mean``.
        clip_error: ``squared`` | ``l2norm``; video only.
    """

    def __init__(self, kind: str = "image", smoothing_sigma: float = 0.0,
                 score_reduce: str = "max", score_topk: float = 0.01,
                 clip_error: str = "squared") -> None:
        super().__init__()
        if kind not in ("image", "video"):
            raise ValueError(f"kind must be image or video, got {kind!r}")
        if score_reduce not in ("max", "mean", "topk_mean"):
            raise ValueError(f"score_reduce must be max, mean or topk_mean, got {score_reduce!r}")
        if clip_error not in ("squared", "l2norm"):
            raise ValueError(f"clip_error must be squared or l2norm, got {clip_error!r}")
        self.kind = kind
        self.sigma = float(smoothing_sigma)
        self.score_reduce = score_reduce
        self.score_topk = float(score_topk)
        self.clip_error = clip_error
        kernel = gaussian_kernel(self.sigma) if self.sigma > 0 else torch.ones(1)
        self.register_buffer("kernel", kernel, persistent=False)

    @classmethod
    def from_config(cls, cfg: RunConfig) -> PostProcess:
        """The post-processing a run's config describes."""
        return cls(cfg.kind, cfg.smoothing_sigma, cfg.score_reduce, cfg.score_topk,
                   cfg.clip_error)

    def smooth(self, maps: Tensor) -> Tensor:
        """Gaussian smoothing of ``(B, H, W)`` maps with edge replication (scipy's ``nearest``)."""
        if self.sigma <= 0:
            return maps
        r = (self.kernel.numel() - 1) // 2
        x = maps.unsqueeze(1).float()
        k = self.kernel.to(x.dtype)
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
        return x.squeeze(1)

    def reduce(self, maps: Tensor) -> Tensor:
        """Scores ``(B,)`` of ``(B, H, W)`` maps under ``score_reduce``."""
        flat = maps.flatten(1)
        if self.score_reduce == "max":
            return flat.amax(1)
        if self.score_reduce == "mean":
            return flat.mean(1)
        k = max(1, int(round(self.score_topk * flat.shape[1])))
        return flat.topk(k, dim=1).values.mean(1)

    @staticmethod
    def resize(maps: Tensor, size: tuple[int, int]) -> Tensor:
        """``(B, H, W)`` maps resized bilinearly (half-pixel centres, as ``cv2.INTER_LINEAR``)."""
        if tuple(maps.shape[-2:]) == tuple(size):
            return maps
        return F.interpolate(maps.unsqueeze(1), size=tuple(size), mode="bilinear",
                             align_corners=False).squeeze(1)

    def forward(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        """``(maps, scores)`` from a model's raw ``anomaly_map``.

        Images: ``raw`` ``(B, 1, H, W)`` -> smoothed maps ``(B, H, W)`` and scores ``(B,)``.
        Video: ``raw`` ``(B, 1, T, H, W)`` -> per-pixel error maps ``(B, T, H, W)`` (squared or
        l2 norm) and clip errors ``(B,)``.
        """
        if self.kind == "video":
            maps = raw.float()[:, 0]
            if self.clip_error == "l2norm":
                maps = maps.clamp_min(0).sqrt()
            return maps, maps.flatten(1).mean(1)
        maps = self.smooth(raw.float()[:, 0])
        return maps, self.reduce(maps)


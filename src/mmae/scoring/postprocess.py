"""From a model's output to the map and score a user sees: one torch module.

``mmae test``, ``mmae predict``, the :class:`~mmae.detector.Detector`, ``mmae serve``, video
prediction and the exported ONNX graph all run this module (:meth:`PostProcess.run`), so they
give the same numbers:

* images: the anomaly-map terms of ``map_terms`` (:mod:`mmae.scoring.terms`; ``model`` alone, the
  model's own map, by default), each standardised by ``standardize`` with statistics of normal
  images (``none``; ``pooled``: one mean and spread over every pixel; ``position``: one per
  pixel), summed; then optional Gaussian smoothing (``smoothing_sigma`` pixels at model
  resolution, the kernel of ``scipy.ndimage.gaussian_filter(mode="nearest", truncate=4.0)``), then
  reduction of the map to an image score (``max``, ``mean`` or ``topk_mean``, the mean of the top
  ``score_topk`` fraction);
* video: the per-pixel error, ``squared`` (the raw map: squared l2 norm over channels) or
  ``l2norm`` (MemAE: its square root), optionally standardised, reduced to the clip error by
  ``clip_reduce`` (``mean`` over T*H*W, MemAE's clip error; ``max``; ``topk_mean``).

Settings that need statistics of normal images (``standardize`` other than ``none``, the
``gaussian`` and ``knn`` terms) are fitted once when training ends (:mod:`mmae.scoring.fit`) and
saved with the run (``postprocess.pt``); the fitted tensors are buffers of this module, so they
are constants of the exported graph.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmae.config import RunConfig
from mmae.scoring import terms as T

STANDARDIZE = ("none", "pooled", "position")
FEATURE_FITS = ("pooled", "position")
CLIP_REDUCE = ("mean", "max", "topk_mean")
# fit settings added after the first fitted runs, with the value those runs were fitted with
FIT_DEFAULTS = {"feature_scales": 1, "gaussian_ridge": 0.01}


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> Tensor:
    """The normalised 1-D Gaussian of ``scipy.ndimage.gaussian_filter`` (radius 4 sigma)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).float()


class PostProcess(nn.Module):
    """Map terms, standardisation, smoothing and reduction (images); clip error (video).

    Args:
        kind: ``"image"`` or ``"video"``.
        smoothing_sigma: Gaussian sigma in pixels (0 = none); images only.
        score_reduce: ``max`` | ``mean`` | ``topk_mean``; images only.
        score_topk: Fraction of pixels averaged by ``topk_mean`` (images and video).
        clip_error: ``squared`` | ``l2norm``; video only.
        map_terms: ``+``-joined terms of :data:`mmae.scoring.terms.TERMS`; images (video:
            ``model`` only).
        standardize: ``none`` | ``pooled`` | ``position``.
        feature_fit: ``pooled`` | ``position``: one Gaussian for all positions or one each.
        knn_bank: Rows of the ``knn`` memory bank.
        clip_reduce: ``mean`` | ``max`` | ``topk_mean``; video only.
        feature_scales: Input scales whose encoder features the ``gaussian`` and ``knn`` terms read
            (up to the model's own number of scales).
        gaussian_ridge: The ``gaussian`` term's covariance regulariser, a fraction of its mean
            variance added to the diagonal.
    """

    def __init__(self, kind: str = "image", smoothing_sigma: float = 0.0,
                 score_reduce: str = "max", score_topk: float = 0.01,
                 clip_error: str = "squared", map_terms: str = "model",
                 standardize: str = "none", feature_fit: str = "pooled", knn_bank: int = 4096,
                 clip_reduce: str = "mean", feature_scales: int = 1,
                 gaussian_ridge: float = 0.01) -> None:
        super().__init__()
        if kind not in ("image", "video"):
            raise ValueError(f"kind must be image or video, got {kind!r}")
        if score_reduce not in ("max", "mean", "topk_mean"):
            raise ValueError(f"score_reduce must be max, mean or topk_mean, got {score_reduce!r}")
        if clip_error not in ("squared", "l2norm"):
            raise ValueError(f"clip_error must be squared or l2norm, got {clip_error!r}")
        for name, value, allowed in (("standardize", standardize, STANDARDIZE),
                                     ("feature_fit", feature_fit, FEATURE_FITS),
                                     ("clip_reduce", clip_reduce, CLIP_REDUCE)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        self.terms = T.parse_terms(map_terms)
        if kind == "video" and self.terms != ("model",):
            raise ValueError(f"map_terms={map_terms!r}: video models use map_terms=model")
        if int(knn_bank) < 1:
            raise ValueError(f"knn_bank must be a positive integer, got {knn_bank!r}")
        if isinstance(feature_scales, bool) or int(feature_scales) != feature_scales \
                or feature_scales < 1:
            raise ValueError(f"feature_scales must be a positive integer, got {feature_scales!r}")
        if not float(gaussian_ridge) > 0:
            raise ValueError(f"gaussian_ridge must be > 0, got {gaussian_ridge!r}")
        self.kind = kind
        self.sigma = float(smoothing_sigma)
        self.score_reduce = score_reduce
        self.score_topk = float(score_topk)
        self.clip_error = clip_error
        self.standardize = standardize
        self.feature_fit = feature_fit
        self.knn_bank = int(knn_bank)
        self.clip_reduce = clip_reduce
        self.feature_scales = int(feature_scales)
        self.gaussian_ridge = float(gaussian_ridge)
        kernel = gaussian_kernel(self.sigma) if self.sigma > 0 else torch.ones(1)
        self.register_buffer("kernel", kernel, persistent=False)
        self.fitted_keys: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, cfg: RunConfig) -> PostProcess:
        """The post-processing a run's config describes (unfitted)."""
        return cls(cfg.kind, cfg.smoothing_sigma, cfg.score_reduce, cfg.score_topk,
                   cfg.clip_error, cfg.map_terms, cfg.standardize, cfg.feature_fit,
                   cfg.knn_bank, cfg.clip_reduce, cfg.feature_scales, cfg.gaussian_ridge)

    # --- fitted statistics -------------------------------------------------------------------
    @property
    def needs_fit(self) -> bool:
        """Whether statistics of normal images are needed (fitted when training ends)."""
        return self.standardize != "none" or any(t in T.NORMAL_TERMS for t in self.terms)

    @property
    def needs_features(self) -> bool:
        """Whether a term reads the model's encoder features."""
        return any(t in T.FEATURE_TERMS for t in self.terms)

    def fit_settings(self) -> dict[str, Any]:
        """The settings the fitted statistics depend on (saved with them)."""
        return {"map_terms": "+".join(self.terms), "standardize": self.standardize,
                "feature_fit": self.feature_fit, "knn_bank": self.knn_bank,
                "clip_error": self.clip_error, "feature_scales": self.feature_scales,
                "gaussian_ridge": self.gaussian_ridge}

    def load_fitted(self, state: dict[str, Tensor]) -> None:
        """Install fitted statistics (name -> tensor) as buffers (ONNX constants)."""
        for key, value in state.items():
            self.register_buffer(key, value.detach().float().clone())
        self.fitted_keys = tuple(dict.fromkeys((*self.fitted_keys, *state)))

    def fitted_state(self) -> dict[str, Tensor]:
        """The fitted statistics (name -> tensor on the CPU)."""
        return {k: getattr(self, k).detach().cpu() for k in self.fitted_keys}

    def _fitted(self, key: str) -> Tensor:
        if key not in self.fitted_keys:
            raise RuntimeError(f"post-processing statistic {key!r} is not fitted")
        return getattr(self, key)

    # --- maps ---------------------------------------------------------------------------------
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

    def _reduce(self, maps: Tensor, how: str) -> Tensor:
        flat = maps.flatten(1)
        if how == "max":
            return flat.amax(1)
        if how == "mean":
            return flat.mean(1)
        k = max(1, int(round(self.score_topk * flat.shape[1])))
        return flat.topk(k, dim=1).values.mean(1)

    def reduce(self, maps: Tensor) -> Tensor:
        """Scores ``(B,)`` of ``(B, H, W)`` maps under ``score_reduce``."""
        return self._reduce(maps, self.score_reduce)

    @staticmethod
    def resize(maps: Tensor, size: tuple[int, int]) -> Tensor:
        """``(B, H, W)`` maps resized bilinearly (half-pixel centres, as ``cv2.INTER_LINEAR``)."""
        if tuple(maps.shape[-2:]) == tuple(size):
            return maps
        return F.interpolate(maps.unsqueeze(1), size=tuple(size), mode="bilinear",
                             align_corners=False).squeeze(1)

    def standardized(self, name: str, maps: Tensor) -> Tensor:
        """A term's maps minus the normal mean, over the normal spread (``standardize``)."""
        if self.standardize == "none":
            return maps
        return (maps - self._fitted(f"mean_{name}")) / self._fitted(f"scale_{name}")

    def embedding(self, model: nn.Module, x: Tensor) -> Tensor:
        """Patch embeddings ``(B, D, h, w)`` of ``x`` from ``feature_scales`` input scales."""
        return T.embed(T.encoder_features(model, x, self.feature_scales))

    def term_maps(self, model: nn.Module, x: Tensor, out: Any) -> dict[str, Tensor]:
        """The raw (unstandardised) maps ``(B, H, W)`` of every term, from the model's output."""
        maps = T.residual_maps(tuple(t for t in self.terms if t in T.RESIDUAL_TERMS), model, x,
                               out.recon, out.anomaly_map)
        normal = [t for t in self.terms if t in T.NORMAL_TERMS]
        if normal:
            emb = self.embedding(model, x)
            size = tuple(x.shape[-2:])
            for t in normal:
                if t == "gaussian":
                    d = T.gaussian_distance(emb, self._fitted("gauss_mean"),
                                            self._fitted("gauss_whiten"))
                else:
                    d = T.knn_distance(emb, self._fitted("bank"))
                maps[t] = T._upsample(d.unsqueeze(1), size)[:, 0]
        return maps

    def combine(self, maps: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Standardise and sum the term maps, smooth, reduce: ``(maps (B, H, W), scores (B,))``."""
        total = None
        for name in self.terms:
            m = self.standardized(name, maps[name].float())
            total = m if total is None else total + m
        total = self.smooth(total)
        return total, self.reduce(total)

    def video_error(self, raw: Tensor) -> Tensor:
        """Per-pixel clip error ``(B, T, H, W)`` (``clip_error``) before standardising."""
        maps = raw.float()[:, 0]
        return maps.clamp_min(0).sqrt() if self.clip_error == "l2norm" else maps

    def forward(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        """``(maps, scores)`` from a model's raw ``anomaly_map`` (``map_terms=model`` only).

        Images: ``raw`` ``(B, 1, H, W)`` -> maps ``(B, H, W)`` and scores ``(B,)``.
        Video: ``raw`` ``(B, 1, T, H, W)`` -> per-pixel error maps ``(B, T, H, W)`` (squared or
        l2 norm, standardised) and clip errors ``(B,)`` (``clip_reduce``).
        """
        if self.kind == "video":
            maps = self.standardized("model", self.video_error(raw))
            return maps, self._reduce(maps, self.clip_reduce)
        if self.terms != ("model",):
            raise ValueError(f"map_terms={'+'.join(self.terms)} needs PostProcess.run(model, x)")
        return self.combine({"model": raw[:, 0]})

    def run(self, model: nn.Module, x: Tensor) -> tuple[Any, Tensor, Tensor]:
        """``(model output, maps, scores)`` of inputs ``x``: the model, then this module."""
        out = model(x)
        if self.kind == "video" or self.terms == ("model",):
            maps, scores = self(out.anomaly_map)
        else:
            maps, scores = self.combine(self.term_maps(model, x, out))
        return out, maps, scores

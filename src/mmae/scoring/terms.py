"""The anomaly-map terms post-processing can combine, each a per-pixel map ``(B, H, W)``.

Residuals between the input ``x`` and the model's reconstruction:

* ``model`` - the model's own ``anomaly_map`` (the squared l2 error over channels for the
  reconstruction models, ``1 - SSIM`` for ``ssim_ae``);
* ``ssim`` - ``1 - SSIM`` (11x11 Gaussian window, sigma 1.5) averaged over channels;
* ``gradient`` - the squared difference of the Sobel gradients (both directions, every channel);
* ``feature`` - the squared difference of the model's own encoder features of the input and of
  the reconstruction (``model.features``: the first two conv blocks of the full-resolution
  encoder), mean over channels per layer, resized to the image and summed over layers.

Distances of the input's encoder features to a model of normal features, fitted on normal
images when training ends (:mod:`mmae.scoring.fit`):

* ``gaussian`` - the Mahalanobis distance to a Gaussian of normal features, one for every
  position or one pooled over positions (``feature_fit``), as PaDiM does with pretrained
  features; its covariance is regularised by ``gaussian_ridge`` times its mean variance on the
  diagonal;
* ``knn`` - the distance to the nearest normal feature in a memory bank of normal patch
  features (a random subsample of ``knn_bank`` of them), as PatchCore does.

Feature embeddings: the encoder features of ``feature_scales`` input scales
(:func:`encoder_features`); each feature map is averaged over 3x3 neighbourhoods, resized to
the first map's grid (bilinear) and the maps are concatenated along channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mmae.config.settings import MAP_TERMS
from mmae.layers.ssim import SSIM_K1, SSIM_K2, _blur, gaussian_window

RESIDUAL_TERMS = ("model", "ssim", "gradient", "feature")
NORMAL_TERMS = ("gaussian", "knn")
TERMS = RESIDUAL_TERMS + NORMAL_TERMS
assert TERMS == MAP_TERMS  # the setting's check and this module name the same terms
FEATURE_TERMS = ("feature", "gaussian", "knn")


def parse_terms(text: str) -> tuple[str, ...]:
    """``"model+ssim"`` -> ``("model", "ssim")`` (order kept, duplicates removed).

    Raises:
        ValueError: an empty list or an unknown term.
    """
    names = tuple(dict.fromkeys(t.strip() for t in str(text).split("+") if t.strip()))
    bad = [t for t in names if t not in TERMS]
    if not names or bad:
        raise ValueError(f"map_terms {text!r}: join one or more of {', '.join(TERMS)} with '+'")
    return names


def has_features(model: torch.nn.Module) -> bool:
    """Whether the model exposes encoder features (a ``features(x) -> list[Tensor]`` method)."""
    return callable(getattr(model, "features", None))


def feature_scales_of(model: torch.nn.Module) -> int:
    """How many input scales ``model.features`` can draw on (``num_scales``; 1 otherwise)."""
    n = getattr(model, "num_scales", 1)
    return n if isinstance(n, int) and n >= 1 else 1


def encoder_features(model: torch.nn.Module, x: Tensor, scales: int = 1) -> list[Tensor]:
    """``model.features(x)``, from up to ``scales`` input scales (fewer if the model has fewer).

    One scale: the first two conv blocks of the full-resolution encoder. Each further scale of
    a multi-scale model (``mmae``) adds the first block of that scale's encoder.
    """
    scales = min(int(scales), feature_scales_of(model))
    return model.features(x) if scales == 1 else model.features(x, scales=scales)


def _upsample(maps: Tensor, size: tuple[int, ...]) -> Tensor:
    """``(B, C, h, w)`` resized bilinearly (half-pixel centres) to ``size``."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)


def ssim_residual(x: Tensor, recon: Tensor, window_size: int = 11, sigma: float = 1.5
                  ) -> Tensor:
    """``1 - SSIM`` averaged over channels, ``(B, H, W)``, without cancellation.

    The SSIM of :mod:`mmae.layers.ssim` (same window and constants), rewritten so that
    ``1 - SSIM = (mu_d**2 * B + A' * var_d) / (A * B)`` is computed from the local mean
    ``mu_d`` and variance ``var_d`` of the difference ``d = x - recon`` (``A``, ``B``: the
    denominators of SSIM's luminance and contrast-structure terms, ``A' = A - mu_d**2``).
    Computing ``1 - SSIM`` as one minus a number close to 1 would lose most digits in float32
    for a close reconstruction.
    """
    x, y = x.float(), recon.float()
    c = x.shape[1]
    taps = gaussian_window(window_size, sigma, torch.float32).to(x.device)
    a = x.mean(dim=(2, 3), keepdim=True)
    b = y.mean(dim=(2, 3), keepdim=True)
    xs, ys, d = x - a, y - b, x - y
    moments = _blur(torch.cat([xs, ys, xs * xs, ys * ys, d, d * d], dim=1), taps)
    ms_x, ms_y, xx, yy, md, dd = moments.split(c, dim=1)
    mu_x, mu_y = ms_x + a, ms_y + b
    big_a = mu_x * mu_x + mu_y * mu_y + SSIM_K1 ** 2
    big_b = (xx - ms_x * ms_x) + (yy - ms_y * ms_y) + SSIM_K2 ** 2
    var_d = (dd - md * md).clamp_min(0)
    r = (md * md * big_b + (big_a - md * md) * var_d) / (big_a * big_b)
    return r.mean(dim=1)


def gradient_residual(x: Tensor, recon: Tensor) -> Tensor:
    """Squared difference of Sobel gradients, summed over channels and directions: (B, H, W)."""
    k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
                     dtype=torch.float32, device=x.device) / 8.0
    kernels = torch.stack([k, k.t()]).unsqueeze(1)  # (2, 1, 3, 3)
    d = (x.float() - recon.float())
    b, c, h, w = d.shape
    d = F.pad(d.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    g = F.conv2d(d, kernels)  # (B*C, 2, H, W)
    return (g ** 2).reshape(b, c * 2, h, w).sum(1)


def feature_residual(fx: list[Tensor], fr: list[Tensor], size: tuple[int, int]) -> Tensor:
    """Per-layer mean squared feature difference, resized to ``size`` and summed: (B, H, W)."""
    total = None
    for a, b in zip(fx, fr, strict=True):
        m = _upsample(((a.float() - b.float()) ** 2).mean(1, keepdim=True), size)
        total = m if total is None else total + m
    return total[:, 0]


def embed(feats: list[Tensor]) -> Tensor:
    """Patch embeddings ``(B, D, h, w)``: 3x3-averaged maps on the first map's grid, stacked."""
    grid = tuple(feats[0].shape[-2:])
    parts = [_upsample(F.avg_pool2d(f.float(), 3, stride=1, padding=1,
                                    count_include_pad=False), grid) for f in feats]
    return torch.cat(parts, dim=1)


def gaussian_distance(emb: Tensor, mean: Tensor, whiten: Tensor) -> Tensor:
    """Mahalanobis distance ``(B, h, w)`` of embeddings ``(B, D, h, w)``: ``|W (e - mean)|``.

    ``whiten`` ``W`` is the inverse of the covariance's Cholesky factor (``W.T @ W`` is the
    precision): a sum of squares, free of the cancellation of ``d.T @ precision @ d``.
    ``mean`` ``(D,)`` and ``whiten`` ``(D, D)`` (pooled) or ``(P, D)`` and ``(P, D, D)`` (per
    position, ``P = h * w``).
    """
    b, d, h, w = emb.shape
    e = emb.flatten(2).transpose(1, 2)  # (B, P, D)
    diff = e - mean
    if whiten.dim() == 2:
        z = diff @ whiten.t()
    else:
        z = torch.einsum("bpd,ped->bpe", diff, whiten)
    return (z * z).sum(-1).sqrt().reshape(b, h, w)


def knn_distance(emb: Tensor, bank: Tensor) -> Tensor:
    """Euclidean distance ``(B, h, w)`` of each embedding to its nearest bank row ``(N, D)``."""
    b, d, h, w = emb.shape
    e = emb.flatten(2).transpose(1, 2)  # (B, P, D)
    d2 = (e * e).sum(-1, keepdim=True) - 2 * e @ bank.t() + (bank * bank).sum(-1)
    return d2.amin(-1).clamp_min(0).sqrt().reshape(b, h, w)


def residual_maps(terms: tuple[str, ...], model: torch.nn.Module, x: Tensor, recon: Tensor,
                  raw: Tensor) -> dict[str, Tensor]:
    """The residual terms named in ``terms`` (``model``, ``ssim``, ``gradient``, ``feature``)."""
    size = tuple(x.shape[-2:])
    out: dict[str, Tensor] = {}
    if "model" in terms:
        out["model"] = raw.float()[:, 0]
    if "ssim" in terms:
        out["ssim"] = ssim_residual(x, recon)
    if "gradient" in terms:
        out["gradient"] = gradient_residual(x, recon)
    if "feature" in terms:
        out["feature"] = feature_residual(model.features(x), model.features(recon), size)
    return out

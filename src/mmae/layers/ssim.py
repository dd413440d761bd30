"""Local structural similarity (SSIM) with a Gaussian window, as a differentiable torch op.

SSIM (Wang et al. 2004) compares two images through local means, variances and the covariance,
weighted by an ``window_size`` x ``window_size`` Gaussian of standard deviation ``sigma`` (11x11,
sigma 1.5 in Bergmann et al.'s SSIM autoencoder)::

    SSIM = (2 mu_x mu_y + C1) (2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (var_x + var_y + C2))

with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` and ``L`` the data range. Variances are population
(not sample) statistics. Borders are padded symmetrically (``d c b a | a b c d``, SciPy's
``mode="reflect"``), which is what scikit-image's ``structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` does (a Gaussian filter with
``mode="reflect"`` and a window of radius ``int(3.5 * sigma + 0.5) = 5``), so the full maps agree,
interior and border.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SSIM_K1 = 0.01
SSIM_K2 = 0.03


def gaussian_window(window_size: int = 11, sigma: float = 1.5,
                    dtype: torch.dtype = torch.float32,
                    device: torch.device | None = None) -> Tensor:
    """Normalised 1D Gaussian taps ``(window_size,)`` centred on the middle tap, computed on
    ``device`` (no host-to-device copy in a training step)."""
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size must be a positive odd integer, got {window_size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    r = torch.arange(window_size, dtype=torch.float64, device=device) - (window_size - 1) / 2
    w = torch.exp(-0.5 * (r / sigma) ** 2)
    return (w / w.sum()).to(dtype)


def _pad_symmetric(x: Tensor, pad: int, dim: int) -> Tensor:
    """Pad ``pad`` samples on both ends of ``dim`` by mirroring, edge sample included.

    The same as SciPy's ``mode="reflect"``, also when ``pad`` exceeds the length.
    """
    n = x.shape[dim]
    i = torch.arange(-pad, n + pad, device=x.device) % (2 * n)
    i = torch.where(i >= n, 2 * n - 1 - i, i)
    return x.index_select(dim, i)


def _blur(x: Tensor, taps: Tensor) -> Tensor:
    """Separable depthwise Gaussian filter of ``(B, C, H, W)``, symmetric borders."""
    c = x.shape[1]
    k = taps.numel()
    pad = k // 2
    x = _pad_symmetric(_pad_symmetric(x, pad, 2), pad, 3)
    wy = taps.view(1, 1, k, 1).expand(c, 1, k, 1)
    wx = taps.view(1, 1, 1, k).expand(c, 1, 1, k)
    return F.conv2d(F.conv2d(x, wy, groups=c), wx, groups=c)


def ssim_map(x: Tensor, y: Tensor, window_size: int = 11, sigma: float = 1.5,
             data_range: float = 1.0) -> Tensor:
    """Per-channel local SSIM of two batches ``(B, C, H, W)``; returns ``(B, C, H, W)``.

    Args:
        x: First images.
        y: Second images, same shape.
        window_size: Side of the Gaussian window (odd).
        sigma: Standard deviation of the Gaussian window, in pixels.
        data_range: Value range of the images (1 for [0, 1]).
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim_map needs two (B, C, H, W) tensors of one shape, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    # Statistics in float32 at least: the variances are differences of close numbers.
    dtype = torch.promote_types(x.dtype, torch.float32)
    x, y = x.to(dtype), y.to(dtype)
    taps = gaussian_window(window_size, sigma, dtype, x.device)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    # One filter pass over the five moment images, stacked along the channel axis. The images
    # are first shifted by their own mean: variances and covariance do not change, but the
    # differences of close numbers that give them lose far fewer digits in float32.
    c = x.shape[1]
    a = x.mean(dim=(2, 3), keepdim=True)
    b = y.mean(dim=(2, 3), keepdim=True)
    xs, ys = x - a, y - b
    moments = _blur(torch.cat([xs, ys, xs * xs, ys * ys, xs * ys], dim=1), taps)
    ms_x, ms_y, xx, yy, xy = moments.split(c, dim=1)
    var_x = xx - ms_x * ms_x
    var_y = yy - ms_y * ms_y
    cov = xy - ms_x * ms_y
    mu_x, mu_y = ms_x + a, ms_y + b
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return num / den


def ssim_anomaly_map(x: Tensor, recon: Tensor, window_size: int = 11, sigma: float = 1.5,
                     data_range: float = 1.0) -> Tensor:
    """``1 - SSIM`` averaged over channels: ``(B, 1, H, W)``, 0 where the images agree.

    For colour images the per-channel SSIM maps are averaged before subtracting from 1 (as
    scikit-image averages channels for multichannel SSIM).
    """
    s = ssim_map(x, recon, window_size, sigma, data_range)
    return 1.0 - s.mean(dim=1, keepdim=True)

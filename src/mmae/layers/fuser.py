"""Multi-scale attention fusers: merge the K de-anomalised features of MMAE into one.

The MMAE paper names a "multi-scale attention-based fuser" and cites split attention (ResNeSt)
and channel attention, but gives no formula. Our default, ``"sk"``, is selective-kernel style
attention across scales (our choice, documented here):

1. ``U = sum_k F_k`` (features ``(B, C)`` or ``(B, C, *grid)``);
2. squeeze: ``s = GlobalAvgPool(U)`` (identity for vectors), ``z = LeakyReLU(W_1 s)``;
3. one logit vector per scale: ``a = W_2 z`` reshaped to ``(B, K, C)``;
4. softmax across the K scales, per channel;
5. ``F = sum_k a_k * F_k``.

Alternatives, chosen by name in :func:`build_fuser`: ``"sum"`` (equal weights 1/K, the mean),
``"concat"`` (concatenate the scales, then a 1x1 convolution / linear layer back to C channels)
and ``"none"`` (one scale, identity). Every fuser returns :class:`FuserOutput`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from mmae.layers.blocks import LEAKY_SLOPE, conv_nd

FUSERS = ("sk", "sum", "concat", "none")


class FuserOutput(NamedTuple):
    """Fused feature ``(B, C[, *grid])`` and per-scale weights ``(B, K, C)`` (or ``None``)."""

    output: Tensor
    weights: Tensor | None


def _stack(features: Sequence[Tensor], num_scales: int) -> Tensor:
    if len(features) != num_scales:
        raise ValueError(f"expected {num_scales} features, got {len(features)}")
    return torch.stack(tuple(features), dim=1)  # (B, K, C, *grid)


def _broadcast(weights: Tensor, stacked: Tensor) -> Tensor:
    return weights.reshape(*weights.shape, *([1] * (stacked.dim() - 3)))


class SKFuser(nn.Module):
    """Selective-kernel attention across scales (see the module docstring).

    Args:
        channels: Channels C of every scale's feature.
        num_scales: Number of scales K.
        reduction: ``hidden = max(channels // reduction, min_hidden)`` units in the squeeze.
        min_hidden: Lower bound of the squeeze width.
    """

    def __init__(
        self, channels: int, num_scales: int, reduction: int = 4, min_hidden: int = 16
    ) -> None:
        super().__init__()
        self.channels = channels
        self.num_scales = num_scales
        hidden = max(channels // reduction, min_hidden)
        self.squeeze = nn.Sequential(nn.Linear(channels, hidden), nn.LeakyReLU(LEAKY_SLOPE))
        self.logits = nn.Linear(hidden, channels * num_scales)

    def forward(self, features: Sequence[Tensor]) -> FuserOutput:
        stacked = _stack(features, self.num_scales)
        summed = stacked.sum(dim=1)
        pooled = summed.flatten(2).mean(dim=2) if summed.dim() > 2 else summed
        logits = self.logits(self.squeeze(pooled)).reshape(-1, self.num_scales, self.channels)
        weights = torch.softmax(logits, dim=1)
        fused = (stacked * _broadcast(weights, stacked)).sum(dim=1)
        return FuserOutput(fused, weights)


class SumFuser(nn.Module):
    """Equal weights 1/K: the mean of the scales (no parameters)."""

    def __init__(self, channels: int, num_scales: int) -> None:
        super().__init__()
        self.channels = channels
        self.num_scales = num_scales

    def forward(self, features: Sequence[Tensor]) -> FuserOutput:
        stacked = _stack(features, self.num_scales)
        weights = stacked.new_full((stacked.shape[0], self.num_scales, self.channels),
                                   1.0 / self.num_scales)
        return FuserOutput(stacked.mean(dim=1), weights)


class ConcatFuser(nn.Module):
    """Concatenate the K scales along channels, then a 1x1 conv (a linear layer for vectors)."""

    def __init__(self, channels: int, num_scales: int, dims: int) -> None:
        super().__init__()
        self.num_scales = num_scales
        k_c = channels * num_scales
        self.mix = nn.Linear(k_c, channels) if dims == 0 else conv_nd(dims, k_c, channels, 1)

    def forward(self, features: Sequence[Tensor]) -> FuserOutput:
        _stack(features, self.num_scales)
        return FuserOutput(self.mix(torch.cat(tuple(features), dim=1)), None)


class IdentityFuser(nn.Module):
    """A single scale passes through unchanged."""

    def forward(self, features: Sequence[Tensor]) -> FuserOutput:
        if len(features) != 1:
            raise ValueError(f"fuser 'none' takes one scale, got {len(features)}")
        return FuserOutput(features[0], None)


def build_fuser(name: str, channels: int, num_scales: int, dims: int) -> nn.Module:
    """The fuser called ``name`` (one of :data:`FUSERS`).

    Args:
        name: ``"sk"``, ``"sum"``, ``"concat"`` or ``"none"`` (only for one scale).
        channels: Channels C (the vector size for vector latents).
        num_scales: Number of scales K.
        dims: Spatial axes of the features: 0 for vectors, 2 or 3 for latent grids.
    """
    if name == "sk":
        return SKFuser(channels, num_scales)
    if name == "sum":
        return SumFuser(channels, num_scales)
    if name == "concat":
        return ConcatFuser(channels, num_scales, dims)
    if name == "none":
        if num_scales != 1:
            raise ValueError(f"fuser 'none' needs one scale, got {num_scales}")
        return IdentityFuser()
    raise ValueError(f"unknown fuser {name!r}; choose one of {', '.join(FUSERS)}")

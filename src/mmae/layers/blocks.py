"""Dimension-generic building blocks (2D images and 3D video clips).

Every block takes ``dims`` (2 or 3) and per-axis strides, so that the image and the video models
share one code path. Only convolutions (and, in the models, linear layers), LeakyReLU(0.2) and an
optional BatchNorm are used, as in the MMAE paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def _check_dims(dims: int) -> None:
    if dims not in _CONV:
        raise ValueError(f"dims must be 2 or 3, got {dims}")


def as_tuple(value: int | Sequence[int], dims: int) -> tuple[int, ...]:
    """``value`` repeated per axis, or checked to have ``dims`` entries."""
    if isinstance(value, int):
        return (value,) * dims
    out = tuple(int(v) for v in value)
    if len(out) != dims:
        raise ValueError(f"expected {dims} values, got {out}")
    return out


def conv_nd(
    dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int | Sequence[int] = 1,
    bias: bool = True,
) -> nn.Module:
    """A ``dims``-d convolution with 'same' padding (``kernel_size // 2``)."""
    _check_dims(dims)
    return _CONV[dims](
        in_channels, out_channels, kernel_size, stride=as_tuple(stride, dims),
        padding=kernel_size // 2, bias=bias,
    )


def norm_act(dims: int, channels: int, norm: bool, act: bool = True) -> list[nn.Module]:
    """The layers that follow a convolution: optional BatchNorm, then LeakyReLU(0.2)."""
    _check_dims(dims)
    layers: list[nn.Module] = []
    if norm:
        layers.append(_NORM[dims](channels))
    if act:
        layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return layers


class ConvBlock(nn.Sequential):
    """3x3 convolution (strided to downsample), optional BatchNorm, LeakyReLU(0.2).

    Args:
        dims: 2 or 3.
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Per-axis stride, e.g. ``2`` or ``(1, 2, 2)``; output size ``ceil(size / stride)``.
        norm: Add a BatchNorm after the convolution.
        act: Add the LeakyReLU; ``False`` gives a plain (output) convolution.
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        out_channels: int,
        stride: int | Sequence[int] = 1,
        norm: bool = False,
        act: bool = True,
    ) -> None:
        conv = conv_nd(dims, in_channels, out_channels, 3, stride)
        super().__init__(conv, *norm_act(dims, out_channels, norm and act, act))


class PixelShuffleND(nn.Module):
    """N-d pixel shuffle: ``(B, C * prod(f), *size) -> (B, C, *(size * f))``.

    Channel ``c * prod(f) + offset`` (offset in row-major order over the factors) goes to the
    output block of channel ``c``; with ``factors=(2, 2)`` this equals ``nn.PixelShuffle(2)``.
    Factors may differ per axis, e.g. ``(1, 2, 2)`` for video.
    """

    def __init__(self, factors: Sequence[int]) -> None:
        super().__init__()
        self.factors = tuple(int(f) for f in factors)
        if any(f < 1 for f in self.factors):
            raise ValueError(f"factors must be >= 1, got {self.factors}")

    def forward(self, x: Tensor) -> Tensor:
        n = len(self.factors)
        batch, channels, *size = x.shape
        if len(size) != n:
            raise ValueError(f"expected {n} spatial axes, got input {tuple(x.shape)}")
        out_channels = channels // math.prod(self.factors)
        x = x.reshape(batch, out_channels, *self.factors, *size)
        # (B, C, f1..fn, d1..dn) -> (B, C, d1, f1, ..., dn, fn)
        order = [0, 1] + [axis for i in range(n) for axis in (2 + n + i, 2 + i)]
        x = x.permute(order)
        new_size = (d * f for d, f in zip(size, self.factors, strict=True))
        return x.reshape(batch, out_channels, *new_size)

    def extra_repr(self) -> str:
        return f"factors={self.factors}"


class UpBlock(nn.Sequential):
    """Upsampling by per-axis ``factors``: pixel shuffle (paper) or transposed convolution (MemAE).

    ``"shuffle"``: 3x3 conv to ``out_channels * prod(factors)`` then :class:`PixelShuffleND`.
    ``"transpose"``: 3x3 transposed conv, padding 1, ``output_padding = factor - 1``.
    Both are followed by optional BatchNorm and LeakyReLU(0.2) unless ``act`` is ``False``.
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        out_channels: int,
        factors: int | Sequence[int] = 2,
        mode: str = "shuffle",
        norm: bool = False,
        act: bool = True,
    ) -> None:
        _check_dims(dims)
        f = as_tuple(factors, dims)
        layers: list[nn.Module]
        if mode == "shuffle":
            layers = [conv_nd(dims, in_channels, out_channels * math.prod(f), 3, 1)]
            if math.prod(f) > 1:
                layers.append(PixelShuffleND(f))
        elif mode == "transpose":
            layers = [
                _CONV_T[dims](
                    in_channels, out_channels, 3, stride=f, padding=1,
                    output_padding=tuple(s - 1 for s in f),
                )
            ]
        else:
            raise ValueError(f"upsampling mode must be 'shuffle' or 'transpose', got {mode!r}")
        super().__init__(*layers, *norm_act(dims, out_channels, norm and act, act))


def resize(x: Tensor, size: Sequence[int]) -> Tensor:
    """Resize the spatial axes of ``(B, C, *spatial)`` to ``size`` by area averaging.

    Area interpolation averages every input pixel that falls in an output pixel (anti-aliased,
    exact 2x2 averaging for a factor of 2). Returns ``x`` itself when the size already matches.
    Integer factors use average pooling, the same numbers in an operator every ONNX runtime has.
    """
    size = tuple(int(s) for s in size)
    if tuple(x.shape[2:]) == size:
        return x
    if all(s > 0 and i % s == 0 for i, s in zip(x.shape[2:], size)):
        factors = tuple(i // s for i, s in zip(x.shape[2:], size))
        pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[len(size) - 1]
        return pool(x, kernel_size=factors, stride=factors)
    return F.interpolate(x, size=size, mode="area")

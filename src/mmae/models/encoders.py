"""Convolutional encoders and decoders shared by the reconstruction models (2D and 3D).

An encoder is planned from its input size and the latent grid it must reach: every axis is
halved (stride 2, output ``ceil(size / 2)``) as often as needed, the halvings of an axis sit in
the *last* layers ("halve late"), and widths are the last entries of ``channels``. With MemAE's
video settings (16x256x256 clip, grid 2x16x16, 4 layers) this gives exactly its strides
``(1,2,2), 2, 2, 2``. A decoder mirrors the plan of the full-resolution encoder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from mmae.layers.blocks import LEAKY_SLOPE, ConvBlock, UpBlock

OUTPUT_ACTIVATIONS = ("none", "sigmoid", "tanh")


def check_choice(name: str, value: object, options: Sequence[object]) -> None:
    """ValueError naming ``name`` unless ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name}={value!r} is not valid; choose one of: "
                          f"{', '.join(map(str, options))}")


def check_positive_int(name: str, value: object) -> None:
    """ValueError naming ``name`` unless ``value`` is an integer >= 1 (not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    """``widths`` as a tuple; ValueError unless a non-empty list of positive integers."""
    channels = tuple(widths)
    if not channels or any(not isinstance(c, int) or isinstance(c, bool) or c < 1
                           for c in channels):
        raise ValueError(f"widths must be a non-empty list of positive integers, "
                          f"got {list(channels)}")
    return channels


def latent_grid(image_size: int, channels: Sequence[int], depth: int | None) -> int:
    """Side of the latent grid: ``image_size / 2**depth``; ``depth`` None = as many stride-2
    layers as there are widths and ``image_size`` halves evenly.

    Raises:
        ValueError: a bad depth, or an image_size not divisible by ``2**depth``.
    """
    if depth is None:
        depth = 0
        while depth < len(channels) and image_size % 2 ** (depth + 1) == 0:
            depth += 1
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    if image_size % 2**depth:
        raise ValueError(f"image_size {image_size} is not divisible by 2**depth = "
                         f"{2**depth}; choose another image_size or depth")
    return image_size // 2**depth


def halvings(size: int, target: int) -> tuple[int, int]:
    """Halve ``size`` (ceil) until it is ``<= target``: ``(number of halvings, final size)``."""
    n = 0
    while size > target:
        size = -(-size // 2)
        n += 1
    return n, size


@dataclass(frozen=True)
class EncoderPlan:
    """Layer-by-layer plan of one encoder.

    Attributes:
        input_size: Spatial size per axis of the encoder's input.
        strides: Per layer, the stride per axis (1 or 2).
        widths: Output channels per layer.
        grid: Spatial size per axis of the output.
    """

    input_size: tuple[int, ...]
    strides: tuple[tuple[int, ...], ...]
    widths: tuple[int, ...]
    grid: tuple[int, ...]


def plan_encoder(
    input_size: Sequence[int],
    target: Sequence[int],
    channels: Sequence[int],
    min_layers: int = 1,
) -> EncoderPlan:
    """Plan an encoder from ``input_size`` down to at most ``target`` per axis.

    Args:
        input_size: Input size per spatial axis, e.g. ``(H, W)`` or ``(T, H, W)``.
        target: Latent grid per axis; each axis is halved until it is ``<= target``.
        channels: Widths of the full-resolution encoder; an encoder with L layers uses the last
            L entries (repeating ``channels[0]`` in front when L is larger).
        min_layers: Lower bound on the number of layers (extra layers have stride 1).
    """
    per_axis = [halvings(s, t) for s, t in zip(input_size, target, strict=True)]
    counts = [c for c, _ in per_axis]
    grid = tuple(g for _, g in per_axis)
    n_layers = max(min_layers, 1, *counts)
    strides = tuple(
        tuple(2 if layer >= n_layers - c else 1 for c in counts) for layer in range(n_layers)
    )
    padded = [channels[0]] * max(0, n_layers - len(channels)) + list(channels)
    widths = tuple(padded[len(padded) - n_layers :])
    return EncoderPlan(tuple(input_size), strides, widths, tuple(grid))


def plan_image_autoencoder(image_size: int, widths: Sequence[int],
                           depth: int | None = None) -> EncoderPlan:
    """The encoder plan of a one-scale image autoencoder (the same rule as ``mmae``'s).

    Raises:
        ValueError: bad sizes or widths.
    """
    channels = check_widths(widths)
    check_positive_int("image_size", image_size)
    grid = latent_grid(image_size, channels, depth)
    return plan_encoder((image_size, image_size), (grid, grid), channels)


class Encoder(nn.Sequential):
    """Strided 3x3 conv blocks (LeakyReLU(0.2), optional BatchNorm) following a plan.

    With ``latent_dim`` the output is flattened and projected by a linear layer to a vector
    ``(B, latent_dim)`` (the "vector" latent); otherwise the output is the map
    ``(B, widths[-1], *grid)``.
    """

    def __init__(
        self,
        in_channels: int,
        plan: EncoderPlan,
        norm: bool = False,
        latent_dim: int | None = None,
    ) -> None:
        dims = len(plan.input_size)
        layers: list[nn.Module] = []
        width_in = in_channels
        for stride, width in zip(plan.strides, plan.widths, strict=True):
            layers.append(ConvBlock(dims, width_in, width, stride, norm=norm))
            width_in = width
        if latent_dim is not None:
            layers += [nn.Flatten(1), nn.Linear(width_in * math.prod(plan.grid), latent_dim)]
        super().__init__(*layers)
        self.plan = plan
        self.num_blocks = len(plan.strides)

    def features(self, x: Tensor) -> list[Tensor]:
        """Feature maps of ``x``: the outputs of the first two conv blocks (the first alone for a
        one-block encoder), at strides 2 and 4: the fine-grained local structure.

        The hook for feature-space scoring (:mod:`mmae.scoring.terms`); it only computes.
        """
        out = []
        for block in list(self)[: min(2, self.num_blocks)]:
            x = block(x)
            out.append(x)
        return out


class Decoder(nn.Module):
    """Mirror of an encoder plan: upsampling blocks back to the encoder's input size.

    Args:
        out_channels: Channels of the reconstruction.
        plan: The plan of the encoder to mirror (the full-resolution one).
        mode: ``"shuffle"`` (pixel shuffle, the MMAE paper) or ``"transpose"`` (MemAE).
        norm: BatchNorm after every block but the last.
        latent_dim: For a vector latent: a linear layer (+ LeakyReLU) maps ``(B, latent_dim)``
            to the map ``(B, widths[-1], *grid)`` first.
        output_activation: ``"none"``, ``"sigmoid"`` or ``"tanh"`` on the reconstruction.
    """

    def __init__(
        self,
        out_channels: int,
        plan: EncoderPlan,
        mode: str = "shuffle",
        norm: bool = False,
        latent_dim: int | None = None,
        output_activation: str = "none",
    ) -> None:
        super().__init__()
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}")
        dims = len(plan.input_size)
        top = plan.widths[-1]
        self.expand: nn.Module = nn.Identity()
        if latent_dim is not None:
            self.expand = nn.Sequential(
                nn.Linear(latent_dim, top * math.prod(plan.grid)),
                nn.LeakyReLU(LEAKY_SLOPE),
                nn.Unflatten(1, (top, *plan.grid)),
            )
        blocks: list[nn.Module] = []
        n = len(plan.widths)
        for layer in reversed(range(n)):
            last = layer == 0
            width_out = out_channels if last else plan.widths[layer - 1]
            blocks.append(
                UpBlock(dims, plan.widths[layer], width_out, plan.strides[layer], mode,
                        norm=norm, act=not last)
            )
        if output_activation == "sigmoid":
            blocks.append(nn.Sigmoid())
        elif output_activation == "tanh":
            blocks.append(nn.Tanh())
        self.blocks = nn.Sequential(*blocks)
        self.plan = plan

    def forward(self, z: Tensor) -> Tensor:
        return self.blocks(self.expand(z))

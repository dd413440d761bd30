"""Dimension-generic building blocks shared by every model (2D images and 3D video)."""

from mmae.layers.blocks import (
    ConvBlock,
    PixelShuffleND,
    UpBlock,
    conv_nd,
    norm_act,
    resize,
)
from mmae.layers.fuser import (
    FUSERS,
    ConcatFuser,
    FuserOutput,
    IdentityFuser,
    SKFuser,
    SumFuser,
    build_fuser,
)
from mmae.layers.init import INIT_SCHEMES, init_weights
from mmae.layers.memory import (
    MemoryModule,
    MemoryOutput,
    entropy_loss,
    hard_shrink_relu,
    zero_row_fraction,
)
from mmae.layers.ssim import gaussian_window, ssim_anomaly_map, ssim_map

__all__ = [
    "FUSERS",
    "INIT_SCHEMES",
    "ConcatFuser",
    "ConvBlock",
    "FuserOutput",
    "IdentityFuser",
    "MemoryModule",
    "MemoryOutput",
    "PixelShuffleND",
    "SKFuser",
    "SumFuser",
    "UpBlock",
    "build_fuser",
    "conv_nd",
    "entropy_loss",
    "gaussian_window",
    "hard_shrink_relu",
    "init_weights",
    "norm_act",
    "resize",
    "ssim_anomaly_map",
    "ssim_map",
    "zero_row_fraction",
]

"""Video (3D) settings of :class:`mmae.models.mmae.MMAE`: ``memae3d``, ``mmae3d``, ``ae3d``.

``memae3d`` is MemAE's released video network: Conv3d 1->96 (stride 1,2,2), 96->128, 128->256,
256->256 (stride 2), kernel 3, BatchNorm3d + LeakyReLU(0.2) after every layer but the decoder's
last; mirrored ConvTranspose3d decoder without output activation; latent 256x2x16x16 for a
16x256x256 clip; 2000 slots per location, threshold 0.0025, dot-product addressing, entropy
weight 0.0002. Input: grayscale clips ``(B, 1, 16, H, W)`` in [-1, 1].

``mmae3d`` keeps that configuration with K=4 scales (frames resized by 0.5 ** (i - 1)); each
scale's encoder keeps 4 layers and moves its spatial halvings so that every scale reaches the
same 2x16x16 latent grid, with one memory per scale and the selective-kernel fuser.

Similarity: the image models address by cosine (the MMAE paper's eq. 4, temperature 1), these
video models by the dot product of MemAE's released code, on purpose. With MemAE's video memory
(N=2000, lambda=0.0025) a cosine softmax at temperature 1 does not reach the threshold: a query
equal to one slot and orthogonal to the others (as random slots in 256 dimensions nearly are)
gets ``e / (e + 1999) = 0.0014`` (measured at init: every row zeroed), so the read-out is zero.
The ``cpu`` and ``bench-cpu`` presets use cosine for video too, with N=100 and ``lambda = 1/N``
as for images, which keeps the two kinds consistent there.
"""

from __future__ import annotations

from typing import Any

from mmae.models.mmae import MMAE
from mmae.models.registry import ModelSpec, register_model

MEMAE_VIDEO: dict[str, Any] = {
    "dims": 3,
    "in_channels": 1,
    "image_size": 256,
    "clip_length": 16,
    "temporal_depth": 3,
    "widths": (96, 128, 256, 256),
    "min_encoder_layers": 4,
    "latent": "spatial",
    "latent_dim": 256,
    "memory_size": 2000,
    "shrink_threshold": 0.0025,
    "similarity": "dot",
    "entropy_weight": 0.0002,
    "norm": True,
    "upsample": "transpose",
    "num_scales": 1,
    "fuser": "none",
}


@register_model("memae3d")
def _memae3d() -> ModelSpec:
    return ModelSpec(MMAE, dict(MEMAE_VIDEO), "video",
                     "MemAE video network (released code): 3D conv AE, 2000-slot memory")


@register_model("mmae3d")
def _mmae3d() -> ModelSpec:
    return ModelSpec(MMAE, {**MEMAE_VIDEO, "num_scales": 4, "gamma": 0.5, "fuser": "sk"},
                     "video", "MMAE video: K=4 scales of MemAE's 3D network, one memory each")


@register_model("ae3d")
def _ae3d() -> ModelSpec:
    return ModelSpec(MMAE, {**MEMAE_VIDEO, "use_memory": False}, "video",
                     "3D convolutional autoencoder (MemAE's network without memory)")

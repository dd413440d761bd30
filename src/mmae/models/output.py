"""The named output every model returns."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class ModelOutput(NamedTuple):
    """What a model's ``forward`` returns.

    Attributes:
        recon: Reconstruction, same shape as the input ``(B, C, *spatial)``. Always first.
        anomaly_map: Per-pixel (per-voxel for video) anomaly map ``(B, 1, *spatial)``: the squared
            l2 error over channels for reconstruction models (``1 - SSIM`` for ``ssim_ae``).
            ``None`` in training mode.
        pred_score: Image (clip) score ``(B,)``, the map's maximum by default. ``None`` in training.
        attentions: Post-shrinkage memory attention per scale, ``(B, num_slots[, *grid])`` each;
            empty for models without memory.
        extras: Model-specific tensors needed by the loss (e.g. ``mu``/``logvar`` of the VAE,
            ``scale_weights`` of the fuser). Keys are strings.
    """

    recon: Tensor
    anomaly_map: Tensor | None = None
    pred_score: Tensor | None = None
    attentions: tuple[Tensor, ...] = ()
    extras: dict[str, Tensor] | None = None

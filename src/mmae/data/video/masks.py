"""Pixel masks of test videos, at the masks' own resolution."""

from __future__ import annotations

import numpy as np

from mmae.data.files import read_npy
from mmae.data.video.avenue import load_volume_masks
from mmae.data.video.files import read_gray, stack_frames
from mmae.data.video.records import VideoRecord
from mmae.errors import DataError


def load_masks(record: VideoRecord) -> np.ndarray | None:
    """Bool ``(T, H0, W0)`` pixel masks of a video, or None if its dataset has none."""
    if record.mask_kind is None or record.mask_path is None:
        return None
    if record.mask_kind == "image_files":
        files = record.mask_files or ()
        masks = stack_frames([read_gray(p) > 0 for p in files], record.mask_path)
    elif record.mask_kind == "volLabel_mat":
        masks = load_volume_masks(record.mask_path)
    elif record.mask_kind == "npy":
        raw = read_npy(record.mask_path)
        if raw.ndim != 3:
            raise DataError(f"{record.mask_path}: expected (T, H, W) masks, got shape {raw.shape}")
        masks = raw > 0
    else:  # pragma: no cover - loaders only produce the kinds above
        raise ValueError(record.mask_kind)
    if len(masks) != record.num_frames:
        raise DataError(
            f"{record.mask_path}: {len(masks)} masks but video {record.source} has "
            f"{record.num_frames} frames"
        )
    return masks

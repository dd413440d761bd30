"""Pairing anomaly maps with ground-truth masks at the mask's own resolution.

Pixel metrics are evaluated at the ground truth's resolution: a map of another size is resized to
its mask, never the mask to the map (resizing a mask first changes its connected regions).

Resize rule: ``cv2.resize(map, (W, H), interpolation=cv2.INTER_LINEAR)``, i.e. bilinear with
half-pixel centres, the same as ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False)`` without antialiasing. Integer and float16 maps are converted to float32
(float64 for 32/64-bit integers) before resizing, so resized values are not rounded to integers.
"""

from __future__ import annotations

import numpy as np

from mmae.errors import DataError
from mmae.metrics._checks import as_image_list, check_finite

MAP_RESIZE_RULE = (
    "maps resized to their mask's size with cv2.resize INTER_LINEAR (bilinear, half-pixel "
    "centres, no antialiasing); masks are never resized"
)


def score_dtype(maps: list[np.ndarray]) -> np.dtype:
    """The common dtype the scores of ``maps`` are compared in: at least float32.

    Upcasting float32 to float64 is exact, so ties and order are the same as in the maps.
    """
    return np.result_type(np.float32, *(m.dtype for m in maps))


def resize_map_to_mask(
    amap: np.ndarray, shape: tuple[int, int], dtype: object = None
) -> np.ndarray:
    """Return ``amap`` as ``dtype`` (default: at least float32) at ``shape`` (H, W).

    A map that already has the shape is returned as is (a view or the same array when the dtype
    matches). Otherwise it is resized bilinearly with ``cv2.INTER_LINEAR`` (half-pixel centres).

    Args:
        amap: 2-D anomaly map.
        shape: target (H, W), the mask's shape.
        dtype: float32 or float64; default ``result_type(float32, amap.dtype)``.

    Returns:
        The map at ``shape``.
    """
    amap = np.asarray(amap)
    dt = np.dtype(dtype) if dtype is not None else np.result_type(np.float32, amap.dtype)
    if dt not in (np.float32, np.float64):
        raise DataError(f"maps: cannot evaluate scores of dtype {dt}")
    src = amap.astype(dt, copy=False)
    if src.shape == tuple(shape):
        return src
    import cv2  # local import: only needed when a map must be resized

    h, w = int(shape[0]), int(shape[1])
    out = cv2.resize(np.ascontiguousarray(src), (w, h), interpolation=cv2.INTER_LINEAR)
    return out.astype(dt, copy=False)


def paired_masks_and_maps(
    masks: object, maps: object
) -> tuple[list[np.ndarray], list[np.ndarray], np.dtype]:
    """Validate masks and maps and return them as lists of 2-D arrays and the common score dtype.

    Raises:
        DataError: different lengths, an empty set, non-2-D arrays, non-real dtypes, non-finite
            scores or masks.
    """
    mask_list = as_image_list(masks, "masks")
    map_list = as_image_list(maps, "maps")
    if len(mask_list) != len(map_list):
        raise DataError(
            f"masks and maps differ in length: {len(mask_list)} masks, {len(map_list)} maps"
        )
    if not mask_list:
        raise DataError("masks and maps are empty")
    for i, (mask, amap) in enumerate(zip(mask_list, map_list, strict=True)):
        check_finite(mask, f"masks[{i}]")
        check_finite(amap, f"maps[{i}]")
    return mask_list, map_list, score_dtype(map_list)

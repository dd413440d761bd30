"""Normalized area under the per-region overlap (PRO) curve, exactly as the MVTec AD evaluation.

Definition (MVTec AD, Bergmann et al.): ground-truth regions are the 8-connected components of
each image's mask. Every distinct score t is a threshold; at t a normal pixel with score >= t is a
false positive, FPR(t) = #{normal pixels >= t} / #normal pixels, and
PRO(t) = mean over all regions c of |{p in c: score >= t}| / |c|. The curve is the sequence of
(FPR, PRO) points for all distinct scores in descending order, with (0, 0) prepended. It is
integrated with the trapezoid rule up to ``fpr_limit`` (linear interpolation at the limit) and
divided by ``fpr_limit``.

Why our fast computation gives the same number (up to float64 rounding, ~1e-15):

* Curve segments beyond the first point with FPR > limit are never integrated. Let k be the
  smallest count of normal pixels with k / N_normal > limit (plus a margin of one for rounding) and
  v the k-th largest normal score. Every threshold t < v has FPR(t) >= k / N_normal > limit, so
  only thresholds >= v matter, and they only involve the normal scores >= v.
* Between two consecutive distinct *anomalous* scores a_j > a_{j+1}, the thresholds that are only
  normal scores change the FPR but not the PRO: those curve points lie on one horizontal line. The
  trapezoid rule (and the linear interpolation at the limit) gives the same area for a path with
  or without points inside a straight segment, so the curve can be reduced to two corner points
  per distinct anomalous score a_j:
  A_j = (#{normal > a_j} / N, PRO(a_{j-1}))  and  B_j = (#{normal >= a_j} / N, PRO(a_j)).
  A_j ends the horizontal run before a_j; B_j is the official point at threshold a_j (a tie of
  normal and anomalous scores at a_j is merged exactly like the official "keep the last point of a
  run of equal scores"). After the last anomalous score >= v the curve stays at the same PRO until
  beyond the limit, so a final point (1, PRO_last) closes the horizontal run.
* So we sort only the normal scores >= v (np.sort, no argsort), argsort only the anomalous pixels
  (few), and count normals >= / > each distinct anomalous score with searchsorted. Counts are
  integers and FPR = count / N is computed in float64, so every FPR equals the official value;
  PRO is a float64 cumulative sum of 1 / |c| divided by the number of regions, as in the official
  code (only the summation order of equal scores differs).
* v is found without sorting all normal scores: a strided sample gives a lower bound c for it with
  a margin; the normal scores >= c are extracted and sorted, and if fewer than k were extracted
  (an unlucky sample) all normal scores are used instead. Either way the result is exact.

The official script stores FPRs as float32 (``fp_changes.astype(np.float32)``), so its printed
numbers can differ from the exact float64 value computed here by a few 1e-8; see docs/metrics.md.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from mmae.errors import ConfigError, DataError
from mmae.metrics.curve import cut_curve, trapezoid_to_limit
from mmae.metrics.maps import paired_masks_and_maps, resize_map_to_mask

_STRUCTURE = np.ones((3, 3), dtype=bool)  # 8-connectivity, as the official evaluation
_SAMPLE_MIN_NORMALS = 2_000_000  # below this many normal pixels, simply use all of them
_SAMPLE_SIZE = 1_000_000  # target size of the strided sample used to bound the cutoff
_SAMPLE_MARGIN = 0.02  # extra fraction of normal pixels extracted above the estimated cutoff


def au_pro(
    masks: object,
    maps: object,
    fpr_limit: float = 0.3,
    return_curve: bool = False,
    fpr_dtype: str = "float64",
) -> float | tuple[float, np.ndarray, np.ndarray]:
    """Normalized AU-PRO up to ``fpr_limit``: the MVTec AD evaluation's definition, exact.

    Args:
        masks: sequence of HxW ground-truth masks; any non-zero value is anomalous (bool, 0/1 and
            0/255 masks all work). Images without anomalies have an all-zero mask.
        maps: sequence of HxW anomaly maps (higher = more anomalous), one per mask. A map of
            another size is resized to its mask with bilinear interpolation (cv2.INTER_LINEAR,
            half-pixel centres); the mask is never resized.
        fpr_limit: integration limit on the false-positive rate, in (0, 1].
        return_curve: also return the PRO curve on [0, fpr_limit].
        fpr_dtype: ``"float64"`` (default): exact FPRs (integer counts / number of normal
            pixels in float64). ``"float32"``: the official MVTec AD script's rounding (it casts
            the cumulative false-positive counts to float32 and keeps the FPRs in float32), to
            reproduce its published numbers to ~1e-12 instead of ~1e-9 (docs/metrics.md).

    Returns:
        The area under the PRO curve from FPR 0 to ``fpr_limit`` divided by ``fpr_limit`` (in
        [0, 1]). With ``return_curve``, ``(value, fpr, pro)``: the curve's corner points up to the
        limit (points inside straight segments omitted), ending with the interpolated point at
        ``fpr_limit``.

    Raises:
        DataError: different numbers of masks and maps, non-finite scores, no anomalous region
            or no normal pixel in the whole set.
        ConfigError: ``fpr_limit`` outside (0, 1].
    """
    fpr_limit = _check_limit(fpr_limit)
    if fpr_dtype not in ("float64", "float32"):
        raise ConfigError(f"fpr_dtype must be 'float64' or 'float32', got {fpr_dtype!r}")
    mask_list, map_list, dtype = paired_masks_and_maps(masks, maps)
    anom_idx, anom_w, num_normal, num_regions = _regions(mask_list)
    if num_regions == 0:
        raise DataError("AU-PRO: the masks contain no anomalous region (every mask is all zero)")
    if num_normal == 0:
        raise DataError("AU-PRO: the masks contain no normal pixel (every pixel is anomalous)")

    # k normal pixels above the cutoff give an FPR certainly above the limit (+2: rounding margin).
    k = min(num_normal, math.floor(fpr_limit * num_normal) + 2)
    anom_scores = np.empty(sum(i.size for i in anom_idx), dtype=dtype)
    sample = []
    step = max(1, sum(m.size for m in mask_list) // _SAMPLE_SIZE)
    use_sample = num_normal > _SAMPLE_MIN_NORMALS
    pos = 0
    for mask, amap, idx in zip(mask_list, map_list, anom_idx, strict=True):
        flat = resize_map_to_mask(amap, mask.shape, dtype).ravel()
        anom_scores[pos : pos + idx.size] = flat[idx]
        pos += idx.size
        if use_sample:
            sample.append(flat[::step][mask.ravel()[::step] == 0])
    cutoff = _estimate_cutoff(np.concatenate(sample), k / num_normal) if use_sample else -np.inf
    top = _normal_scores_at_least(mask_list, map_list, dtype, cutoff)
    if top.size < k:  # the sample over-estimated the cutoff: fall back to all normal scores
        top = _normal_scores_at_least(mask_list, map_list, dtype, -np.inf)
    top.sort()
    v = top[top.size - k]

    fpr, pro = _reduced_curve(top, v, anom_scores, np.concatenate(anom_w), num_normal, num_regions,
                              official_rounding=fpr_dtype == "float32")
    value = trapezoid_to_limit(fpr, pro, fpr_limit) / fpr_limit
    if not return_curve:
        return value
    cx, cy = cut_curve(fpr, pro, fpr_limit)
    return value, cx, cy


def _check_limit(fpr_limit: object) -> float:
    try:
        limit = float(fpr_limit)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        limit = math.nan
    if not 0.0 < limit <= 1.0:
        raise ConfigError(f"fpr_limit must be in (0, 1], got {fpr_limit!r}")
    return limit


def _regions(
    mask_list: list[np.ndarray],
) -> tuple[list[np.ndarray], list[np.ndarray], int, int]:
    """Per image: flat indices of anomalous pixels and their PRO weight 1 / |region|.

    Regions are labelled with 8-connectivity on the bounding box of the mask's non-zero pixels
    (the same components as labelling the whole mask, only faster).

    Returns:
        (indices per image, weights per image, number of normal pixels, number of regions).
    """
    indices, weights = [], []
    num_normal = num_regions = 0
    for mask in mask_list:
        gt = mask != 0
        rows = np.flatnonzero(gt.any(axis=1))
        if rows.size == 0:
            indices.append(np.empty(0, dtype=np.intp))
            weights.append(np.empty(0, dtype=np.float64))
            num_normal += gt.size
            continue
        cols = np.flatnonzero(gt.any(axis=0))
        r0, c0 = rows[0], cols[0]
        crop = gt[r0 : rows[-1] + 1, c0 : cols[-1] + 1]
        labels, n = ndimage.label(crop, structure=_STRUCTURE)
        region_of = labels[crop]  # row-major, same order as np.nonzero(crop)
        sizes = np.bincount(region_of)
        rr, cc = np.nonzero(crop)
        indices.append((rr + r0) * gt.shape[1] + (cc + c0))
        weights.append(1.0 / sizes[region_of])
        num_normal += gt.size - region_of.size
        num_regions += int(n)
    return indices, weights, num_normal, num_regions


def _estimate_cutoff(sample: np.ndarray, fraction: float) -> float:
    """A score c such that (very likely) more than ``fraction`` of the normal scores are >= c.

    Only a speed-up: if the estimate is too high, the caller falls back to all normal scores.
    """
    need = math.ceil(min(1.0, fraction + _SAMPLE_MARGIN) * sample.size)
    if need >= sample.size:
        return -np.inf
    return sample.dtype.type(np.partition(sample, sample.size - need)[sample.size - need])


def _normal_scores_at_least(
    mask_list: list[np.ndarray], map_list: list[np.ndarray], dtype: np.dtype, cutoff: float
) -> np.ndarray:
    """All normal-pixel scores >= ``cutoff`` of all images, concatenated (unsorted)."""
    parts = []
    for mask, amap in zip(mask_list, map_list, strict=True):
        flat = resize_map_to_mask(amap, mask.shape, dtype).ravel()
        keep = flat >= cutoff
        keep &= mask.ravel() == 0
        parts.append(flat[keep])
    return np.concatenate(parts)


def _reduced_curve(
    top: np.ndarray,
    v: np.generic,
    anom_scores: np.ndarray,
    anom_w: np.ndarray,
    num_normal: int,
    num_regions: int,
    official_rounding: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Corner points (A_j, B_j) of the PRO curve for the anomalous scores >= v (module docstring).

    Args:
        top: sorted (ascending) normal scores; must contain every normal score >= v.
        v: cutoff score; thresholds below it lie beyond the FPR limit.
        anom_scores: scores of all anomalous pixels; anom_w their weights 1 / |region|.
        num_normal: number of normal pixels; num_regions: number of regions.
        official_rounding: round the FPRs as the official script does (float32 counts,
            quotient stored in float32). Only the x values of the corners change, and horizontal
            segments have the same area whatever points lie inside them, so the reduced curve
            reproduces the official curve's area under this rounding too.

    Returns:
        (fpr, pro) float64 arrays starting at (0, 0) and ending with (1, PRO_last).
    """
    sel = anom_scores >= v
    a = anom_scores[sel]
    order = np.argsort(a)[::-1]  # descending; the order inside a run of ties is irrelevant
    a = a[order]
    cum = np.cumsum(anom_w[sel][order])
    last_of_run = np.ones(a.size, dtype=bool)
    last_of_run[:-1] = a[:-1] != a[1:]
    a = a[last_of_run]
    pro = cum[last_of_run] / num_regions
    np.minimum(pro, 1.0, out=pro)  # as the official code: clip rounding excess

    n = top.size
    above = n - np.searchsorted(top, a, side="right")  # normals > a_j
    at_least = n - np.searchsorted(top, a, side="left")  # normals >= a_j
    m = a.size
    x = np.empty(2 * m + 2, dtype=np.float64)
    y = np.empty(2 * m + 2, dtype=np.float64)
    x[0] = y[0] = 0.0
    x[1:-1:2] = _fpr(above, num_normal, official_rounding)  # A_j
    x[2:-1:2] = _fpr(at_least, num_normal, official_rounding)  # B_j
    y[2:-1:2] = pro
    y[1:-1:2] = 0.0
    y[3:-1:2] = pro[:-1]
    x[-1] = 1.0
    y[-1] = pro[-1] if m else 0.0
    return x, y


def _fpr(counts: np.ndarray, num_normal: int, official_rounding: bool) -> np.ndarray:
    """False-positive rates of counts: exact float64, or the official script's float32 rounding
    (``cumsum(...).astype(float32)`` divided by the int64 pixel count, stored in float32)."""
    if not official_rounding:
        return counts / num_normal
    c32 = counts.astype(np.float32).astype(np.float64)
    return (c32 / np.int64(num_normal)).astype(np.float32).astype(np.float64)

"""Image-level and pixel-level ROC AUC.

Small inputs use scikit-learn's ``roc_auc_score``. Pixel sets above ``SKLEARN_MAX_PIXELS`` use an
exact rank computation (Mann-Whitney U with ties counted 1/2), written here because sklearn's
``roc_auc_score`` allocates several arrays of 8-16 bytes per pixel (an argsort, sorted copies,
cumulative sums), too much for 100 M+ pixels. It sorts the normal scores in place and looks up the
anomalous ones with searchsorted, in chunks, with integer counts; the value equals sklearn's
trapezoidal AUC of the exact ROC curve.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from mmae.errors import DataError
from mmae.metrics._checks import labels_and_scores
from mmae.metrics.maps import paired_masks_and_maps, resize_map_to_mask

SKLEARN_MAX_PIXELS = 20_000_000  # above this, pixel AUROC uses the rank computation
_CHUNK = 1 << 20


def image_auroc(labels: object, scores: object) -> float:
    """ROC AUC of image-level scores.

    Args:
        labels: 0 (normal) / 1 (anomalous) per image.
        scores: anomaly score per image (higher = more anomalous), finite.

    Returns:
        The area under the ROC curve (ties count 1/2).

    Raises:
        DataError: different lengths, non-finite scores, or only one class present.
    """
    y, s = labels_and_scores(labels, scores)
    _need_both_classes(y, "image AUROC")
    return float(roc_auc_score(y, s))


def pixel_auroc(masks: object, maps: object) -> float:
    """ROC AUC over all pixels of all images, at each mask's resolution.

    Args:
        masks: sequence of HxW masks; any non-zero value is anomalous.
        maps: sequence of HxW anomaly maps; a map of another size is resized to its mask
            (cv2.INTER_LINEAR, as for :func:`mmae.metrics.au_pro`).

    Returns:
        Pixel-level ROC AUC. Exact for any size: scikit-learn up to ``SKLEARN_MAX_PIXELS``
        pixels, the equivalent rank computation above (memory about the maps' size).

    Raises:
        DataError: mismatched lengths, non-finite scores, or no anomalous / no normal pixel.
    """
    mask_list, map_list, dtype = paired_masks_and_maps(masks, maps)
    n_pos = sum(int(np.count_nonzero(m)) for m in mask_list)
    n_total = sum(m.size for m in mask_list)
    if n_pos == 0 or n_pos == n_total:
        what = "no anomalous pixel" if n_pos == 0 else "no normal pixel"
        raise DataError(f"pixel AUROC: the masks contain {what}; both classes are needed")
    pos = np.empty(n_pos, dtype=dtype)
    neg = np.empty(n_total - n_pos, dtype=dtype)
    ip = ineg = 0
    for mask, amap in zip(mask_list, map_list, strict=True):
        flat = resize_map_to_mask(amap, mask.shape, dtype).ravel()
        gt = mask.ravel() != 0
        k = int(np.count_nonzero(gt))
        pos[ip : ip + k] = flat[gt]
        np.logical_not(gt, out=gt)
        neg[ineg : ineg + flat.size - k] = flat[gt]
        ip += k
        ineg += flat.size - k
    if n_total <= SKLEARN_MAX_PIXELS:
        y = np.zeros(n_total, dtype=bool)
        y[:n_pos] = True
        return float(roc_auc_score(y, np.concatenate([pos, neg])))
    return auroc_by_ranks(pos, neg, sort_in_place=True)


def auroc_by_ranks(pos: np.ndarray, neg: np.ndarray, sort_in_place: bool = False) -> float:
    """Exact ROC AUC from anomalous (``pos``) and normal (``neg``) scores.

    AUC = P(pos > neg) + 1/2 P(pos == neg) = sum over pos of (#neg < p + #neg <= p) / 2 divided
    by |pos| |neg|, counted with integers (exact) and divided once at the end.

    Args:
        pos: scores of the positive (anomalous) samples.
        neg: scores of the negative (normal) samples.
        sort_in_place: sort ``neg`` in place instead of sorting a copy (saves its size in memory).

    Returns:
        The ROC AUC.
    """
    if pos.size == 0 or neg.size == 0:
        raise DataError("AUROC needs at least one anomalous and one normal score")
    if sort_in_place:
        neg.sort()
    else:
        neg = np.sort(neg)
    twice_u = 0  # Python int: no overflow
    for start in range(0, pos.size, _CHUNK):
        chunk = pos[start : start + _CHUNK]
        below = np.searchsorted(neg, chunk, side="left")  # neg < p
        at_most = np.searchsorted(neg, chunk, side="right")  # neg <= p
        twice_u += int(below.sum(dtype=np.int64)) + int(at_most.sum(dtype=np.int64))
    return twice_u / (2 * pos.size * neg.size)  # exact int / int, correctly rounded


def _need_both_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0 or n_pos == y.size:
        missing = "anomalous" if n_pos == 0 else "normal"
        raise DataError(f"{what}: no {missing} sample; both classes are needed")

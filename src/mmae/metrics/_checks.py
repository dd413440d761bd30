"""Input validation shared by the metric functions (internal).

Every problem a user can cause raises :class:`mmae.errors.DataError` with one clear line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmae.errors import DataError


def as_real_array(values: object, what: str) -> np.ndarray:
    """``values`` as a numpy array of a real (bool, integer or float) dtype, without copying."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what}: expected real numbers, got dtype {arr.dtype}")
    return arr


def check_finite(arr: np.ndarray, what: str) -> None:
    """Raise if ``arr`` holds NaN or +-inf (min/max propagate NaN, so no boolean temporary)."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    lo, hi = arr.min(), arr.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = "NaN" if np.isnan(lo) or np.isnan(hi) else "an infinite value"
        raise DataError(f"{what} contains {bad}; every value must be finite")


def as_scores(scores: object, what: str = "scores") -> np.ndarray:
    """A 1-D array of finite real scores."""
    arr = as_real_array(scores, what)
    if arr.ndim != 1:
        raise DataError(f"{what}: expected a 1-D sequence, got shape {arr.shape}")
    check_finite(arr, what)
    return arr


def as_labels(labels: object, what: str = "labels") -> np.ndarray:
    """A 1-D bool array from labels that are 0/1 (or bool)."""
    arr = as_real_array(labels, what)
    if arr.ndim != 1:
        raise DataError(f"{what}: expected a 1-D sequence, got shape {arr.shape}")
    if arr.dtype.kind != "b" and arr.size and not np.isin(arr, (0, 1)).all():
        raise DataError(f"{what}: expected 0 (normal) / 1 (anomalous) values")
    return arr.astype(bool, copy=False)


def labels_and_scores(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    """Validated 0/1 labels and finite scores of the same length."""
    y = as_labels(labels)
    s = as_scores(scores)
    if y.shape != s.shape:
        raise DataError(f"labels and scores differ in length: {y.size} labels, {s.size} scores")
    if y.size == 0:
        raise DataError("labels and scores are empty")
    return y, s


def as_image_list(items: object, what: str) -> list[np.ndarray]:
    """A list of 2-D arrays from a sequence of HxW arrays (or one (N, H, W) array).

    Singleton leading axes are dropped, so ``(1, H, W)`` maps are accepted.
    """
    if isinstance(items, np.ndarray):
        if items.ndim == 2:
            raise DataError(f"{what}: expected a sequence of HxW arrays, got one 2-D array")
        seq: Sequence[object] = list(items)
    elif isinstance(items, Sequence) and not isinstance(items, (str, bytes)):
        seq = items
    else:
        raise DataError(f"{what}: expected a sequence of HxW arrays, got {type(items).__name__}")
    out = []
    for i, item in enumerate(seq):
        arr = as_real_array(item, f"{what}[{i}]")
        while arr.ndim > 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2 or arr.size == 0:
            raise DataError(f"{what}[{i}]: expected a non-empty HxW array, got shape {arr.shape}")
        out.append(arr)
    return out

"""Frame-label helpers: interval lists, ``.mat`` variables and length checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from mmae.errors import DataError


def load_mat_variable(path: Path, name: str) -> np.ndarray:
    """Load variable ``name`` from a MATLAB ``.mat`` file; DataError if absent or unreadable."""
    if not path.is_file():
        raise DataError(f"{path}: label file does not exist")
    try:
        data = scipy.io.loadmat(str(path), variable_names=[name])
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) .mat files are not supported; "
                        "re-save with -v7") from None
    except Exception as exc:  # scipy raises many types on corrupt input
        raise DataError(f"{path}: unreadable .mat file ({type(exc).__name__}: {exc})") from None
    if name not in data:
        raise DataError(f"{path}: .mat file has no variable '{name}'")
    return data[name]


def cell_items(cell: np.ndarray, path: Path, name: str) -> list[np.ndarray]:
    """The entries of a MATLAB cell array (1xN, Nx1 or squeezed) in order."""
    arr = np.asarray(cell)
    if arr.dtype != object:
        # A single entry that scipy did not wrap (e.g. squeeze_me=True with N == 1).
        return [arr]
    return [np.asarray(item) for item in arr.reshape(-1)]


def intervals_from_array(entry: np.ndarray) -> list[tuple[int, int]]:
    """``[start; end]`` intervals (1-based, inclusive) from one ``gt`` cell entry.

    Accepts ``2xK`` (one interval per column), ``Kx2``, and a single interval stored as ``(2,)``,
    ``(1, 2)`` or ``(2, 1)``; an empty entry means no anomalous frame.
    """
    arr = np.asarray(entry)
    if arr.dtype == object or not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"expected numbers, got {arr.dtype}")
    if arr.size == 0:
        return []
    if arr.size == 2:
        flat = arr.reshape(-1)
        return [(int(flat[0]), int(flat[1]))]
    if arr.ndim == 2 and arr.shape[0] == 2:
        return [(int(s), int(e)) for s, e in arr.T]
    if arr.ndim == 2 and arr.shape[1] == 2:
        return [(int(s), int(e)) for s, e in arr]
    raise ValueError(f"expected a 2xK array of [start; end] rows, got shape {arr.shape}")


def labels_from_intervals(
    intervals: list[tuple[int, int]], num_frames: int, where: str
) -> np.ndarray:
    """``(T,)`` int8 labels from 1-based inclusive intervals; DataError if out of range."""
    labels = np.zeros(num_frames, dtype=np.int8)
    for start, end in intervals:
        if start < 1 or end < start or end > num_frames:
            raise DataError(
                f"{where}: anomalous interval [{start}:{end}] does not fit a video of "
                f"{num_frames} frames (1-based, inclusive)"
            )
        labels[start - 1 : end] = 1
    return labels


def intervals_from_labels(labels: np.ndarray) -> list[tuple[int, int]]:
    """Inverse of :func:`labels_from_intervals`: 1-based inclusive runs of ones."""
    padded = np.concatenate([[0], (np.asarray(labels) > 0).astype(np.int8), [0]])
    diff = np.diff(padded)
    starts = np.flatnonzero(diff == 1) + 1
    ends = np.flatnonzero(diff == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


def check_length(labels: np.ndarray, num_frames: int, video: Path, label_file: Path) -> None:
    """DataError naming both files if a label vector and a video differ in length."""
    if len(labels) != num_frames:
        raise DataError(
            f"{label_file}: {len(labels)} frame labels but video {video} has {num_frames} frames"
        )


def read_gt_cell(path: Path, num_videos: int, var: str = "gt") -> list[list[tuple[int, int]]]:
    """Per-video interval lists from the ``gt`` cell of a re-packaged ``<ds>.mat`` file."""
    items = cell_items(load_mat_variable(path, var), path, var)
    if len(items) != num_videos:
        raise DataError(
            f"{path}: '{var}' has {len(items)} entries but there are {num_videos} test videos"
        )
    out = []
    for k, item in enumerate(items):
        try:
            out.append(intervals_from_array(item))
        except ValueError as exc:
            raise DataError(f"{path}: entry {k + 1} of '{var}': {exc}") from None
    return out

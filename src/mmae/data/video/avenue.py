"""CUHK Avenue in the original layout.

``training_videos/01.avi``, ``testing_videos/01.avi`` (decoded with OpenCV, converted to
grayscale) and pixel masks ``ground_truth_demo/testing_label_mask/1_label.mat`` (not zero-padded)
holding ``volLabel``, a 1xT cell of masks.

Label sources: ``"avenue_volLabel"`` (default: a frame is anomalous if its mask has a pixel > 0)
and ``"avenue_hasan_mat"`` (the Hasan et al. frame labels: the ``gt`` cell of a re-packaged
``avenue.mat`` found in the dataset folder or its parent; pass the path of the ``.mat`` file as
``label_source`` to use another one). The two disagree in 15 of 21 videos; results record which
one was used.

Frame counts come from the AVI header; when a header disagrees with the labels the video is read
through to count its frames, and a remaining mismatch is a DataError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmae.data.video.files import (
    VIDEO_EXTENSIONS,
    count_video_frames,
    find_child,
    list_files,
    natural_key,
    video_header_count,
)
from mmae.data.video.labels import (
    cell_items,
    labels_from_intervals,
    load_mat_variable,
    read_gt_cell,
)
from mmae.data.video.records import SplitScan, VideoRecord
from mmae.errors import DataError

LAYOUT = "avenue"
LABEL_SOURCES = ("avenue_volLabel", "avenue_hasan_mat")


def detect(root: Path) -> bool:
    """True if ``root`` holds ``training_videos`` or ``testing_videos``."""
    return any(
        (c := find_child(root, n)) is not None and c.is_dir()
        for n in ("training_videos", "testing_videos")
    )


def _key(stem: str) -> str:
    """Matching key of a video or label-file stem: ``'01'`` and ``'1'`` both give ``'1'``."""
    return stem.lstrip("0") or "0"


def mask_files_by_video(root: Path) -> dict[str, Path]:
    """``{video key: N_label.mat}`` from ``ground_truth_demo/testing_label_mask``."""
    gt = find_child(root, "ground_truth_demo")
    folder = find_child(gt, "testing_label_mask") if gt is not None else None
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for p in list_files(folder, frozenset({".mat"})):
        if p.stem.endswith("_label"):
            out[_key(p.stem[: -len("_label")])] = p
    return out


def find_hasan_mat(root: Path) -> Path | None:
    """A re-packaged ``avenue.mat`` next to or above the dataset folder."""
    for folder in (root, root / "avenue", root.parent):
        candidate = find_child(folder, "avenue.mat") if folder.is_dir() else None
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def volume_labels(mat: Path) -> tuple[np.ndarray, int]:
    """Frame labels from a ``volLabel`` mask file: ``(labels, num_masks)``."""
    items = cell_items(load_mat_variable(mat, "volLabel"), mat, "volLabel")
    labels = np.zeros(len(items), dtype=np.int8)
    for t, mask in enumerate(items):
        numeric = mask.dtype == bool or np.issubdtype(mask.dtype, np.number)
        if mask.dtype == object or (mask.size and not numeric):
            raise DataError(f"{mat}: volLabel entry {t + 1} is not a numeric mask")
        labels[t] = int(mask.size > 0 and bool((mask > 0).any()))
    return labels, len(items)


def load_volume_masks(mat: Path) -> np.ndarray:
    """All masks of a ``volLabel`` file as bool ``(T, H, W)``."""
    items = cell_items(load_mat_variable(mat, "volLabel"), mat, "volLabel")
    shapes = {m.shape for m in items}
    if len(shapes) != 1:
        raise DataError(f"{mat}: volLabel masks have different sizes {sorted(shapes)}")
    return np.stack([m > 0 for m in items], axis=0)


def _resolve_count(video: Path, header: int, expected: int, label_file: Path) -> tuple[int, str]:
    """Frame count of ``video`` checked against ``expected`` label entries."""
    if header == expected:
        return header, "header"
    decoded = count_video_frames(video)
    if decoded != expected:
        raise DataError(
            f"{label_file}: {expected} frame labels but video {video} has {decoded} frames"
        )
    return decoded, "decoded"


def scan(root: Path, split: str, label_source: str | None = None) -> SplitScan:
    """Scan the ``train`` or ``test`` split of an Avenue folder."""
    folder = find_child(root, "training_videos" if split == "train" else "testing_videos")
    if folder is None or not folder.is_dir():
        raise DataError(f"{root}: no '{split}ing_videos' folder")
    files = list_files(folder, VIDEO_EXTENSIONS)
    if not files:
        raise DataError(f"{folder}: no video files (.avi)")
    if split == "train":
        videos = [
            VideoRecord(p.stem, video_header_count(p), None, p, None, frames_from="header")
            for p in files
        ]
        return SplitScan(LAYOUT, None, videos)

    masks = mask_files_by_video(root)
    hasan_path: Path | None = None
    source = label_source
    if source is not None and source.lower().endswith(".mat"):
        hasan_path, source = Path(source), "avenue_hasan_mat"
    if source is None:
        source = "avenue_volLabel" if masks or find_hasan_mat(root) is None else "avenue_hasan_mat"
    if source not in LABEL_SOURCES:
        raise DataError(
            f"{root}: label_source '{source}' is not one of {', '.join(LABEL_SOURCES)} "
            "or a path to avenue.mat"
        )
    intervals = None
    if source == "avenue_hasan_mat":
        hasan_path = hasan_path or find_hasan_mat(root)
        if hasan_path is None:
            raise DataError(f"{root}: no avenue.mat (Hasan frame labels) in or next to this folder")
        intervals = read_gt_cell(hasan_path, len(files))
    videos = []
    for k, p in enumerate(sorted(files, key=lambda f: natural_key(f.name))):
        mask = masks.get(_key(p.stem))
        header = video_header_count(p)
        if intervals is not None:
            count, how = header, "header"
            if intervals[k] and max(e for _, e in intervals[k]) > header:
                count, how = count_video_frames(p), "decoded"
            labels = labels_from_intervals(intervals[k], count, f"{hasan_path} (video {p.stem})")
        else:
            if mask is None:
                expected = (find_child(root, "ground_truth_demo") or root / "ground_truth_demo")
                raise DataError(
                    f"{expected / 'testing_label_mask' / (_key(p.stem) + '_label.mat')}: "
                    f"missing volLabel file for test video {p.name}"
                )
            labels, n_masks = volume_labels(mask)
            count, how = _resolve_count(p, header, n_masks, mask)
        videos.append(VideoRecord(
            p.stem, count, labels, p, None, frames_from=how,
            mask_kind="volLabel_mat" if mask is not None else None, mask_path=mask,
        ))
    return SplitScan(LAYOUT, source, videos)

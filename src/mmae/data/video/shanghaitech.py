"""ShanghaiTech Campus in the original layout.

``training/videos/01_001.avi`` (decoded in order, no fps change; a ``training/frames/<video>/``
folder is accepted instead), ``testing/frames/01_0014/000.jpg``, frame labels
``testing/test_frame_mask/<video>.npy`` ``(T,)`` and pixel masks
``testing/test_pixel_mask/<video>.npy`` ``(T, H, W)``. Label source: ``"shanghaitech_npy"``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmae.data.files import read_npy
from mmae.data.video.files import (
    VIDEO_EXTENSIONS,
    find_child,
    list_dirs,
    list_files,
    list_frame_files,
    video_header_count,
)
from mmae.data.video.labels import check_length
from mmae.data.video.records import SplitScan, VideoRecord
from mmae.errors import DataError

LAYOUT = "shanghaitech"
LABEL_SOURCES = ("shanghaitech_npy",)


def _sub(root: Path, *names: str) -> Path | None:
    folder: Path | None = root
    for name in names:
        folder = find_child(folder, name) if folder is not None else None
    return folder if folder is not None and folder.exists() else None


def detect(root: Path) -> bool:
    """True if ``root`` has ``training/videos`` or ``testing/test_frame_mask``."""
    return _sub(root, "training", "videos") is not None or (
        _sub(root, "testing", "test_frame_mask") is not None
    )


def _train(root: Path) -> list[VideoRecord]:
    videos_dir = _sub(root, "training", "videos")
    if videos_dir is not None:
        files = list_files(videos_dir, VIDEO_EXTENSIONS)
        if not files:
            raise DataError(f"{videos_dir}: no video files (.avi)")
        return [
            VideoRecord(p.stem, video_header_count(p), None, p, None, frames_from="header")
            for p in files
        ]
    frames_dir = _sub(root, "training", "frames")
    if frames_dir is None:
        raise DataError(f"{root}: no 'training/videos' folder")
    out = []
    for d in list_dirs(frames_dir):
        files = list_frame_files(d)
        out.append(VideoRecord(d.name, len(files), None, d, files))
    if not out:
        raise DataError(f"{frames_dir}: no video folders")
    return out


def scan(root: Path, split: str, label_source: str | None = None) -> SplitScan:
    """Scan the ``train`` or ``test`` split of a ShanghaiTech folder."""
    if label_source not in (None, *LABEL_SOURCES):
        raise DataError(f"{root}: label_source '{label_source}' is not 'shanghaitech_npy'")
    if split == "train":
        return SplitScan(LAYOUT, None, _train(root))
    frames_dir = _sub(root, "testing", "frames")
    labels_dir = _sub(root, "testing", "test_frame_mask")
    if frames_dir is None:
        raise DataError(f"{root}: no 'testing/frames' folder")
    if labels_dir is None:
        raise DataError(f"{root}: no 'testing/test_frame_mask' folder")
    pixel_dir = _sub(root, "testing", "test_pixel_mask")
    dirs = list_dirs(frames_dir)
    if not dirs:
        raise DataError(f"{frames_dir}: no video folders")
    videos = []
    for d in dirs:
        files = list_frame_files(d)
        label_file = labels_dir / f"{d.name}.npy"
        if not label_file.is_file():
            raise DataError(f"{label_file}: missing frame labels for test video {d.name}")
        raw = read_npy(label_file)
        if raw.ndim != 1 or not (raw.dtype == bool or np.issubdtype(raw.dtype, np.number)):
            raise DataError(f"{label_file}: expected a 1-D numeric array, got {raw.dtype} "
                            f"{raw.shape}")
        labels = (raw > 0).astype(np.int8)
        check_length(labels, len(files), d, label_file)
        pixel = pixel_dir / f"{d.name}.npy" if pixel_dir is not None else None
        has_pixel = pixel is not None and pixel.is_file()
        videos.append(VideoRecord(
            d.name, len(files), labels, d, files,
            mask_kind="npy" if has_pixel else None, mask_path=pixel if has_pixel else None,
        ))
    return SplitScan(LAYOUT, "shanghaitech_npy", videos)

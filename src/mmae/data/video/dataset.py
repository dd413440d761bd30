"""``VideoDataset``: the videos of one split, decoded once and cached."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import warnings
from pathlib import Path

import numpy as np

from mmae.data.files import load_npy, save_npy
from mmae.data.video.files import decode_video, read_frames
from mmae.data.video.layouts import check_root, normalize_split, resolve_layout, scan_split
from mmae.data.video.masks import load_masks
from mmae.data.video.records import VideoRecord
from mmae.errors import ConfigError, DataError

_CACHE_VERSION = "1"


class VideoDataset:
    """The videos of one split of a video dataset.

    Frames are decoded (or read) on first use, converted to uint8 grayscale, resized to
    ``frame_size`` and kept in memory; with ``cache_dir`` they are also written there as ``.npy``
    (keyed by source path, size, modification time and frame size) and memory-mapped, so no video
    is ever decoded twice, even across runs.

    Attributes:
        root: Dataset folder.
        split: ``"train"`` or ``"test"``.
        layout: ``"ucsd"``, ``"avenue"``, ``"shanghaitech"`` or ``"frames"``.
        label_source: Where test labels came from (e.g. ``"ucsd_m_file"``); None for train.
        videos: One :class:`VideoRecord` per video, in sorted order.
        frame_size: ``(H, W)`` frames are resized to, or None for the native size.
    """

    def __init__(
        self,
        root: Path,
        split: str,
        layout: str,
        label_source: str | None,
        videos: list[VideoRecord],
        frame_size: tuple[int, int] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.split = split
        self.layout = layout
        self.label_source = label_source
        self.videos = list(videos)
        self.frame_size = frame_size
        self.cache_dir = cache_dir
        self._frames: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.videos)

    def __repr__(self) -> str:
        return (f"VideoDataset(root={str(self.root)!r}, split={self.split!r}, "
                f"layout={self.layout!r}, label_source={self.label_source!r}, "
                f"videos={len(self.videos)}, frames={self.total_frames})")

    @property
    def total_frames(self) -> int:
        """Sum of the frame counts of all videos."""
        return sum(v.num_frames for v in self.videos)

    def labels(self, i: int) -> np.ndarray | None:
        """``(T,)`` int8 frame labels of video ``i`` (None for unlabelled videos)."""
        return self.videos[i].labels

    def frames(self, i: int) -> np.ndarray:
        """uint8 grayscale frames ``(T, H, W)`` of video ``i`` (read-only, cached)."""
        cached = self._frames.get(i)
        if cached is not None:
            return cached
        record = self.videos[i]
        arr = self._load_disk_cache(record)
        if arr is None:
            arr = self._save_disk_cache(record, self._check_count(i, self._decode(record)))
        else:
            arr = self._check_count(i, arr)
        arr.flags.writeable = False
        self._frames[i] = arr
        return arr

    def masks(self, i: int) -> np.ndarray | None:
        """Bool pixel masks ``(T, H0, W0)`` at their own resolution, or None if unavailable."""
        return load_masks(self.videos[i])

    def _decode(self, record: VideoRecord) -> np.ndarray:
        if record.frame_files is not None:
            return read_frames(record.frame_files, self.frame_size)
        return decode_video(record.source, self.frame_size)

    def _check_count(self, i: int, arr: np.ndarray) -> np.ndarray:
        record = self.videos[i]
        if len(arr) == record.num_frames:
            return arr
        if record.labels is not None:
            raise DataError(
                f"{record.source}: decoded {len(arr)} frames but its labels ({self.label_source}) "
                f"have {record.num_frames}"
            )
        warnings.warn(
            f"{record.source}: container announced {record.num_frames} frames, decoded "
            f"{len(arr)}; using the decoded count",
            stacklevel=3,
        )
        self.videos[i] = dataclasses.replace(record, num_frames=len(arr), frames_from="decoded")
        return arr

    def _cache_path(self, record: VideoRecord) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256()
        digest.update(f"{_CACHE_VERSION}|{record.source.resolve()}|{self.frame_size}".encode())
        for p in record.frame_files or (record.source,):
            st = p.stat()
            digest.update(f"|{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", record.name)
        return self.cache_dir / f"{self.layout}-{self.split}-{safe}-{digest.hexdigest()[:16]}.npy"

    def _load_disk_cache(self, record: VideoRecord) -> np.ndarray | None:
        path = self._cache_path(record)
        if path is None or not path.is_file():
            return None
        arr = load_npy(path, mmap=True)
        if arr is None:
            return None
        ok_size = self.frame_size is None or arr.shape[1:] == tuple(self.frame_size)
        if arr.dtype != np.uint8 or arr.ndim != 3 or not ok_size:
            return None
        if record.labels is not None and len(arr) != record.num_frames:
            return None
        return arr

    def _save_disk_cache(self, record: VideoRecord, arr: np.ndarray) -> np.ndarray:
        path = self._cache_path(record)
        if path is None:
            return arr
        save_npy(path, arr)
        return load_npy(path, mmap=True)


def _check_frame_size(frame_size: tuple[int, int] | None) -> tuple[int, int] | None:
    if frame_size is None:
        return None
    try:
        h, w = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise ConfigError(f"frame_size must be (H, W) or None, got {frame_size!r}") from None
    if h < 1 or w < 1:
        raise ConfigError(f"frame_size must be positive, got {frame_size!r}")
    return h, w


def open_video_dataset(
    root: str | Path,
    split: str,
    layout: str = "auto",
    label_source: str | None = None,
    frame_size: tuple[int, int] | None = None,
    cache_dir: str | Path | None = None,
) -> VideoDataset:
    """Open one split of a video dataset folder.

    Args:
        root: The dataset's own folder (``UCSDped2``, the Avenue folder holding
            ``training_videos``, the ``shanghaitech`` folder, or ``<ds>`` of the frames layout).
        split: ``"train"`` or ``"test"``.
        layout: ``"auto"`` (detect from the folder), ``"ucsd"``, ``"avenue"``,
            ``"shanghaitech"`` or ``"frames"``.
        label_source: Test label source (see ``LABEL_SOURCES``) or a ``.mat`` path; None picks
            the layout's default.
        frame_size: ``(H, W)`` to resize frames to; None keeps the native size.
        cache_dir: Folder for decoded-frame ``.npy`` files; None caches in memory only.

    Returns:
        The :class:`VideoDataset`; frame counts and labels are checked, frames not yet decoded.

    Raises:
        DataError: missing folder, unknown layout, unreadable or inconsistent files.
    """
    path = check_root(root)
    split_name = normalize_split(split)
    resolved = resolve_layout(path, layout)
    scan = scan_split(path, split_name, resolved, label_source)
    return VideoDataset(
        path, split_name, scan.layout, scan.label_source, scan.videos,
        frame_size=_check_frame_size(frame_size),
        cache_dir=Path(cache_dir).expanduser() if cache_dir is not None else None,
    )

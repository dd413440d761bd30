"""Video records: what a loader found for one video, before anything is decoded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class VideoRecord:
    """One video of a split.

    Attributes:
        name: Video name (folder or file stem, e.g. ``"Test001"``, ``"01"``, ``"01_0014"``).
        num_frames: Frame count (from the files, the container header, or decoding).
        labels: ``(T,)`` int8 frame labels (1 anomalous) for test videos with labels, else None.
        source: Folder of frame images, or the video file.
        frame_files: Sorted frame files when ``source`` is a folder; None for a video file.
        frames_from: How ``num_frames`` was obtained: ``"files"``, ``"header"`` or ``"decoded"``.
        mask_kind: Pixel-mask format (``"image_files"``, ``"volLabel_mat"``, ``"npy"``) or None.
        mask_path: Mask folder or file, or None.
        mask_files: Sorted mask images for ``mask_kind == "image_files"``.
    """

    name: str
    num_frames: int
    labels: np.ndarray | None
    source: Path
    frame_files: tuple[Path, ...] | None = None
    frames_from: str = "files"
    mask_kind: str | None = None
    mask_path: Path | None = None
    mask_files: tuple[Path, ...] | None = field(default=None, repr=False)

    @property
    def anomalous_frames(self) -> int | None:
        """Number of frames labelled anomalous, or None without labels."""
        return None if self.labels is None else int(np.count_nonzero(self.labels))


@dataclass(frozen=True)
class SplitScan:
    """Result of scanning one split of a dataset folder."""

    layout: str
    label_source: str | None
    videos: list[VideoRecord]

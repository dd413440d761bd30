"""Size limits on videos to score: pixels per frame and number of frames.

The container header is checked before anything is decoded (:func:`check_video_header`); the
decoded stream is checked again frame by frame (:func:`limit_frames`), because a header can be
wrong. Frames are decoded one at a time, so a video within the limits needs the memory of a few
frames, whatever its length.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from mmae.data.image_decode import check_pixels
from mmae.data.image_io import read_image_info
from mmae.errors import DataError, LimitError

#: Default cap on the frames of one uploaded video (``mmae serve --max-frames``): 10,000 frames,
#: 6 min 40 s at 25 frames per second.
DEFAULT_MAX_FRAMES = 10_000


def video_header(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """``(frame count, height, width)`` a video container announces (0 where it gives none).

    Raises:
        DataError: OpenCV cannot open the file.
    """
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: unreadable video (OpenCV cannot open it)")
        return (max(0, int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))),
                int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
    finally:
        cap.release()


def check_frame_count(name: str | os.PathLike[str], count: int, max_frames: int | None) -> None:
    """Raise :class:`LimitError` naming ``name`` if ``count > max_frames``."""
    if max_frames is not None and count > max_frames:
        raise LimitError(f"{name}: more than {max_frames:,} frames (--max-frames)")


def check_video_header(path: str | os.PathLike[str], max_pixels: int | None,
                       max_frames: int | None = None, name: str | None = None) -> None:
    """Check a video file's announced frame size and count before decoding it.

    Raises:
        LimitError: over ``max_pixels`` per frame or ``max_frames`` frames.
        DataError: OpenCV cannot open the file.
    """
    count, h, w = video_header(path)
    check_pixels(name or path, h, w, max_pixels)
    check_frame_count(name or path, count, max_frames)


def check_frame_files(files: Iterable[Path], max_pixels: int | None,
                      max_frames: int | None = None, name: str | None = None) -> None:
    """Check a folder of frame images from the headers of its files (nothing is decoded)."""
    files = list(files)
    check_frame_count(name or (files[0].parent if files else "frames"), len(files), max_frames)
    if max_pixels is not None:
        for f in files:
            h, w, _ = read_image_info(f)
            check_pixels(f, h, w, max_pixels)


def limit_frames(frames: Iterable[np.ndarray], name: str | os.PathLike[str],
                 max_pixels: int | None, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Pass decoded frames through, raising :class:`LimitError` at the first one over a limit."""
    for t, frame in enumerate(frames):
        check_frame_count(name, t + 1, max_frames)
        check_pixels(name, frame.shape[0], frame.shape[1], max_pixels)
        yield frame

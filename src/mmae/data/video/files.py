"""File-system helpers shared by the video loaders: listing, sorting and decoding.

Rules (see ``docs/architecture.md``, video data contract): junk files (``.DS_Store``, ``._*``,
``*~``, ``Thumbs.db``, non-image files) are ignored, frame files are sorted numerically
("natural" order, so ``2.jpg`` < ``10.jpg`` < ``1000.jpg``), and no frame index is ever derived
from a file name beyond sorting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mmae.data.files import is_junk
from mmae.errors import DataError

IMAGE_EXTENSIONS = frozenset({".tif", ".tiff", ".jpg", ".jpeg", ".png", ".bmp"})
VIDEO_EXTENSIONS = frozenset({".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v"})
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically (``'2.jpg'`` before ``'10.jpg'``)."""
    parts = _DIGITS.split(name)
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p.lower()) for p in parts)


def list_files(folder: Path, extensions: frozenset[str]) -> list[Path]:
    """Non-junk files of ``folder`` with one of ``extensions``, naturally sorted."""
    files = [
        p for p in folder.iterdir()
        if p.suffix.lower() in extensions and not is_junk(p) and p.is_file()
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def list_dirs(folder: Path) -> list[Path]:
    """Non-junk sub-folders of ``folder``, naturally sorted."""
    dirs = [p for p in folder.iterdir() if p.is_dir() and not is_junk(p)]
    return sorted(dirs, key=lambda p: natural_key(p.name))


def find_child(folder: Path, name: str) -> Path | None:
    """The child of ``folder`` called ``name``, compared case-insensitively, or None."""
    exact = folder / name
    if exact.exists():
        return exact
    if not folder.is_dir():
        return None
    for child in folder.iterdir():
        if child.name.lower() == name.lower() and not is_junk(child):
            return child
    return None


def list_frame_files(folder: Path) -> tuple[Path, ...]:
    """Image frames of a video folder in numeric order; DataError if there is none."""
    if not folder.is_dir():
        raise DataError(f"{folder}: frame folder does not exist")
    files = list_files(folder, IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"{folder}: no image frames (.tif/.jpg/.png/.bmp) in this folder")
    return tuple(files)


def read_gray(path: Path) -> np.ndarray:
    """Read one image as uint8 grayscale ``(H, W)``; DataError if unreadable or truncated."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.float64)
                top = max(float(arr.max()), 1.0)
                return np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: unreadable or truncated image ({exc})") from None


def resize_gray(frame: np.ndarray, frame_size: tuple[int, int] | None) -> np.ndarray:
    """Resize a uint8 ``(H, W)`` frame to ``frame_size`` ``(H, W)`` (area interpolation)."""
    if frame_size is None or frame.shape == tuple(frame_size):
        return frame
    h, w = frame_size
    interp = cv2.INTER_AREA if h <= frame.shape[0] and w <= frame.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(frame, (int(w), int(h)), interpolation=interp)


def video_properties(path: Path) -> tuple[int, float] | None:
    """``(frame count, frames per second)`` a video container announces (0 where it gives
    none), or None when OpenCV cannot open the file. Cheap: nothing is decoded."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None
        return int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT))), float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()


def video_header_count(path: Path) -> int:
    """Frame count announced by a video container (cheap; verified when the video is decoded).

    OpenCV reads it from the container (for AVI the header/index). It can be wrong for some
    codecs or damaged files, so loaders use it only for describing and for a first consistency
    check; the decoded frame count is always the final word.
    """
    props = video_properties(path)
    if props is None:
        raise DataError(f"{path}: unreadable video (OpenCV cannot open it)")
    if props[0] <= 0:
        raise DataError(f"{path}: unreadable video (no frame count in the container)")
    return props[0]


def iter_video_frames(path: Path, gray: bool = False) -> Iterator[np.ndarray]:
    """The frames of a video file in order, decoded one at a time (bounded memory).

    Args:
        path: A file OpenCV decodes.
        gray: uint8 ``(H, W)`` grayscale frames; else uint8 RGB ``(H, W, 3)``.

    Raises:
        DataError: the file cannot be opened or holds no frame.
    """
    cap = cv2.VideoCapture(str(path))
    got = 0
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: unreadable video (OpenCV cannot open it)")
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            got += 1
            if frame.ndim == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if gray else cv2.COLOR_BGR2RGB)
            yield frame
    finally:
        cap.release()
    if got == 0:
        raise DataError(f"{path}: unreadable video (no frame could be decoded)")


def count_video_frames(path: Path) -> int:
    """Count the frames of a video by reading it through (no frame is kept in memory)."""
    cap = cv2.VideoCapture(str(path))
    count = 0
    try:
        if not cap.isOpened():
            raise DataError(f"{path}: unreadable video (OpenCV cannot open it)")
        while cap.grab():
            count += 1
    finally:
        cap.release()
    if count == 0:
        raise DataError(f"{path}: unreadable video (no frame could be decoded)")
    return count


def decode_video(path: Path, frame_size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode every frame of a video in order to uint8 grayscale ``(T, H, W)``.

    Raises:
        DataError: the file cannot be opened, holds no frame, or decodes fewer frames than its
            container announces (a truncated or corrupt file).
    """
    if not path.is_file():
        raise DataError(f"{path}: video file does not exist")
    props = video_properties(path)
    announced = props[0] if props is not None else 0
    frames = [resize_gray(np.ascontiguousarray(f, dtype=np.uint8), frame_size)
              for f in iter_video_frames(path, gray=True)]
    if announced > 0 and len(frames) < announced:
        raise DataError(
            f"{path}: truncated or corrupt video (decoded {len(frames)} of {announced} frames)"
        )
    return stack_frames(frames, path)


def read_frames(files: tuple[Path, ...], frame_size: tuple[int, int] | None) -> np.ndarray:
    """Read a sequence of image frames to uint8 grayscale ``(T, H, W)``."""
    frames = [resize_gray(read_gray(p), frame_size) for p in files]
    return stack_frames(frames, files[0].parent if files else Path("."))


def stack_frames(frames: list[np.ndarray], source: Path) -> np.ndarray:
    """Stack equally sized frames; DataError naming ``source`` if sizes differ."""
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise DataError(
            f"{source}: frames have different sizes {sorted(shapes)}; pass frame_size to resize"
        )
    return np.stack(frames, axis=0)

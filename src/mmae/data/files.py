"""Shared file helpers: junk-file names, the atomic writer, ``.npy`` files and the decode cache.

Every data folder reader and every writer of run files uses these, so the rules are the same
everywhere: junk is hidden files, macOS AppleDouble files (``._x``), editor backups (``x~``) and
OS metadata (``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, ``__MACOSX``); a file is written to a
temporary name in its folder, fsynced and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mmae.errors import DataError

JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "__macosx"})


def is_junk(path: str | os.PathLike[str]) -> bool:
    """True for hidden files, macOS resource forks, editor backups and OS metadata."""
    name = os.path.basename(os.fspath(path))
    return not name or name.startswith(".") or name.endswith("~") or name.lower() in JUNK_NAMES


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], Any]) -> None:
    """Create ``path`` atomically: ``write(fh)`` fills a temporary file in the same folder, which
    is fsynced and renamed over ``path``; on failure the temporary file is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync and rename."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode())


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write one array as ``.npy`` atomically (no pickles), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_npy(path: str | os.PathLike[str], mmap: bool = False) -> np.ndarray | None:
    """A cached ``.npy`` array (memory-mapped with ``mmap``), or None if missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def read_npy(path: str | os.PathLike[str], mmap: bool = False) -> np.ndarray:
    """A dataset's ``.npy`` file (no pickles); DataError naming the file on any failure."""
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: unreadable .npy file ({exc})") from None

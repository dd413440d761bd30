"""An exclusive lock on a run folder, so that two processes never write one run.

The lock is an OS advisory lock (``fcntl.flock``) on ``RUN/.lock``: the kernel drops it when the
process that holds it ends, however it ends, so a killed training never leaves a lock that blocks
``--resume``. The file itself stays; it only records who held the lock last (pid, host, command).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

from mmae.errors import RunFolderError

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"pid {info['pid']} on {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


class RunLock:
    """Context manager holding the exclusive lock of a run folder.

    Args:
        folder: The run folder (must exist).
        enabled: False makes this a no-op (e.g. on non-main ranks of a distributed run).

    Raises:
        RunFolderError: another live process holds the lock (one line naming it).
    """

    def __init__(self, folder: str | os.PathLike[str], enabled: bool = True) -> None:
        self.path = Path(folder) / LOCK
        self.enabled = enabled and fcntl is not None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunFolderError` at once (never waits)."""
        if not self.enabled or self._fd is not None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunFolderError(
                f"run folder {self.path.parent} is being written by {_holder(self.path)}; "
                f"wait for it to finish or choose another --out") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": sys.argv[:4]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the kernel also drops it when the process ends)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def is_locked(folder: str | os.PathLike[str]) -> bool:
    """Whether a live process holds the lock of ``folder`` right now."""
    path = Path(folder) / LOCK
    if fcntl is None or not path.is_file():
        return False
    try:
        with RunLock(folder):
            return False
    except RunFolderError:
        return True

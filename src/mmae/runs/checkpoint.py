"""Checkpoint files and output folders.

A run folder (:class:`mmae.runs.run.Run`) holds ``checkpoint.pt`` (a plain dict of tensors and
Python scalars), ``config.yaml``, ``train_log.jsonl`` and ``thresholds.json``. Checkpoints are
written atomically (temporary file, fsync, rename) and loaded with
``torch.load(weights_only=True)``: a file carrying arbitrary pickled objects is refused and nothing
in it runs.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from mmae.data.files import atomic_write, atomic_write_bytes, atomic_write_text
from mmae.errors import CheckpointError, RunFolderError
from mmae.runs.lock import LOCK, is_locked

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
THRESHOLDS = "thresholds.json"
LOG = "train_log.jsonl"
POSTPROCESS = "postprocess.pt"
__all__ = ["CHECKPOINT", "CONFIG", "LOG", "THRESHOLDS", "atomic_write", "atomic_write_bytes",
           "atomic_write_text", "load_checkpoint", "output_folder", "prepare_out_dir",
           "save_checkpoint"]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomically save a plain checkpoint dict (tensors, numbers, strings, lists, dicts).

    ``torch.save`` streams into the temporary file: no second copy of the state in memory.
    """
    atomic_write(Path(path), lambda fh: torch.save(state, fh))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``).

    Raises:
        CheckpointError: missing, truncated, or carrying objects other than plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise CheckpointError(
            f"checkpoint {path} is refused: it carries objects other than tensors and plain "
            f"data ({first[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({exc})"[:300]) from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} is not an mmae checkpoint (no 'model' entry)")
    return state


def prepare_out_dir(path: Path, overwrite: bool, what: str = "run folder") -> Path:
    """Create an output folder; refuse a non-empty one unless ``overwrite``.

    With ``overwrite`` the old folder is moved aside only after the new run could start, never
    deleted before: it is renamed to ``<name>.old`` (replacing an older ``.old``).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{what} {path} exists and is not a folder")
    if path.is_dir() and is_locked(path):
        raise RunFolderError(f"{what} {path} is being written by another process; wait for it "
                             f"to finish or choose another --out")
    if path.is_dir() and not _empty(path):
        if not overwrite:
            raise RunFolderError(
                f"{what} {path} already exists and is not empty; choose another --out, "
                f"pass --overwrite, or --resume to continue a run"
            )
        backup = path.with_name(path.name + ".old")
        if backup.exists():
            shutil.rmtree(backup)
        path.rename(backup)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _empty(path: Path) -> bool:
    """No entries but possibly the writer's lock file."""
    return all(p.name == LOCK for p in path.iterdir())


@contextlib.contextmanager
def output_folder(path: Path, overwrite: bool, what: str = "run folder") -> Iterator[Path]:
    """:func:`prepare_out_dir` for the duration of a command that may fail.

    If the command raises while the new folder is still empty, the folder is removed and an old
    one moved aside by ``overwrite`` is put back: a failed command leaves things as they were.
    """
    path = Path(path)
    existed = path.is_dir()
    backup = path.with_name(path.name + ".old")
    moved = overwrite and existed and not _empty(path)
    out = prepare_out_dir(path, overwrite, what)
    try:
        yield out
    except BaseException:
        if out.is_dir() and _empty(out) and not is_locked(out):  # never another writer's
            (out / LOCK).unlink(missing_ok=True)
            if moved and backup.is_dir():
                out.rmdir()
                backup.rename(path)
            elif not existed:
                out.rmdir()
        raise

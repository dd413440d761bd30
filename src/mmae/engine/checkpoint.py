"""Run folders and checkpoints.

A run folder holds ``checkpoint.pt`` (a plain dict of tensors and Python scalars), ``config.yaml``
(the resolved :class:`~mmae.engine.config.RunConfig`), ``train_log.jsonl`` and ``thresholds.json``.
Checkpoints are written atomically (temporary file, fsync, rename) and loaded with
``torch.load(weights_only=True)``: a file carrying arbitrary pickled objects is refused and nothing
in it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import torch
import yaml

from mmae.engine.config import RunConfig
from mmae.errors import CheckpointError, ConfigError, RunFolderError

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
THRESHOLDS = "thresholds.json"
LOG = "train_log.jsonl"


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Text version of :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode())


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
    if path.is_dir() and any(path.iterdir()):
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


@contextlib.contextmanager
def output_folder(path: Path, overwrite: bool, what: str = "run folder") -> Iterator[Path]:
    """:func:`prepare_out_dir` for the duration of a command that may fail.

    If the command raises while the new folder is still empty, the folder is removed and an old
    one moved aside by ``overwrite`` is put back: a failed command leaves things as they were.
    """
    path = Path(path)
    existed = path.is_dir()
    backup = path.with_name(path.name + ".old")
    moved = overwrite and existed and any(path.iterdir())
    out = prepare_out_dir(path, overwrite, what)
    try:
        yield out
    except BaseException:
        if out.is_dir() and not any(out.iterdir()):
            if moved and backup.is_dir():
                out.rmdir()
                backup.rename(path)
            elif not existed:
                out.rmdir()
        raise


def save_config(run: Path, cfg: RunConfig) -> None:
    """Write the resolved config beside the checkpoint."""
    atomic_write_text(Path(run) / CONFIG, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def load_config(run: Path) -> RunConfig:
    """Read a run's resolved config."""
    path = Path(run) / CONFIG
    if not Path(run).is_dir():
        raise RunFolderError(f"run folder {run} does not exist")
    if not path.is_file():
        raise RunFolderError(f"{run} is not a run folder (no {CONFIG})")
    try:
        data = yaml.safe_load(path.read_text())
        return RunConfig.from_dict(data)
    except (yaml.YAMLError, TypeError, ConfigError) as exc:
        raise RunFolderError(f"{path} is not a valid run config ({exc})") from None


def save_thresholds(run: Path, thresholds: dict[str, Any]) -> None:
    """Merge ``thresholds`` into ``run/thresholds.json``."""
    path = Path(run) / THRESHOLDS
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(thresholds)
    atomic_write_text(path, json.dumps(current, indent=2))


def load_thresholds(run: Path) -> dict[str, Any]:
    """The thresholds stored in a run (empty if none)."""
    path = Path(run) / THRESHOLDS
    return json.loads(path.read_text()) if path.is_file() else {}

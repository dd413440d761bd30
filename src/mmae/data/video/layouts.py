"""Layout registry: detect a dataset folder's layout and scan a split with the right loader."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from mmae.data.video import avenue, frames_layout, shanghaitech, ucsd
from mmae.data.video.files import list_dirs
from mmae.data.video.records import SplitScan
from mmae.errors import DataError

# Detection order matters: ShanghaiTech also has ``testing/frames``.
_LOADERS: dict[str, ModuleType] = {
    "ucsd": ucsd,
    "avenue": avenue,
    "shanghaitech": shanghaitech,
    "frames": frames_layout,
}
LAYOUTS: tuple[str, ...] = tuple(_LOADERS)
LABEL_SOURCES: dict[str, tuple[str, ...]] = {k: m.LABEL_SOURCES for k, m in _LOADERS.items()}
SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test"}


def check_root(root: str | Path) -> Path:
    """``root`` as a Path; DataError if it is missing or not a folder."""
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"{path}: dataset folder does not exist")
    if not path.is_dir():
        raise DataError(f"{path}: not a folder (point at the dataset's own folder)")
    return path


def detect_video_layout(root: str | Path) -> str | None:
    """Name of the video layout of ``root`` (``"ucsd"``, ``"avenue"``, ...) or None."""
    path = Path(root).expanduser()
    if not path.is_dir():
        return None
    for name, module in _LOADERS.items():
        detect: Callable[[Path], bool] = module.detect
        if detect(path):
            return name
    return None


def resolve_layout(root: Path, layout: str) -> str:
    """Validate an explicit layout name or detect it for ``layout="auto"``."""
    if layout != "auto":
        if layout not in _LOADERS:
            raise DataError(f"unknown video layout '{layout}' (choose auto, {', '.join(LAYOUTS)})")
        return layout
    found = detect_video_layout(root)
    if found is None:
        inner = [d.name for d in list_dirs(root) if detect_video_layout(d) is not None]
        hint = f" (found dataset folders {', '.join(inner)}: point at one)" if inner else ""
        raise DataError(f"{root}: not a known video dataset layout "
                        f"({', '.join(LAYOUTS)}){hint}")
    return found


def normalize_split(split: str) -> str:
    """``"train"``/``"training"`` -> ``"train"``, ``"test"``/``"testing"`` -> ``"test"``."""
    try:
        return SPLITS[split.lower()]
    except (KeyError, AttributeError):
        raise DataError(f"unknown split '{split}' (choose train or test)") from None


def scan_split(root: Path, split: str, layout: str, label_source: str | None) -> SplitScan:
    """Scan one split of ``root`` with the loader of ``layout`` (already resolved)."""
    try:
        return _LOADERS[layout].scan(root, split, label_source)
    except PermissionError as exc:
        raise DataError(f"{exc.filename or root}: permission denied") from None

"""What every image layout produces: :class:`ImageRecord` per image, :class:`ImageScan` per split,
and the folder helpers the layout modules share (no decoding here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mmae.errors import DataError


@dataclass(frozen=True)
class ImageRecord:
    """One image of a dataset.

    Attributes:
        path: the image file.
        label: 0 normal, 1 anomalous.
        defect: ``"good"`` for normal images, else the defect type (folder name).
        mask_path: ground-truth mask file; ``None`` for good images (empty mask) and for anomalous
            images that have no mask.
    """

    path: Path
    label: int
    defect: str
    mask_path: Path | None = None


@dataclass
class ImageScan:
    """Result of scanning one split of a dataset folder.

    Attributes:
        root: the category folder scanned.
        layout: its layout name (``mvtec``, ``mvtec_ad2``, ``visa``, ``folder``).
        split: ``"train"`` or ``"test"``.
        records: the split's images.
        orphan_masks: mask files that match no image (test split).
        missing_masks: anomalous images without a mask file (test split).
        validation: the layout's own held-out normal images (train split of MVTec AD 2:
            ``validation/good``); empty when the validation split is drawn from ``records``.
        warnings: remarks about the folder to show the user (e.g. images that look like masks).
    """

    root: Path
    layout: str
    split: str
    records: list[ImageRecord]
    orphan_masks: list[Path] = field(default_factory=list)
    missing_masks: list[Path] = field(default_factory=list)
    validation: list[ImageRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_dir(root: Path, what: str = "data path") -> None:
    """Raise a DataError naming ``root`` unless it is an existing folder."""
    if not root.exists():
        raise DataError(f"{what} {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{what} {root} is a file, not a folder")


def require_dirs(root: Path, rels: tuple[str, ...], what: str) -> None:
    """Raise one DataError naming every missing sub-folder ``rels`` of a ``what`` at ``root``."""
    missing = [rel for rel in rels if not (root / rel).is_dir()]
    if missing:
        raise DataError(f"{root}: incomplete {what}: missing folder"
                        f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}")


def subdirs(root: Path) -> list[Path]:
    """Non-hidden sub-folders of ``root``, sorted."""
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"cannot list folder {root} ({exc.strerror or exc})") from None


def find_child(root: Path, names: tuple[str, ...]) -> Path | None:
    """The first sub-folder of ``root`` named (case-insensitively) like one of ``names``."""
    by_name = {p.name.lower(): p for p in subdirs(root)}
    for name in names:
        if name in by_name:
            return by_name[name]
    return None


"""The VisA layout, as downloaded: the VisA root holds one folder per category and the official
split file ``split_csv/1cls.csv``; a category ``<cat>`` is

* ``<cat>/Data/Images/Normal/*`` and ``<cat>/Data/Images/Anomaly/*`` - the images (``.JPG``);
* ``<cat>/Data/Masks/Anomaly/<stem>.png`` - the mask of each anomalous image, named like it
  (any non-zero pixel is anomalous).

The splits are the official ones: the rows of ``1cls.csv`` whose ``object`` is the category,
columns ``object,split,label,image,mask`` (``split`` train/test, ``label`` normal/anomaly, paths
relative to the VisA root). The defect type of an anomalous image is its ``label`` in the
category's ``image_anno.csv`` (columns ``image,label,mask``; several defects read as one type,
e.g. ``melt,scratch``), or ``anomaly`` without one.
"""

from __future__ import annotations

import csv
from pathlib import Path

from mmae.data.image_io import list_image_files
from mmae.data.layouts.records import ImageRecord, ImageScan, require_dirs
from mmae.errors import DataError

NAME = "visa"
TITLE = "VisA"
REQUIRED = ("Data/Images/Normal", "Data/Images/Anomaly", "Data/Masks/Anomaly")
SPLIT_FILE = "split_csv/1cls.csv"
ANNOTATIONS = "image_anno.csv"
COLUMNS = ("object", "split", "label", "image", "mask")
LABELS = {"normal": 0, "anomaly": 1}


def is_category(root: Path) -> bool:
    """Whether ``root`` looks like a VisA category (complete or not): it has ``Data/Images`` or
    ``Data/Masks``."""
    return (root / "Data" / "Images").is_dir() or (root / "Data" / "Masks").is_dir()


def is_root(root: Path) -> bool:
    """Whether ``root`` holds the VisA split file."""
    return (root / SPLIT_FILE).is_file()


def split_file(root: Path) -> Path:
    """The split file of a category: ``split_csv/1cls.csv`` beside the category folder."""
    return root.parent / SPLIT_FILE


def check(root: Path) -> None:
    """Raise one DataError naming what a VisA category lacks: folders or the split file."""
    require_dirs(root, REQUIRED, f"{TITLE} category")
    if not split_file(root).is_file():
        raise DataError(f"{root}: missing the {TITLE} split file {split_file(root)} (the official "
                        f"split, {SPLIT_FILE} at the {TITLE} root beside the category folders)")


def _cell(row: dict[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def _rows(root: Path) -> list[dict[str, str]]:
    path = split_file(root)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: not a {TITLE} split file: no column "
                                f"{', '.join(missing)} (expected {','.join(COLUMNS)})")
            rows = [r for r in reader if _cell(r, "object") == root.name]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {TITLE} split file {path} ({exc})") from None
    if not rows:
        raise DataError(f"{path}: no rows for category {root.name!r}")
    return rows


def _defect_types(root: Path) -> dict[str, str]:
    """Image path (relative to the VisA root) -> defect type, from ``image_anno.csv``; empty
    when the file is absent or unreadable (the defect type is then ``anomaly``)."""
    path = root / ANNOTATIONS
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    out = {}
    for row in rows:
        label = ",".join(p.strip() for p in _cell(row, "label").split(",") if p.strip())
        if label and label.lower() != "normal" and _cell(row, "image"):
            out[_cell(row, "image")] = label
    return out


def scan(root: Path, split: str) -> ImageScan:
    """Records of one split of a VisA category, from the official split file.

    Raises:
        DataError: a folder or the split file is missing, the split file is malformed, or
            images it lists are missing.
    """
    check(root)
    base, path = root.parent, split_file(root)
    records: list[ImageRecord] = []
    missing_files: list[Path] = []
    missing_masks: list[Path] = []
    defects = _defect_types(root) if split == "test" else {}
    for n, row in enumerate(_rows(root), start=2):
        label = LABELS.get(_cell(row, "label").lower())
        if label is None or not _cell(row, "image"):
            raise DataError(f"{path} line {n}: label {_cell(row, 'label')!r} is not normal or "
                            f"anomaly, or no image")
        image = base / _cell(row, "image")
        if not image.is_file():  # in either split: the tree is incomplete
            missing_files.append(image)
        if _cell(row, "split") != split or not image.is_file():
            continue
        if label == 0:
            records.append(ImageRecord(image, 0, "good"))
            continue
        mask_rel = _cell(row, "mask")
        mask = base / mask_rel if mask_rel else root / "Data" / "Masks" / "Anomaly" / (
            image.stem + ".png")
        if not mask.is_file():
            missing_masks.append(image)
        defect = defects.get(_cell(row, "image"), "anomaly")
        records.append(ImageRecord(image, 1, defect, mask if mask.is_file() else None))
    if missing_files:
        raise DataError(f"{root}: {len(missing_files)} image(s) listed in {path} are missing, "
                        f"first {missing_files[0]}")
    if not records:
        raise DataError(f"{path}: no {split} rows for category {root.name!r}")
    orphans: list[Path] = []
    if split == "test":
        used = {r.mask_path for r in records}
        orphans = [m for m in list_image_files(root / "Data" / "Masks" / "Anomaly")
                   if m not in used]
    return ImageScan(root, NAME, split, records, orphans, missing_masks)

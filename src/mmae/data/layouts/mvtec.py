"""The MVTec AD layout: one category is ``train/good/*``, ``test/<defect>/*`` (``good`` is
normal) and ``ground_truth/<defect>/<stem>_mask.png`` (``<stem>.png`` also accepted). Good test
images have no mask file; their mask is empty. Class folders are read flat."""

from __future__ import annotations

from pathlib import Path

from mmae.data.image_io import list_image_files
from mmae.data.layouts.records import ImageRecord, ImageScan, check_dir, subdirs
from mmae.errors import DataError

NAME = "mvtec"
TITLE = "MVTec AD"


def is_category(root: Path) -> bool:
    """Whether ``root`` looks like an MVTec AD category (``train/good`` or ``test/good``)."""
    return (root / "train" / "good").is_dir() or (root / "test" / "good").is_dir()


def check(root: Path) -> None:
    """Nothing beyond what :func:`scan` checks per split (either split may be absent)."""


def scan_defect_folders(root: Path, test: Path, gt_root: Path, layout: str, split: str,
                        mask_suffixes: tuple[str, ...] = ("_mask", "")) -> ImageScan:
    """Records of ``test/<defect>/*`` (``good`` normal) with masks
    ``gt_root/<defect>/<stem><suffix>.png`` for the first of ``mask_suffixes`` that exists."""
    records: list[ImageRecord] = []
    missing: list[Path] = []
    used: set[Path] = set()
    for defect_dir in subdirs(test):
        defect = defect_dir.name
        if defect_dir == gt_root:  # MVTec AD 2 keeps ground_truth inside test_public
            continue
        for path in list_image_files(defect_dir):
            if defect == "good":
                records.append(ImageRecord(path, 0, "good"))
                continue
            gt = gt_root / defect
            names = [gt / f"{path.stem}{suffix}.png" for suffix in mask_suffixes]
            mask = next((m for m in names if m.is_file()), None)
            if mask is None:
                missing.append(path)
            else:
                used.add(mask)
            records.append(ImageRecord(path, 1, defect, mask))
    if not records:
        raise DataError(f"{root}: no test images in {test}")
    orphans = [m for m in list_image_files(gt_root, recursive=True)
               if m not in used and m.parent.name != "good"]
    return ImageScan(root, layout, split, records, orphans, missing)


def scan(root: Path, split: str) -> ImageScan:
    """Records of one split of an MVTec AD category.

    Raises:
        DataError: no training images, or no test folder / test images.
    """
    if split == "train":
        folder = root / "train" / "good"
        records = [ImageRecord(p, 0, "good") for p in list_image_files(folder)]
        if not records:
            raise DataError(f"{root}: no training images in {folder}")
        return ImageScan(root, NAME, split, records)
    test = root / "test"
    check_dir(test, "test folder")
    return scan_defect_folders(root, test, root / "ground_truth", NAME, split)

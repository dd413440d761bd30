"""The MVTec AD 2 layout, as downloaded: one category is

* ``train/good/*`` - normal training images;
* ``validation/good/*`` - held-out normal images: the validation split (the ``normal`` threshold
  is calibrated on them), never trained on;
* ``test_public/good/*``, ``test_public/bad/*`` - the public test set (metrics), masks
  ``test_public/ground_truth/bad/<stem>_mask.png``;
* ``test_private/*``, ``test_private_mixed/*`` - the private test sets, without labels: not part
  of any split; ``mmae predict`` scores them (:func:`predict_folders`).
"""

from __future__ import annotations

from pathlib import Path

from mmae.data.image_io import list_image_files
from mmae.data.layouts.mvtec import scan_defect_folders
from mmae.data.layouts.records import ImageRecord, ImageScan, require_dirs
from mmae.errors import DataError

NAME = "mvtec_ad2"
TITLE = "MVTec AD 2"
REQUIRED = ("train/good", "validation/good", "test_public/good", "test_public/bad",
            "test_public/ground_truth/bad")
PRIVATE = ("test_private", "test_private_mixed")
_SIGNS = ("validation", "test_public", *PRIVATE)


def is_category(root: Path) -> bool:
    """Whether ``root`` looks like an MVTec AD 2 category (complete or not): it has
    ``validation``, ``test_public``, ``test_private`` or ``test_private_mixed``."""
    return any((root / name).is_dir() for name in _SIGNS)


def check(root: Path) -> None:
    """Raise one DataError naming the folders an MVTec AD 2 category lacks (the private test
    folders are optional)."""
    require_dirs(root, REQUIRED, f"{TITLE} category")


def predict_folders(root: Path) -> list[Path]:
    """The private test folders of a category that exist (``mmae predict`` scores them)."""
    return [root / name for name in PRIVATE if (root / name).is_dir()]


def _normals(folder: Path, root: Path) -> list[ImageRecord]:
    records = [ImageRecord(p, 0, "good") for p in list_image_files(folder)]
    if not records:
        raise DataError(f"{root}: no images in {folder}")
    return records


def scan(root: Path, split: str) -> ImageScan:
    """Records of one split: ``train`` (with ``validation/good`` as the scan's ``validation``)
    or ``test`` (``test_public``).

    Raises:
        DataError: a required folder is missing or empty.
    """
    check(root)
    if split == "train":
        scan_ = ImageScan(root, NAME, split, _normals(root / "train" / "good", root))
        scan_.validation = _normals(root / "validation" / "good", root)
        return scan_
    public = root / "test_public"
    return scan_defect_folders(root, public, public / "ground_truth", NAME, split,
                               mask_suffixes=("_mask",))

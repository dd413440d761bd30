"""Finding the images, labels and masks of an image dataset folder (no decoding).

Layouts (see :func:`image_layout`):

* ``mvtec`` - an MVTec AD category: ``train/good/*``, ``test/<defect>/*`` (``good`` is normal),
  ``ground_truth/<defect>/<stem>_mask.png`` (``<stem>.png`` also accepted). Good test images have
  no mask file; their mask is empty. Class folders are read flat.
* ``mvtec_root`` - a folder of MVTec AD categories; open one category (``category=``).
* ``folder`` - anything else:

  - a plain folder of normal images, read **recursively** (hidden folders skipped): all of them
    are training images and there is no test split;
  - or a folder with sub-folders ``good``/``normal``/``ok`` (normal; without one, the other
    images of the folder are normal), ``anomalous``/``abnormal``/``anomaly``/``defect``/
    ``defects``/``bad`` (anomalous, sub-folders = defect types) and optionally ``masks``/
    ``mask``/``ground_truth``/``gt`` (never read as normal images); explicit ``abnormal_dir=``,
    ``mask_dir=`` and ``normal_test_dir=`` arguments override these names. Masks are matched to
    anomalous images by file stem (``<stem>.png`` or ``<stem>_mask.png``, same sub-folder first).
    Without ``normal_test_dir``, every 5th normal image (``holdout=0.2``, sorted order) is held
    out of training and used as a normal test image, so test scores of normal images are not
    measured on training images.

Junk is ignored everywhere: hidden files, ``._*`` AppleDouble files, ``.DS_Store``, non-image
extensions. Files are sorted by relative path, so record order is deterministic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mmae.data.image_io import list_image_files
from mmae.errors import DataError

NORMAL_DIR_NAMES = ("good", "normal", "ok")
ANOMALOUS_DIR_NAMES = ("anomalous", "abnormal", "anomaly", "defect", "defects", "defective", "bad")
MASK_DIR_NAMES = ("masks", "mask", "ground_truth", "gt")
SPLITS = ("train", "test")


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
    """Result of scanning one split of a dataset folder."""

    root: Path
    layout: str
    split: str
    records: list[ImageRecord]
    orphan_masks: list[Path] = field(default_factory=list)
    missing_masks: list[Path] = field(default_factory=list)


def _check_dir(root: Path, what: str = "data path") -> None:
    if not root.exists():
        raise DataError(f"{what} {root} does not exist")
    if not root.is_dir():
        raise DataError(f"{what} {root} is a file, not a folder")


def _subdirs(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"cannot list folder {root} ({exc.strerror or exc})") from None


def _find_child(root: Path, names: tuple[str, ...]) -> Path | None:
    by_name = {p.name.lower(): p for p in _subdirs(root)}
    for name in names:
        if name in by_name:
            return by_name[name]
    return None


def is_mvtec_category(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` looks like an MVTec AD category (``train/good`` or ``test/good``)."""
    r = Path(root)
    return (r / "train" / "good").is_dir() or (r / "test" / "good").is_dir()


def mvtec_categories(root: str | os.PathLike[str]) -> list[str]:
    """Names of the MVTec AD category folders directly inside ``root`` (sorted)."""
    r = Path(root)
    if not r.is_dir():
        return []
    return [p.name for p in _subdirs(r) if is_mvtec_category(p)]


def image_layout(root: str | os.PathLike[str]) -> str:
    """Layout of an image dataset folder: ``"mvtec"``, ``"mvtec_root"`` or ``"folder"``.

    Raises:
        DataError: ``root`` does not exist or is not a folder.
    """
    r = Path(root)
    _check_dir(r)
    if is_mvtec_category(r):
        return "mvtec"
    if mvtec_categories(r):
        return "mvtec_root"
    return "folder"


def _mask_candidates(folder: Path, stem: str) -> list[Path]:
    return [folder / f"{stem}_mask.png", folder / f"{stem}.png"]


def _scan_mvtec(root: Path, split: str) -> ImageScan:
    if split == "train":
        folder = root / "train" / "good"
        records = [ImageRecord(p, 0, "good") for p in list_image_files(folder)]
        if not records:
            raise DataError(f"{root}: no training images in {folder}")
        return ImageScan(root, "mvtec", split, records)
    test = root / "test"
    _check_dir(test, "test folder")
    records: list[ImageRecord] = []
    missing: list[Path] = []
    used: set[Path] = set()
    for defect_dir in _subdirs(test):
        defect = defect_dir.name
        for path in list_image_files(defect_dir):
            if defect == "good":
                records.append(ImageRecord(path, 0, "good"))
                continue
            gt = root / "ground_truth" / defect
            mask = next((m for m in _mask_candidates(gt, path.stem) if m.is_file()), None)
            if mask is None:
                missing.append(path)
            else:
                used.add(mask)
            records.append(ImageRecord(path, 1, defect, mask))
    if not records:
        raise DataError(f"{root}: no test images in {test}")
    orphans = [m for m in list_image_files(root / "ground_truth", recursive=True)
               if m not in used and m.parent.name != "good"]
    return ImageScan(root, "mvtec", split, records, orphans, missing)


def _is_within(path: Path, folders: list[Path]) -> bool:
    rp = path.resolve()
    return any(rp == f or f in rp.parents for f in folders)


def _holdout_indices(n: int, holdout: float) -> set[int]:
    if n < 2 or holdout <= 0:
        return set()
    return {i for i in range(n) if int((i + 1) * holdout) > int(i * holdout)}


def _match_masks(anomalous: list[Path], abnormal_root: Path, mask_root: Path | None
                 ) -> tuple[list[Path | None], list[Path]]:
    """Masks of anomalous images by stem (same relative sub-folder first); also orphan masks."""
    if mask_root is None:
        return [None] * len(anomalous), []
    masks = list_image_files(mask_root, recursive=True)
    by_rel: dict[tuple[str, str], Path] = {}
    by_stem: dict[str, list[Path]] = {}
    for m in masks:
        stem = m.stem[:-5] if m.stem.endswith("_mask") else m.stem
        rel = m.parent.relative_to(mask_root).as_posix()
        by_rel.setdefault((rel, stem), m)
        by_stem.setdefault(stem, []).append(m)
    found: list[Path | None] = []
    for img in anomalous:
        rel = img.parent.relative_to(abnormal_root).as_posix()
        m = by_rel.get((rel, img.stem))
        if m is None and len(by_stem.get(img.stem, [])) == 1:
            m = by_stem[img.stem][0]
        found.append(m)
    used = {m for m in found if m is not None}
    return found, [m for m in masks if m not in used]


def _scan_folder(root: Path, split: str, abnormal_dir: Path | None, mask_dir: Path | None,
                 normal_test_dir: Path | None, holdout: float) -> ImageScan:
    for extra, what in ((abnormal_dir, "abnormal_dir"), (mask_dir, "mask_dir"),
                        (normal_test_dir, "normal_test_dir")):
        if extra is not None:
            _check_dir(extra, what)
    normal_root = _find_child(root, NORMAL_DIR_NAMES) or root
    if abnormal_dir is None:
        abnormal_dir = _find_child(root, ANOMALOUS_DIR_NAMES)
    if mask_dir is None:
        mask_dir = _find_child(root, MASK_DIR_NAMES)
    excluded = [p.resolve() for p in (abnormal_dir, mask_dir, normal_test_dir) if p is not None]
    normals = [p for p in list_image_files(normal_root, recursive=True)
               if not _is_within(p, excluded)]
    anomalous = list_image_files(abnormal_dir, recursive=True) if abnormal_dir else []
    if normal_test_dir is not None:
        train_normals, test_normals = normals, list_image_files(normal_test_dir, recursive=True)
    elif anomalous:
        held = _holdout_indices(len(normals), holdout)
        train_normals = [p for i, p in enumerate(normals) if i not in held]
        test_normals = [p for i, p in enumerate(normals) if i in held]
    else:
        train_normals, test_normals = normals, []
    if split == "train":
        if not train_normals:
            raise DataError(f"no images found in {normal_root} (looked for .png, .jpg, .jpeg, "
                            ".bmp, .tif, .tiff, .webp, .ppm, .pgm)")
        return ImageScan(root, "folder", split, [ImageRecord(p, 0, "good") for p in train_normals])
    masks, orphans = _match_masks(anomalous, abnormal_dir, mask_dir) if abnormal_dir else ([], [])
    records = [ImageRecord(p, 0, "good") for p in test_normals]
    missing: list[Path] = []
    for path, mask in zip(anomalous, masks, strict=True):
        rel = path.parent.relative_to(abnormal_dir).parts
        records.append(ImageRecord(path, 1, rel[0] if rel else "anomalous", mask))
        if mask is None and mask_dir is not None:
            missing.append(path)
    if not records:
        raise DataError(f"{root}: no test images: a plain folder of normal images is for training "
                        "only; add an 'anomalous' sub-folder (with 'good') or give abnormal_dir")
    return ImageScan(root, "folder", split, records, orphans, missing)


def scan_image_split(root: str | os.PathLike[str], split: str, *, category: str | None = None,
                     abnormal_dir: str | os.PathLike[str] | None = None,
                     mask_dir: str | os.PathLike[str] | None = None,
                     normal_test_dir: str | os.PathLike[str] | None = None,
                     holdout: float = 0.2) -> ImageScan:
    """Records of one split of an image dataset folder (see the module docstring for layouts).

    Args:
        root: MVTec AD category, MVTec AD root (with ``category``), or generic folder.
        split: ``"train"`` or ``"test"``.
        category: category to open inside an MVTec AD root.
        abnormal_dir: folder of anomalous images (generic layout).
        mask_dir: folder of masks matched by stem (generic layout).
        normal_test_dir: folder of normal test images (generic layout); disables the holdout.
        holdout: fraction of normal images held out for testing when a generic folder has
            anomalous images and no ``normal_test_dir``.

    Raises:
        DataError: missing path, empty folder, MVTec AD root without a category, no test data.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use 'train' or 'test'")
    r = Path(root)
    layout = image_layout(r)
    if layout == "mvtec_root":
        cats = mvtec_categories(r)
        if category is None:
            raise DataError(f"{r} is an MVTec AD root with categories {', '.join(cats)}: "
                            f"pick one, e.g. {r / cats[0]}")
        if category not in cats:
            raise DataError(f"{r}: no category {category!r} (categories: {', '.join(cats)})")
        r, layout = r / category, "mvtec"
    elif category is not None and (r / category).is_dir():
        r, layout = r / category, image_layout(r / category)
    if layout == "mvtec":
        return _scan_mvtec(r, split)
    opt = [Path(p) if p is not None else None for p in (abnormal_dir, mask_dir, normal_test_dir)]
    return _scan_folder(r, split, opt[0], opt[1], opt[2], holdout)

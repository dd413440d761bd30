"""The generic folder layout (anything that is not a known dataset layout):

* a plain folder of normal images, read **recursively** (hidden folders skipped): all of them are
  training images and there is no test split;
* or a folder with sub-folders ``good``/``normal``/``ok`` (normal; without one, the other images of
  the folder are normal), ``anomalous``/``abnormal``/``anomaly``/``anomalies``/``defect``/
  ``defects``/``defective``/``bad``/``ng``/``nok`` (anomalous, sub-folders = defect types) and
  optionally ``masks``/``mask``/``ground_truth``/``gt`` (never read as normal images); explicit
  ``abnormal_dir=``, ``mask_dir=`` and ``normal_test_dir=`` arguments override these names. Masks
  are matched to anomalous images by file stem (``<stem>.png`` or ``<stem>_mask.png``, same
  sub-folder first). Without ``normal_test_dir``, every 5th normal image (``holdout=0.2``, sorted
  order) is held out of training and used as a normal test image.

Nothing that looks like an anomaly or a mask is read as a good image without a word: a normal
image whose path below the normal folder has a folder or file name with a word such as anomaly,
defect, bad, ng, mask, ground_truth or gt is refused (DataError naming it); a plain folder so
named itself, and images that look like masks (two pixel values, one of them black), give a
warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from mmae.data.image_io import list_image_files
from mmae.data.layouts.records import ImageRecord, ImageScan, check_dir, find_child
from mmae.errors import DataError

NAME = "folder"
TITLE = "image folder"
NORMAL_DIR_NAMES = ("good", "normal", "ok")
ANOMALOUS_DIR_NAMES = ("anomalous", "abnormal", "anomaly", "anomalies", "defect", "defects",
                       "defective", "bad", "ng", "nok")
MASK_DIR_NAMES = ("masks", "mask", "ground_truth", "gt")
ANOMALY_WORDS = frozenset(ANOMALOUS_DIR_NAMES)
MASK_WORDS = frozenset({"mask", "masks", "gt", "groundtruth", "ground_truth"})
BINARY_SAMPLE = 16  # images checked for looking like masks
_BINARY_MAX_PIXELS = 16_000_000  # larger images are not decoded for that check
_LOSSLESS = (".png", ".bmp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".webp")


def _words(name: str) -> list[str]:
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]
    pairs = [f"{a}_{b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    return tokens + pairs


def suspicious_name(rel: Path) -> tuple[str, str] | None:
    """``(part, "masks" | "anomalous images")`` when a folder or file name of the relative path
    ``rel`` has a word of a mask or an anomaly; None otherwise."""
    for i, part in enumerate(rel.parts):
        name = part if i < len(rel.parts) - 1 else Path(part).stem
        words = set(_words(name))
        if words & MASK_WORDS:
            return part, "masks"
        if words & ANOMALY_WORDS:
            return part, "anomalous images"
    return None


def name_warning(root: Path, normal_root: Path, normals: list[Path]) -> str | None:
    """A warning when a plain folder given as good images is itself named like anomalies or
    masks (the user chose it, so it is read, with a word)."""
    own = suspicious_name(Path(root.resolve().name)) if normal_root == root and normals else None
    if own is None:
        return None
    return (f"{root}: the folder's name {own[0]!r} looks like {own[1]}, yet its images are read "
            f"as good images")


def _refuse_suspicious(normal_root: Path, normals: list[Path]) -> None:
    bad = [(p, hit) for p in normals if (hit := suspicious_name(p.relative_to(normal_root)))]
    if not bad:
        return
    path, (part, what) = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    raise DataError(f"{path}{more}: {part!r} looks like {what}, yet it would be read as a good "
                    f"image of {normal_root}; move it out, or use sub-folders good/, anomalous/ "
                    f"and masks/ (or give abnormal_dir / mask_dir)")


def _looks_binary(path: Path) -> bool:
    if path.suffix.lower() not in _LOSSLESS:
        return False
    try:
        with Image.open(path) as img:
            if img.mode == "1":
                return True
            if img.size[0] * img.size[1] > _BINARY_MAX_PIXELS:
                return False  # never decode a huge file for this check
            arr = np.asarray(img.convert("RGB"))[::2, ::2]
    except Exception:  # noqa: BLE001 - unreadable files are reported when decoded
        return False
    if not (arr[..., 0] == arr[..., 1]).all() or not (arr[..., 1] == arr[..., 2]).all():
        return False
    values = np.unique(arr[..., 0])
    return values.size == 2 and values[0] == 0


def binary_warning(root: Path, normals: list[Path]) -> str | None:
    """A warning when some of (a sample of) the normal images look like masks."""
    if not normals:
        return None
    step = max(1, len(normals) // BINARY_SAMPLE)
    sample = normals[::step][:BINARY_SAMPLE]
    hits = [p for p in sample if _looks_binary(p)]
    if not hits:
        return None
    return (f"{root}: {len(hits)} of {len(sample)} sampled good images look like masks (black "
            f"and one other value only), e.g. {hits[0]}; they are read as good images")


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


def scan(root: Path, split: str, abnormal_dir: Path | None = None, mask_dir: Path | None = None,
         normal_test_dir: Path | None = None, holdout: float = 0.2) -> ImageScan:
    """Records of one split of a generic image folder (see the module docstring).

    Raises:
        DataError: a missing folder, no images, a name that looks like an anomaly or a mask
            among the good images, or no test images for ``split="test"``.
    """
    for extra, what in ((abnormal_dir, "abnormal_dir"), (mask_dir, "mask_dir"),
                        (normal_test_dir, "normal_test_dir")):
        if extra is not None:
            check_dir(extra, what)
    normal_root = find_child(root, NORMAL_DIR_NAMES) or root
    if abnormal_dir is None:
        abnormal_dir = find_child(root, ANOMALOUS_DIR_NAMES)
    if mask_dir is None:
        mask_dir = find_child(root, MASK_DIR_NAMES)
    excluded = [p.resolve() for p in (abnormal_dir, mask_dir, normal_test_dir) if p is not None]
    normals = [p for p in list_image_files(normal_root, recursive=True)
               if not _is_within(p, excluded)]
    _refuse_suspicious(normal_root, normals)
    notes = [w for w in (name_warning(root, normal_root, normals),
                         binary_warning(normal_root, normals)) if w]
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
        return ImageScan(root, NAME, split, [ImageRecord(p, 0, "good") for p in train_normals],
                         warnings=notes)
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
    return ImageScan(root, NAME, split, records, orphans, missing, warnings=notes)

"""``describe_image_dataset``: a JSON-able summary of an image dataset folder (``mmae data``).

Only file headers are read (no full decoding), so it is fast on large folders. Problems with
single files (unreadable images, masks of the wrong size, masks that match no image) are
reported in the summary instead of raised.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from mmae.data.image_io import is_grayscale_mode, list_image_files, read_image_info
from mmae.data.layouts import (
    ImageScan,
    get_layout,
    image_categories,
    image_layout,
    predict_folders,
    scan_image_split,
)
from mmae.errors import DataError

_LIST_LIMIT = 20


def _split_summary(scan: ImageScan) -> dict[str, Any]:
    classes = Counter(r.defect for r in scan.records)
    normal = sum(1 for r in scan.records if r.label == 0)
    return {"images": len(scan.records), "normal": normal, "anomalous": len(scan.records) - normal,
            "classes": dict(sorted(classes.items()))}


def _scan_or_none(root: Path, split: str, **kwargs: Any) -> tuple[ImageScan | None, str | None]:
    try:
        return scan_image_split(root, split, **kwargs), None
    except DataError as exc:
        return None, str(exc)


def describe_image_dataset(root: str | os.PathLike[str], *, category: str | None = None,
                           abnormal_dir: str | os.PathLike[str] | None = None,
                           mask_dir: str | os.PathLike[str] | None = None,
                           normal_test_dir: str | os.PathLike[str] | None = None
                           ) -> dict[str, Any]:
    """Summarise an image dataset folder.

    Args:
        root: a category of a known layout (MVTec AD, MVTec AD 2, VisA), a folder of such
            categories, or a generic folder.
        category: describe this category of a folder of categories instead of listing them.
        abnormal_dir: anomalous images (generic folder).
        mask_dir: masks (generic folder).
        normal_test_dir: normal test images (generic folder).

    Returns:
        ``{"kind": "image", "path", "layout", ...}``. For a folder of categories (layout
        ``<layout>_root``): ``categories`` (names) and ``category_splits`` (image counts per
        category). Otherwise ``splits`` (``train`` / ``test``: ``images``, ``normal``,
        ``anomalous``, ``classes`` per defect; ``None`` with a ``notes`` entry when a split does
        not exist; an MVTec AD 2 category adds ``validation`` and its unlabelled
        ``test_private`` / ``test_private_mixed``, whose ``normal`` and ``anomalous`` are None),
        ``image_sizes`` (distinct ``height`` x ``width`` with counts), ``modes`` (Pillow modes
        with counts), ``channels`` (what ``channels=None`` resolves to), ``masks`` (found /
        missing / orphans / bad: unreadable or wrong size), ``unreadable`` (files whose header
        cannot be read) and ``notes`` (remarks, e.g. images that look like masks).

    Raises:
        DataError: ``root`` is missing, not a folder, an incomplete tree of a known layout
            (naming what is missing), or holds no images at all.
    """
    r = Path(root)
    layout = image_layout(r)
    out: dict[str, Any] = {"kind": "image", "path": str(r), "layout": layout}
    if layout.endswith("_root") and category is None:
        cats = list(image_categories(r))
        out["categories"] = cats
        splits: dict[str, Any] = {}
        notes = [f"open one category for training, e.g. {r / cats[0]}"]
        for cat in cats:
            entry = {}
            for split in ("train", "test"):
                scan, err = _scan_or_none(r / cat, split)
                entry[split] = len(scan.records) if scan else 0
                if err and err not in notes:
                    notes.append(err)
            splits[cat] = entry
        out["category_splits"] = splits
        out["notes"] = notes
        return out
    if layout.endswith("_root"):
        layout = layout.removesuffix("_root")
        out["layout"] = layout
        out["category"] = category
    cat_dir = r / category if category is not None and (r / category).is_dir() else r
    lay = get_layout(layout)
    if lay is not None:
        lay.check(cat_dir)  # an incomplete tree: one error naming what is missing
    kwargs = {"category": category, "abnormal_dir": abnormal_dir, "mask_dir": mask_dir,
              "normal_test_dir": normal_test_dir}
    scans: dict[str, ImageScan] = {}
    notes: list[str] = []
    out["splits"] = {}
    for split in ("train", "test"):
        scan, err = _scan_or_none(r, split, **kwargs)
        out["splits"][split] = _split_summary(scan) if scan else None
        if scan:
            scans[split] = scan
            notes += [w for w in scan.warnings if w not in notes]
        else:
            notes.append(f"{split}: {err}")
    if not scans:
        raise DataError(f"{r}: no images found ({'; '.join(notes)})")
    _extra_splits(out, scans, cat_dir, notes)
    sizes: Counter[tuple[int, int]] = Counter()
    modes: Counter[str] = Counter()
    unreadable: list[dict[str, str]] = []
    image_size: dict[Path, tuple[int, int]] = {}
    for scan in scans.values():
        for rec in scan.records + scan.validation:
            try:
                h, w, mode = read_image_info(rec.path)
            except DataError as exc:
                unreadable.append({"path": str(rec.path), "error": str(exc)})
                continue
            sizes[(h, w)] += 1
            modes[mode] += 1
            image_size[rec.path] = (h, w)
    out["image_sizes"] = [{"height": h, "width": w, "count": n}
                          for (h, w), n in sorted(sizes.items(), key=lambda kv: -kv[1])]
    out["modes"] = dict(sorted(modes.items()))
    out["channels"] = 1 if modes and all(is_grayscale_mode(m) for m in modes) else 3
    out["masks"] = _mask_summary(scans.get("test"), image_size)
    out["unreadable"] = unreadable[:_LIST_LIMIT]
    out["unreadable_count"] = len(unreadable)
    out["notes"] = notes
    return out


def _extra_splits(out: dict[str, Any], scans: dict[str, ImageScan], category: Path,
                  notes: list[str]) -> None:
    """``splits.validation`` (a layout's own held-out normals) and the unlabelled folders
    ``mmae predict`` scores (``images`` only: their labels are unknown)."""
    train = scans.get("train")
    if train is not None and train.validation:
        out["splits"]["validation"] = _split_summary(ImageScan(
            train.root, train.layout, "validation", train.validation))
    for folder in predict_folders(category) or []:
        n = len(list_image_files(folder, recursive=True))
        out["splits"][folder.name] = {"images": n, "normal": None, "anomalous": None,
                                      "classes": {}}
        notes.append(f"{folder.name}: {n} images without labels (no metrics); "
                     f"`mmae predict --run RUN {category}` scores them")
    order = ["train", "validation", "test"]
    out["splits"] = {k: out["splits"][k] for k in sorted(
        out["splits"], key=lambda k: order.index(k) if k in order else len(order))}


def _mask_summary(scan: ImageScan | None, image_size: dict[Path, tuple[int, int]]
                  ) -> dict[str, Any]:
    if scan is None:
        return {"found": 0, "missing": 0, "orphans": 0, "bad": 0}
    found, wrong = 0, []
    for rec in scan.records:
        if rec.mask_path is None:
            continue
        found += 1
        try:
            mh, mw, _ = read_image_info(rec.mask_path)
        except DataError as exc:
            wrong.append({"mask": str(rec.mask_path), "error": str(exc)})
            continue
        size = image_size.get(rec.path)
        if size is not None and size != (mh, mw):
            wrong.append({"mask": str(rec.mask_path), "error": f"mask is {mw}x{mh}, image "
                          f"{rec.path} is {size[1]}x{size[0]}"})
    return {"found": found, "missing": len(scan.missing_masks),
            "orphans": len(scan.orphan_masks), "bad": len(wrong),
            "missing_files": [str(p) for p in scan.missing_masks[:_LIST_LIMIT]],
            "orphan_files": [str(p) for p in scan.orphan_masks[:_LIST_LIMIT]],
            "bad_masks": wrong[:_LIST_LIMIT]}

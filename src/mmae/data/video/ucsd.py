"""UCSD Ped1 / Ped2 in the original layout.

``UCSDped2/Train/Train001/001.tif``, ``Test/Test001/*.tif``, optional pixel masks in
``Test/Test001_gt/*.bmp`` (any value > 0 is anomalous) and frame ranges in ``Test/UCSDped2.m``
(``TestVideoFile{end+1}.gt_frame = [61:180];``, 1-based inclusive, several ranges allowed, one
line per test video in order).

Label sources: ``"ucsd_m_file"`` (default when the ``.m`` file exists) and ``"ucsd_masks"``
(frames whose mask has a pixel > 0; the default when there is no ``.m`` file).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mmae.data.video.files import (
    IMAGE_EXTENSIONS,
    find_child,
    list_dirs,
    list_files,
    list_frame_files,
    read_gray,
)
from mmae.data.video.labels import labels_from_intervals
from mmae.data.video.records import SplitScan, VideoRecord
from mmae.errors import DataError

LAYOUT = "ucsd"
LABEL_SOURCES = ("ucsd_m_file", "ucsd_masks")
_GT_LINE = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")


def detect(root: Path) -> bool:
    """True if ``root`` looks like ``UCSDped1`` / ``UCSDped2`` (``Train/TrainNNN`` or ``Test``)."""
    for split_dir, prefix in (("Train", "train"), ("Test", "test")):
        folder = find_child(root, split_dir)
        if folder is not None and folder.is_dir():
            if any(d.name.lower().startswith(prefix) for d in list_dirs(folder)):
                return True
    return False


def parse_m_file(path: Path) -> list[list[tuple[int, int]]]:
    """Per-video 1-based inclusive ranges from a ``UCSDpedN.m`` file, in file order."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: unreadable label file ({exc})") from None
    videos: list[list[tuple[int, int]]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("%", 1)[0]
        match = _GT_LINE.search(line)
        if match is None:
            continue
        ranges = []
        for token in re.split(r"[,;\s]+", match.group(1).strip()):
            if not token:
                continue
            parts = token.split(":")
            try:
                nums = [int(p) for p in parts]
            except ValueError:
                raise DataError(f"{path}:{lineno}: cannot parse frame range '{token}'") from None
            if len(nums) == 1:
                ranges.append((nums[0], nums[0]))
            elif len(nums) == 2:
                ranges.append((nums[0], nums[1]))
            else:
                raise DataError(f"{path}:{lineno}: unsupported frame range '{token}'")
        videos.append(ranges)
    if not videos:
        raise DataError(f"{path}: no 'TestVideoFile{{end+1}}.gt_frame = [...]' lines found")
    return videos


def find_m_file(test_dir: Path) -> Path | None:
    """The ``UCSDpedN.m`` label file of a ``Test`` folder (junk and ``*.m~`` ignored)."""
    candidates = list_files(test_dir, frozenset({".m"}))
    preferred = [p for p in candidates if p.name.lower().startswith("ucsdped")]
    found = preferred or candidates
    return found[0] if found else None


def mask_labels(mask_files: tuple[Path, ...]) -> np.ndarray:
    """Frame labels from mask images: 1 where any pixel is > 0."""
    return np.array([int(read_gray(p).max() > 0) for p in mask_files], dtype=np.int8)


def scan(root: Path, split: str, label_source: str | None = None) -> SplitScan:
    """Scan the ``train`` or ``test`` split of a UCSD folder."""
    split_dir = find_child(root, "Train" if split == "train" else "Test")
    if split_dir is None or not split_dir.is_dir():
        raise DataError(f"{root}: no '{'Train' if split == 'train' else 'Test'}' folder")
    dirs = [d for d in list_dirs(split_dir) if not d.name.lower().endswith("_gt")]
    if not dirs:
        raise DataError(f"{split_dir}: no video folders")
    if split == "train":
        videos = []
        for d in dirs:
            files = list_frame_files(d)
            videos.append(VideoRecord(d.name, len(files), None, d, files))
        return SplitScan(LAYOUT, None, videos)

    m_file = find_m_file(split_dir)
    source = label_source
    if source is None:
        source = "ucsd_m_file" if m_file is not None else "ucsd_masks"
    if source not in LABEL_SOURCES:
        raise DataError(f"{root}: label_source '{source}' is not one of {', '.join(LABEL_SOURCES)}")
    ranges = None
    if source == "ucsd_m_file":
        if m_file is None:
            raise DataError(f"{split_dir}: no UCSDpedN.m frame-label file")
        ranges = parse_m_file(m_file)
        if len(ranges) != len(dirs):
            raise DataError(
                f"{m_file}: {len(ranges)} gt_frame lines but {len(dirs)} test video folders"
            )
    videos = []
    for k, d in enumerate(dirs):
        files = list_frame_files(d)
        gt_dir = find_child(split_dir, d.name + "_gt")
        masks = list_files(gt_dir, IMAGE_EXTENSIONS) if gt_dir and gt_dir.is_dir() else None
        if masks is not None and len(masks) != len(files):
            raise DataError(f"{gt_dir}: {len(masks)} mask images but {d} has {len(files)} frames")
        if ranges is not None:
            labels = labels_from_intervals(ranges[k], len(files), f"{m_file} (video {d.name})")
        elif masks:
            labels = mask_labels(tuple(masks))
        else:
            raise DataError(f"{split_dir / (d.name + '_gt')}: no mask folder for {d.name} "
                            "(needed for label_source 'ucsd_masks')")
        videos.append(VideoRecord(
            d.name, len(files), labels, d, files,
            mask_kind="image_files" if masks else None,
            mask_path=gt_dir if masks else None,
            mask_files=tuple(masks) if masks else None,
        ))
    return SplitScan(LAYOUT, source, videos)

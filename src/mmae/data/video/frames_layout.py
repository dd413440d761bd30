"""The re-packaged "frames" layout used by most video anomaly papers.

``<ds>/training/frames/<video>/000.jpg``, ``<ds>/testing/frames/<video>/...`` and frame labels
in ``<ds>/<ds>.mat``: variable ``gt``, a 1xN cell (one entry per test video, in sorted order) of
2xK ``[start; end]`` arrays, 1-based inclusive (a single interval may be stored as ``(2,)``,
``1x2`` or ``2x1``). Label source: ``"frames_mat"``; pass a ``.mat`` path as ``label_source`` to
use another label file.
"""

from __future__ import annotations

from pathlib import Path

from mmae.data.video.files import find_child, list_dirs, list_files, list_frame_files
from mmae.data.video.labels import labels_from_intervals, read_gt_cell
from mmae.data.video.records import SplitScan, VideoRecord
from mmae.errors import DataError

LAYOUT = "frames"
LABEL_SOURCES = ("frames_mat",)


def _frames_dir(root: Path, split: str) -> Path | None:
    top = find_child(root, "training" if split == "train" else "testing")
    sub = find_child(top, "frames") if top is not None else None
    return sub if sub is not None and sub.is_dir() else None


def detect(root: Path) -> bool:
    """True if ``root`` has ``training/frames`` or ``testing/frames``."""
    return _frames_dir(root, "train") is not None or _frames_dir(root, "test") is not None


def find_label_mat(root: Path) -> Path | None:
    """``<ds>/<ds>.mat``, else the only ``.mat`` file of the dataset folder."""
    named = find_child(root, root.name + ".mat")
    if named is not None and named.is_file():
        return named
    mats = list_files(root, frozenset({".mat"}))
    return mats[0] if len(mats) == 1 else None


def scan(root: Path, split: str, label_source: str | None = None) -> SplitScan:
    """Scan the ``train`` or ``test`` split of a frames-layout folder."""
    folder = _frames_dir(root, split)
    if folder is None:
        raise DataError(f"{root}: no '{'training' if split == 'train' else 'testing'}/frames' "
                        "folder")
    dirs = list_dirs(folder)
    if not dirs:
        raise DataError(f"{folder}: no video folders")
    frame_files = [list_frame_files(d) for d in dirs]
    if split == "train":
        pairs = zip(dirs, frame_files, strict=True)
        videos = [VideoRecord(d.name, len(f), None, d, f) for d, f in pairs]
        return SplitScan(LAYOUT, None, videos)
    mat: Path | None
    if label_source is not None and label_source.lower().endswith(".mat"):
        mat = Path(label_source)
    elif label_source in (None, *LABEL_SOURCES):
        mat = find_label_mat(root)
        if mat is None:
            raise DataError(f"{root / (root.name + '.mat')}: frame-label file not found")
    else:
        raise DataError(f"{root}: label_source '{label_source}' is not 'frames_mat' or a .mat path")
    intervals = read_gt_cell(mat, len(dirs))
    videos = []
    for d, files, ivs in zip(dirs, frame_files, intervals, strict=True):
        labels = labels_from_intervals(ivs, len(files), f"{mat} (video {d.name})")
        videos.append(VideoRecord(d.name, len(files), labels, d, files))
    return SplitScan(LAYOUT, "frames_mat", videos)

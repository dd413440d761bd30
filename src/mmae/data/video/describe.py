"""``describe_video_dataset``: a JSON-able summary for ``mmae data PATH --json``."""

from __future__ import annotations

from pathlib import Path

from mmae.data.video.layouts import check_root, resolve_layout, scan_split
from mmae.data.video.records import SplitScan, VideoRecord
from mmae.errors import DataError


def _video_entry(record: VideoRecord, test: bool) -> dict:
    entry: dict = {"name": record.name, "frames": int(record.num_frames)}
    if test:
        entry["anomalous_frames"] = record.anomalous_frames
    entry["frames_from"] = record.frames_from
    entry["pixel_masks"] = record.mask_kind is not None
    return entry


def describe_video_dataset(
    root: str | Path, layout: str = "auto", label_source: str | None = None
) -> dict:
    """Summarise a video dataset folder without decoding its videos.

    Frame counts come from the frame files, or for video files from the container header
    (``"frames_from": "header"``); a header that disagrees with the labels is checked by reading
    the video through (``"decoded"``). A split that is absent is reported with no video and an
    ``"error"`` entry; if both splits are absent a DataError is raised.

    Returns:
        ``{"kind": "video", "layout", "label_source", "root", "splits": {"train": {"videos":
        [{"name", "frames", ...}], "num_videos", "frames"}, "test": {"videos": [{"name",
        "frames", "anomalous_frames", ...}], ...}}}``.
    """
    path = check_root(root)
    resolved = resolve_layout(path, layout)
    splits: dict[str, dict] = {}
    label = None
    errors = []
    for split in ("train", "test"):
        try:
            scan: SplitScan = scan_split(path, split, resolved, label_source)
        except DataError as exc:
            errors.append(exc)
            splits[split] = {"videos": [], "num_videos": 0, "frames": 0, "error": str(exc)}
            continue
        videos = [_video_entry(v, split == "test") for v in scan.videos]
        info = {"videos": videos, "num_videos": len(videos),
                "frames": sum(v["frames"] for v in videos)}
        if split == "test":
            info["anomalous_frames"] = sum(v["anomalous_frames"] or 0 for v in videos)
            label = scan.label_source
        splits[split] = info
    if len(errors) == 2:
        raise errors[0]
    return {"kind": "video", "layout": resolved, "label_source": label, "root": str(path),
            "splits": splits}

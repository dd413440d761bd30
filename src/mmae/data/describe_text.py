"""Human-readable dataset descriptions (``mmae data``)."""

from __future__ import annotations

from typing import Any


def format_description(info: dict[str, Any]) -> str:
    """Short text form of :func:`mmae.data.describe`."""
    lines = [f"{info.get('kind')} dataset, layout {info.get('layout')}"]
    if info.get("kind") == "video":
        lines.append(f"labels: {info.get('label_source')}")
        for split, s in info.get("splits", {}).items():
            vids = s.get("videos", [])
            frames = sum(v["frames"] for v in vids)
            anom = sum(v.get("anomalous_frames", 0) for v in vids)
            extra = f", {anom} anomalous" if split == "test" else ""
            lines.append(f"{split}: {len(vids)} videos, {frames} frames{extra}")
        return "\n".join(lines)
    import json

    for k, v in info.items():
        if k == "splits" and isinstance(v, dict):
            lines += [_image_split(name, s) for name, s in v.items()]
        elif k not in ("kind", "layout"):
            lines.append(f"{k}: {json.dumps(v)[:300]}")
    return "\n".join(lines)


def _image_split(name: str, split: dict[str, Any] | None) -> str:
    """``train: 10 images (10 normal, 0 anomalous; good 10)``; unlabelled splits: no counts."""
    if split is None:
        return f"{name}: none"
    if split.get("normal") is None:
        return f"{name}: {split['images']} images, no labels"
    classes = ", ".join(f"{c} {n}" for c, n in split.get("classes", {}).items())
    return (f"{name}: {split['images']} images ({split['normal']} normal, "
            f"{split['anomalous']} anomalous; {classes})")

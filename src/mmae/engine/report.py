"""Human-readable summaries: the metrics table and dataset descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def format_metrics(m: dict[str, Any]) -> str:
    """A plain-text table of a ``metrics.json`` dict (image or video)."""
    if "frame_auc_micro" in m:
        lines = [f"model {m['model']}  videos {m['num_videos']}  frames {m['num_frames_scored']}"
                 f"  labels {m.get('label_source')}  rule {m.get('alignment_rule')}",
                 f"frame AUC (micro) {_fmt(m['frame_auc_micro'])}",
                 f"frame AUC (macro) {_fmt(m['frame_auc_macro'])}"]
        return "\n".join(lines)
    head = f"{'defect':<16}{'n':>5}{'image AUROC':>13}{'pixel AUROC':>13}{'AU-PRO@0.3':>12}"
    lines = [f"model {m['model']}  test images {m['num_images']} "
             f"({m['num_anomalous']} anomalous)", head, "-" * len(head)]
    for d, r in m.get("per_defect", {}).items():
        lines.append(f"{d:<16}{r['num_images']:>5}{_fmt(r['image_auroc']):>13}"
                     f"{_fmt(r['pixel_auroc']):>13}{_fmt(r['au_pro']):>12}")
    lines.append("-" * len(head))
    lines.append(f"{'all':<16}{m['num_images']:>5}{_fmt(m['image_auroc']):>13}"
                 f"{_fmt(m['pixel_auroc']):>13}{_fmt(m['au_pro']):>12}")
    return "\n".join(lines)


def _is_video_root(path: Path) -> bool:
    from mmae.data.video import detect_video_layout

    return path.is_dir() and detect_video_layout(path) is not None


def describe(path: Path, layout: str = "auto") -> dict[str, Any]:
    """JSON-able description of an image or video dataset folder."""
    if layout != "auto" or _is_video_root(path):
        from mmae.data.video import describe_video_dataset

        return describe_video_dataset(path, layout=layout)
    from mmae.data.image import describe_image_dataset

    return describe_image_dataset(path)


def format_description(info: dict[str, Any]) -> str:
    """Short text form of :func:`describe`."""
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
        if k not in ("kind", "layout"):
            lines.append(f"{k}: {json.dumps(v)[:300]}")
    return "\n".join(lines)

"""Pictures: heatmap overlays, input/reconstruction/ground-truth/heatmap grids, video curves."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from mmae.runs.checkpoint import atomic_write_bytes


def to_rgb_uint8(img: np.ndarray) -> np.ndarray:
    """HxW, HxWx1 or HxWx3 float in [0, 1] (or uint8) -> HxWx3 uint8."""
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img


def heatmap(m: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Map values to a JET colour image (HxWx3 uint8, RGB)."""
    scale = max(vmax - vmin, 1e-12)
    u8 = (np.clip((m - vmin) / scale, 0, 1) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, m: np.ndarray, vmin: float, vmax: float,
            alpha: float = 0.5) -> np.ndarray:
    """Blend a heatmap of ``m`` over ``image`` (resized to the image)."""
    rgb = to_rgb_uint8(image)
    if m.shape != rgb.shape[:2]:
        m = cv2.resize(m.astype(np.float32), (rgb.shape[1], rgb.shape[0]),
                       interpolation=cv2.INTER_LINEAR)
    heat = heatmap(m, vmin, vmax)
    return (rgb * (1 - alpha) + heat * alpha + 0.5).astype(np.uint8)


def mask_outline(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the ground-truth mask drawn in red (mask resized to the image)."""
    rgb = to_rgb_uint8(image).copy()
    if mask.shape != rgb.shape[:2]:
        mask = cv2.resize(mask.astype(np.uint8), (rgb.shape[1], rgb.shape[0]),
                          interpolation=cv2.INTER_NEAREST) > 0
    rgb[mask.astype(bool)] = (0.5 * rgb[mask.astype(bool)] + [127, 0, 0]).astype(np.uint8)
    return rgb


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 array as PNG (atomically)."""
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())


def save_grid(path: Path, rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str],
              cell: int = 128, row_labels: Sequence[str] | None = None) -> None:
    """A grid PNG: one row per sample, one column per picture, titles on top."""
    pad, head, side = 4, 16, 0 if row_labels is None else 90
    width = side + len(titles) * (cell + pad) + pad
    height = head + len(rows) * (cell + pad) + pad
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, t in enumerate(titles):
        draw.text((side + pad + j * (cell + pad), 2), t, fill=(0, 0, 0))
    for i, row in enumerate(rows):
        y = head + pad + i * (cell + pad)
        if row_labels is not None:
            draw.text((2, y + cell // 2 - 6), row_labels[i][:14], fill=(0, 0, 0))
        for j, pic in enumerate(row):
            tile = Image.fromarray(to_rgb_uint8(pic)).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile, (side + pad + j * (cell + pad), y))
    save_png(path, np.asarray(canvas))


def save_video_curve(path: Path, scores: np.ndarray, labels: np.ndarray | None,
                     title: str) -> None:
    """Per-frame anomaly score curve with anomalous frames shaded (matplotlib, Agg)."""
    save_video_curves(path, [(scores, labels, title)])


def save_video_curves(path: Path,
                      curves: Sequence[tuple[np.ndarray, np.ndarray | None, str]]) -> None:
    """One panel per video: anomaly score (1 - regularity) with anomalous frames shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(curves), 1, figsize=(8, 2.2 * len(curves) + 0.4), dpi=100,
                             squeeze=False)
    for ax, (scores, labels, title) in zip(axes[:, 0], curves):
        _curve_panel(ax, scores, labels, title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _curve_panel(ax, scores: np.ndarray, labels: np.ndarray | None, title: str) -> None:
    t = np.arange(len(scores))
    ax.plot(t, scores, lw=1.2, color="tab:blue", label="anomaly score (1 - regularity)")
    if labels is not None and np.any(labels):
        ax.fill_between(t, 0, 1, where=labels.astype(bool), color="tab:red", alpha=0.2,
                        transform=ax.get_xaxis_transform(), step="mid", label="anomalous frames")
    ax.set_xlabel("frame")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)


def save_score_plot(path: Path, scores: np.ndarray, threshold: float | None,
                    title: str) -> None:
    """Per-frame score curve of one video with the decision threshold as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.6), dpi=100)
    ax.plot(np.arange(len(scores)), scores, lw=1.2, color="tab:blue", label="score")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"threshold {threshold:.4g}")
    ax.set_xlabel("frame")
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())

"""What ``report.html`` shows, gathered from a finished evaluation (arrays and dicts only).

Each task's ``evaluate`` (``mmae test``) calls its writer in :mod:`mmae.report.write`
with what it already computed (scores, maps, masks, metrics, the PRO
curve); the only model work is the task's reconstruction of the few gallery images. The page
itself is built by :mod:`mmae.report.html` from the dataclasses below and does no model
or metric work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import roc_curve

from mmae import metrics as M
from mmae._version import __version__
from mmae.errors import DataError
from mmae.runs import checkpoint as ck

if TYPE_CHECKING:
    pass

REPORT = "report.html"
GALLERY_SIZE = 4  # images per gallery row group
_EXACT_PIXEL_ROC = 2_000_000  # above this many pixels, the pixel ROC curve is drawn from bins
_ROC_BINS = 4096


@dataclass
class Curve:
    """One curve of a plot: points and a legend label."""

    x: np.ndarray
    y: np.ndarray
    label: str


@dataclass
class GalleryItem:
    """One gallery row: input | reconstruction | heatmap | ground truth.

    Attributes:
        name: the image file name; defect: its defect type (``"good"`` for normal images).
        label: 0 normal, 1 anomalous. score: its image score.
        image: HxWxC float image in [0, 1] at model resolution; recon: its reconstruction (or
            None for a model without one). anomaly_map: HxW post-processed map.
        mask: ground-truth mask (any resolution), None where there is none.
    """

    name: str
    defect: str
    label: int
    score: float
    image: np.ndarray
    recon: np.ndarray | None
    anomaly_map: np.ndarray
    mask: np.ndarray | None


@dataclass
class Header:
    """The page header: what was evaluated, when, by which version."""

    title: str
    model: str
    run: str
    data: str
    date: str = field(
        default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    version: str = __version__


@dataclass
class ImageReport:
    """Everything the image report shows.

    Attributes:
        metrics: the ``metrics.json`` dict (overall and ``per_defect``).
        labels, scores: per test image.
        threshold: the image threshold ``mmae predict`` uses (None if the run has none) and
            ``threshold_source`` its name in ``thresholds.json``.
        roc_image: image-level ROC curves, all images first, then one per defect type.
        roc_pixel: pixel-level ROC curve (empty without masks). pro: the PRO curve up to
            ``fpr_limit`` (None where it cannot be computed).
        train_log: the records of ``train_log.jsonl``.
        gallery: section title -> rows. map_range: heatmap colour range (shared by all rows).
    """

    header: Header
    metrics: dict[str, Any]
    labels: np.ndarray
    scores: np.ndarray
    threshold: float | None
    threshold_source: str
    roc_image: list[Curve]
    roc_pixel: list[Curve]
    pro: Curve | None
    fpr_limit: float
    train_log: list[dict[str, Any]]
    gallery: dict[str, list[GalleryItem]]
    map_range: tuple[float, float]


@dataclass
class VideoReport:
    """Everything the video report shows.

    Attributes:
        metrics: the ``metrics.json`` dict. names: video names.
        scores: per video, the per-frame anomaly score (NaN where a frame is not scored).
        labels: per video, 0 / 1 per frame. train_log: the records of ``train_log.jsonl``.
    """

    header: Header
    metrics: dict[str, Any]
    names: list[str]
    scores: list[np.ndarray]
    labels: list[np.ndarray]
    train_log: list[dict[str, Any]]


def read_train_log(run: Path) -> list[dict[str, Any]]:
    """The records of ``run/train_log.jsonl`` (one per epoch; a resumed epoch keeps its last
    record); an absent file or an unreadable line gives fewer records, never an error."""
    path = Path(run) / ck.LOG
    if not path.is_file():
        return []
    by_epoch: dict[Any, dict[str, Any]] = {}
    for i, line in enumerate(path.read_text(errors="replace").splitlines()):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            by_epoch[rec.get("epoch", f"line{i}")] = rec
    return list(by_epoch.values())


def image_roc_curves(labels: np.ndarray, scores: np.ndarray, defects: list[str]) -> list[Curve]:
    """Image ROC curves: all images, then each defect type against the normal images."""
    out = []
    groups = [("all", np.ones(len(labels), dtype=bool))]
    types = sorted(set(defects) - {"good"})
    if len(types) > 1:
        groups += [(d, np.array([x in (d, "good") for x in defects])) for d in types]
    for name, sel in groups:
        y, s = labels[sel], scores[sel]
        if 0 < y.sum() < y.size:
            fpr, tpr, _ = roc_curve(y, s)
            auc = M.image_auroc(y, s)
            out.append(Curve(fpr, tpr, f"{name} (AUROC {auc:.3f})"))
    return out


def pixel_roc_curve(masks: list[np.ndarray], maps: list[np.ndarray],
                    auc: float | None) -> list[Curve]:
    """Pixel ROC curve over every pixel (maps already at their mask's resolution).

    Up to ``_EXACT_PIXEL_ROC`` pixels the exact curve; above, the curve of the scores binned
    into ``_ROC_BINS`` equal-width bins (scikit-learn's ``roc_curve`` with the bin counts as
    weights), which is exact at the bin edges and keeps memory at the maps' size.
    """
    total = sum(m.size for m in masks)
    if total <= _EXACT_PIXEL_ROC:
        y = np.concatenate([m.ravel() != 0 for m in masks])
        if not 0 < y.sum() < y.size:
            return []
        fpr, tpr, _ = roc_curve(y, np.concatenate([a.ravel() for a in maps]))
    else:
        lo = min(float(a.min()) for a in maps)
        hi = max(float(a.max()) for a in maps)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, _ROC_BINS + 1)
        pos = np.zeros(_ROC_BINS)
        neg = np.zeros(_ROC_BINS)
        for m, a in zip(masks, maps):
            gt = m.ravel() != 0
            pos += np.histogram(a.ravel()[gt], edges)[0]
            neg += np.histogram(a.ravel()[~gt], edges)[0]
        if pos.sum() == 0 or neg.sum() == 0:
            return []
        centres = 0.5 * (edges[1:] + edges[:-1])
        fpr, tpr, _ = roc_curve(np.r_[np.ones(_ROC_BINS), np.zeros(_ROC_BINS)],
                                np.r_[centres, centres], sample_weight=np.r_[pos, neg])
    label = "all pixels" + ("" if auc is None else f" (AUROC {auc:.3f})")
    return [Curve(fpr, tpr, label)]


def pro_curve_of(value: float, fpr: np.ndarray, pro: np.ndarray, fpr_limit: float) -> Curve:
    """The plotted PRO curve of an AU-PRO computed with ``return_curve``."""
    return Curve(fpr, pro, f"PRO (AU-PRO@{fpr_limit:g} {value:.3f})")


def pro_curve(masks: list[np.ndarray], maps: list[np.ndarray], fpr_limit: float) -> Curve | None:
    """The PRO curve up to ``fpr_limit`` (``mmae.metrics.au_pro``), None without regions."""
    try:
        value, fpr, pro = M.au_pro(masks, maps, fpr_limit, return_curve=True)
    except DataError:
        return None
    return pro_curve_of(value, fpr, pro, fpr_limit)


def gallery_indices(labels: np.ndarray, scores: np.ndarray,
                    k: int = GALLERY_SIZE) -> dict[str, list[int]]:
    """Indices of the worst false positives (highest-scored normal images), the worst misses
    (lowest-scored anomalous images) and the best detections (highest-scored anomalous ones)."""
    normal = np.flatnonzero(labels == 0)
    anomalous = np.flatnonzero(labels == 1)
    by_score_n = normal[np.argsort(-scores[normal], kind="stable")]
    by_score_a = anomalous[np.argsort(-scores[anomalous], kind="stable")]
    return {"Worst false positives (highest-scored normal images)": by_score_n[:k].tolist(),
            "Worst misses (lowest-scored anomalous images)": by_score_a[::-1][:k].tolist(),
            "Best detections (highest-scored anomalous images)": by_score_a[:k].tolist()}


Reconstruct = Callable[[list[int]], tuple[np.ndarray, np.ndarray | None]]
"""Dataset indices -> their inputs ``(N, H, W, C)`` and reconstructions (or None), in [0, 1]."""

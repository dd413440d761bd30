"""Writers of ``report.html`` for a finished test: gather the report data, render, write."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmae.report.data import (
    REPORT,
    GalleryItem,
    Header,
    ImageReport,
    Reconstruct,
    VideoReport,
    gallery_indices,
    image_roc_curves,
    pixel_roc_curve,
    pro_curve_of,
    read_train_log,
)
from mmae.report.html import image_report_html, video_report_html, write_report

if TYPE_CHECKING:
    from mmae.config import RunConfig
    from mmae.runs.run import Run


def write_image_report(out: Path, run: Run, cfg: RunConfig, result: dict[str, Any],
                       records: Sequence[Any], scores: np.ndarray, maps: np.ndarray,
                       masks: list[np.ndarray] | None, eval_maps: list[np.ndarray] | None,
                       pro: tuple[np.ndarray, np.ndarray] | None,
                       reconstruct: Reconstruct) -> Path:
    """Gather an image test's report data and write ``out/report.html``; returns its path.

    Only what the test computed is used; the only model work is ``reconstruct`` of the few
    gallery images.

    Args:
        out: The test output folder. run: The run (its default threshold, its training log).
        cfg: The evaluated config. result: The ``metrics.json`` dict.
        records: The test images' records (``path``, ``label``, ``defect``), in test order.
        scores: Image scores ``(N,)``. maps: Post-processed maps ``(N, S, S)``.
        masks: Ground-truth masks, and eval_maps: the maps resized to them (None without masks).
        pro: The PRO curve ``(fpr, pro)`` of the test's AU-PRO (None where there is none).
        reconstruct: The task's gallery reconstruction.
    """
    labels = np.array([r.label for r in records], dtype=np.int64)
    defects = [r.defect for r in records]
    scores = np.asarray(scores, dtype=np.float64)
    threshold, source = run.threshold()
    picks = gallery_indices(labels, scores)
    chosen = sorted({i for idx in picks.values() for i in idx})
    images, recons = reconstruct(chosen) if chosen else (None, None)
    row = {i: k for k, i in enumerate(chosen)}
    gallery = {title: [GalleryItem(
        name=Path(records[i].path).name, defect=defects[i], label=int(labels[i]),
        score=float(scores[i]), image=images[row[i]],
        recon=None if recons is None else recons[row[i]], anomaly_map=maps[i],
        mask=None if masks is None else masks[i]) for i in idx]
        for title, idx in picks.items() if idx}
    have_pixels = masks is not None and eval_maps is not None
    au_pro = result.get("au_pro")
    report = ImageReport(
        header=Header("test report", cfg.model, str(run.path), str(result.get("data", cfg.data))),
        metrics=result, labels=labels, scores=scores, threshold=threshold,
        threshold_source=source, roc_image=image_roc_curves(labels, scores, defects),
        roc_pixel=pixel_roc_curve(masks, eval_maps, result.get("pixel_auroc"))
        if have_pixels else [],
        pro=None if pro is None or au_pro is None else pro_curve_of(au_pro, *pro, cfg.fpr_limit),
        fpr_limit=cfg.fpr_limit, train_log=read_train_log(run.path), gallery=gallery,
        map_range=(0.0, float(np.percentile(maps, 99.9)) or 1.0))
    path = Path(out) / REPORT
    write_report(path, image_report_html(report))
    return path


def write_video_report(out: Path, run: Run, cfg: RunConfig, result: dict[str, Any],
                       names: list[str], scores: list[np.ndarray],
                       labels: list[np.ndarray]) -> Path:
    """Write ``out/report.html`` of a video test; returns its path.

    Args:
        out: The test output folder. run: The run (its training log). cfg: The evaluated config.
        result: The ``metrics.json`` dict. names: Video names.
        scores: Per video, the per-frame anomaly score (NaN: not scored).
        labels: Per video, 0 / 1 per frame.
    """
    report = VideoReport(
        header=Header("test report", cfg.model, str(run.path), str(result.get("data", cfg.data))),
        metrics=result, names=list(names), scores=[np.asarray(s, float) for s in scores],
        labels=[np.asarray(lab) for lab in labels], train_log=read_train_log(run.path))
    path = Path(out) / REPORT
    write_report(path, video_report_html(report))
    return path

"""Evaluation metrics: plain functions on numpy arrays (no torch, no I/O).

See docs/metrics.md for the definitions and how AU-PRO relates to the MVTec AD evaluation.
"""

from mmae.metrics.alignment import ALIGNMENT_RULES, FrameScores, clip_scores_to_frames
from mmae.metrics.aupro import au_pro
from mmae.metrics.auroc import auroc_by_ranks, image_auroc, pixel_auroc
from mmae.metrics.definitions import definitions
from mmae.metrics.f1 import f1_max
from mmae.metrics.maps import resize_map_to_mask
from mmae.metrics.summary import image_metrics, video_metrics
from mmae.metrics.threshold import Threshold, threshold_from_normal, threshold_from_validation
from mmae.metrics.video import FrameAUC, frame_auc, regularity

__all__ = [
    "ALIGNMENT_RULES",
    "FrameAUC",
    "FrameScores",
    "Threshold",
    "au_pro",
    "auroc_by_ranks",
    "clip_scores_to_frames",
    "definitions",
    "f1_max",
    "frame_auc",
    "image_auroc",
    "image_metrics",
    "pixel_auroc",
    "regularity",
    "resize_map_to_mask",
    "threshold_from_normal",
    "threshold_from_validation",
    "video_metrics",
]

"""The metric definitions in force, as a JSON-able dict for ``metrics.json``."""

from __future__ import annotations

from mmae.errors import ConfigError
from mmae.metrics.alignment import ALIGNMENT_RULES
from mmae.metrics.maps import MAP_RESIZE_RULE
from mmae.metrics.video import NORMALISATION


def definitions(
    fpr_limit: float = 0.3,
    alignment: str | None = None,
    clip_length: int = 16,
    stride: int = 1,
    threshold_percentile: float = 99.0,
) -> dict[str, object]:
    """Describe how the metrics were computed, for ``metrics.json``.

    Args:
        fpr_limit: the AU-PRO integration limit used.
        alignment: the clip-to-frame rule used (``"mean"`` or ``"center"``) for video runs, or
            None for image runs (the video entry is then omitted).
        clip_length: clip length of the video model (video runs only).
        stride: clip stride used at test time (video runs only).
        threshold_percentile: percentile used for normal-only thresholds.

    Returns:
        A nested dict of plain strings and numbers.
    """
    out: dict[str, object] = {
        "au_pro": {
            "fpr_limit": float(fpr_limit),
            "normalized": "area under PRO(FPR) from 0 to fpr_limit divided by fpr_limit",
            "regions": "8-connected components of each mask (any non-zero value is anomalous)",
            "thresholds": "every distinct score (exact, no binning); ties merged",
            "integration": "trapezoid rule, linear interpolation at fpr_limit, float64",
            "reference": "MVTec AD official evaluation (FPR kept in float64, not float32)",
        },
        "evaluation_resolution": "each ground-truth mask's own resolution",
        "map_resize": MAP_RESIZE_RULE,
        "pixel_auroc": "ROC AUC over all pixels at mask resolution (exact; ties count 1/2)",
        "image_auroc": "ROC AUC of image scores (scikit-learn roc_auc_score)",
        "f1_max": "max F1 over all thresholds (precision_recall_curve); predict score >= threshold",
        "threshold": {
            "decision": "anomalous if score >= threshold",
            "from_validation": "F1-max threshold on labelled validation data",
            "fallback": (
                f"no anomalies in validation: {threshold_percentile:g}th percentile of the normal "
                "scores (moved above ties so not every normal sample is flagged)"
            ),
            "percentile": float(threshold_percentile),
        },
    }
    if alignment is not None:
        if alignment not in ALIGNMENT_RULES:
            raise ConfigError(f"unknown alignment rule {alignment!r}")
        out["video"] = {
            "frame_auc": "micro: all videos' frames concatenated, one ROC AUC (papers' number)",
            "frame_auc_macro": "mean of per-video AUCs; single-class videos skipped and listed",
            "normalisation": NORMALISATION,
            "alignment": alignment,
            "alignment_rule": ALIGNMENT_RULES[alignment],
            "clip_length": int(clip_length),
            "stride": int(stride),
            "dropped_frames": "frames without a score are left out of the AUC",
        }
    return out

"""One-call metric summaries for ``mmae test`` (JSON-able dicts for ``metrics.json``).

A metric that the data cannot give (e.g. AU-PRO on a test set without anomalous pixels) is
recorded as ``None`` with the reason in ``"notes"``, never as a silent number; inconsistent input
(lengths, NaN scores) raises :class:`mmae.errors.DataError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from mmae.errors import DataError
from mmae.metrics._checks import labels_and_scores
from mmae.metrics.aupro import au_pro
from mmae.metrics.auroc import image_auroc, pixel_auroc
from mmae.metrics.definitions import definitions
from mmae.metrics.f1 import f1_max
from mmae.metrics.maps import paired_masks_and_maps
from mmae.metrics.video import FrameAUC, frame_auc

T = TypeVar("T")


def _attempt(name: str, fn: Callable[[], T], notes: list[str]) -> T | None:
    try:
        return fn()
    except DataError as err:
        notes.append(f"{name}: not computed: {err}")
        return None


def image_metrics(
    labels: object,
    scores: object,
    masks: object = None,
    maps: object = None,
    fpr_limit: float = 0.3,
    return_curve: bool = False,
) -> dict[str, object]:
    """Image-level and (with masks and maps) pixel-level metrics of an image test set.

    Args:
        labels: 0 / 1 per test image.
        scores: anomaly score per test image.
        masks: optional sequence of HxW ground-truth masks (all-zero for good images).
        maps: optional sequence of anomaly maps, one per mask (resized to the mask if needed).
        fpr_limit: AU-PRO integration limit.
        return_curve: also return the PRO curve of the AU-PRO (computed once, in the same pass).

    Returns:
        ``{"image_auroc", "image_f1_max", "image_f1_threshold", "pixel_auroc", "au_pro",
        "notes", "definitions"}``; an entry the data cannot give (one class only, no masks) is
        None and ``notes`` says why. With ``return_curve`` also ``"pro_curve"``: ``(fpr, pro)``
        as :func:`au_pro` returns it, or None with the AU-PRO (not JSON-able: pop it first).

    Raises:
        DataError: inconsistent input (lengths differ, non-finite scores or maps).
    """
    y, _ = labels_and_scores(labels, scores)
    if masks is not None and maps is not None:
        mask_list, _, _ = paired_masks_and_maps(masks, maps)
        if len(mask_list) != y.size:
            raise DataError(f"{y.size} image labels but {len(mask_list)} masks")
    notes: list[str] = []
    out: dict[str, object] = {
        "image_auroc": _attempt("image_auroc", lambda: image_auroc(labels, scores), notes)
    }
    f1 = _attempt("image_f1_max", lambda: f1_max(labels, scores), notes)
    out["image_f1_max"], out["image_f1_threshold"] = f1 if f1 is not None else (None, None)
    if masks is not None and maps is not None:
        out["pixel_auroc"] = _attempt("pixel_auroc", lambda: pixel_auroc(masks, maps), notes)
        pro = _attempt("au_pro", lambda: au_pro(masks, maps, fpr_limit, return_curve=True),
                       notes)
        out["au_pro"] = None if pro is None else pro[0]
        curve = None if pro is None else (pro[1], pro[2])
    else:
        out["pixel_auroc"] = out["au_pro"] = curve = None
        notes.append("pixel metrics: not computed: no ground-truth masks")
    out["notes"] = notes
    out["definitions"] = definitions(fpr_limit=fpr_limit)
    if return_curve:
        out["pro_curve"] = curve
    return out


def video_metrics(
    frame_labels: Sequence[object],
    frame_scores: Sequence[object],
    alignment: str = "mean",
    clip_length: int = 16,
    stride: int = 1,
) -> dict[str, object]:
    """Frame-level metrics of a video test set (ground truth first).

    Args:
        frame_labels: per video, (T,) 0 / 1 frame labels.
        frame_scores: per video, (T,) frame scores (NaN = frame not scored), e.g. from
            :func:`mmae.metrics.clip_scores_to_frames`.
        alignment, clip_length, stride: how the frame scores were made (recorded only).

    Returns:
        ``{"frame_auc", "frame_auc_macro", "per_video_auc", "skipped_videos", "frames_used",
        "frames_dropped", "notes", "definitions"}``; a value the data cannot give (e.g. no
        anomalous frame) is None and ``notes`` says why.

    Raises:
        DataError: inconsistent input (lengths differ, infinite scores).
    """
    if len(frame_scores) != len(frame_labels):
        raise DataError(f"{len(frame_scores)} score sequences but {len(frame_labels)} label ones")
    for i, (e, y) in enumerate(zip(frame_scores, frame_labels, strict=True)):
        e, y = np.asarray(e), np.asarray(y)
        if e.shape != y.shape or e.ndim != 1:
            raise DataError(f"video {i}: {e.shape} scores but {y.shape} labels; expected (T,) each")
        if e.dtype.kind == "f" and np.isinf(e).any():
            raise DataError(f"video {i}: scores contain an infinite value")
    notes: list[str] = []
    micro = _attempt("frame_auc", lambda: frame_auc(frame_labels, frame_scores, "micro"), notes)
    macro = _attempt(
        "frame_auc_macro", lambda: frame_auc(frame_labels, frame_scores, "macro"), notes
    )
    ref: FrameAUC | None = micro if micro is not None else macro
    out: dict[str, object] = {
        "frame_auc": micro.value if micro is not None else None,
        "frame_auc_macro": macro.value if macro is not None else None,
        "per_video_auc": list(macro.per_video) if macro is not None else None,
        "skipped_videos": list(macro.skipped) if macro is not None else None,
        "frames_used": ref.frames_used if ref is not None else 0,
        "frames_dropped": ref.frames_dropped if ref is not None else 0,
    }
    if macro is not None and macro.skipped:
        skipped = ", ".join(str(i) for i in macro.skipped)
        notes.append(f"frame_auc_macro: videos without both classes skipped: {skipped}")
    out["notes"] = notes
    out["definitions"] = definitions(alignment=alignment, clip_length=clip_length, stride=stride)
    return out

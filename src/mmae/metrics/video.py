"""Frame-level ROC AUC for video anomaly detection.

Per video, the frame errors e are min-max normalised into a regularity score
s = 1 - (e - min) / (max - min); if max == min (constant error) the normalised error is defined as
0, i.e. s = 1 for every frame of that video. Frames whose score is NaN were not scored (see
:func:`mmae.metrics.clip_scores_to_frames`) and are left out, with their labels; min and max are
taken over the scored frames.

* ``"micro"`` (the number papers report): all videos' frames concatenated, one ROC AUC with
  anomaly as positive class and 1 - s as score.
* ``"macro"``: ROC AUC per video (on 1 - s), averaged over videos. A video whose scored frames are
  all normal or all anomalous (e.g. UCSD Ped2 test videos 8-11) has no AUC: it is skipped and
  listed in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from mmae.errors import ConfigError, DataError
from mmae.metrics._checks import as_labels, as_real_array

NORMALISATION = (
    "per video min-max: s = 1 - (e - min) / (max - min) over scored frames; s = 1 when max == min; "
    "score 1 - s, anomaly positive"
)


@dataclass(frozen=True)
class FrameAUC:
    """Result of :func:`frame_auc` (``float(r)`` gives the value).

    Attributes:
        value: the micro or macro frame AUC.
        average: ``"micro"`` or ``"macro"``.
        per_video: AUC of each video (None where skipped); filled for ``"macro"`` only.
        skipped: indices of videos left out of the macro average (single-class or no scored
            frame) or, for ``"micro"``, of videos without any scored frame.
        frames_used: number of scored frames evaluated.
        frames_dropped: number of frames left out because their score is NaN.
    """

    value: float
    average: str
    per_video: tuple[float | None, ...]
    skipped: tuple[int, ...]
    frames_used: int
    frames_dropped: int

    def __float__(self) -> float:
        return self.value

    def as_dict(self) -> dict[str, object]:
        """JSON-able dict for metrics.json."""
        return asdict(self)


def regularity(errors: np.ndarray) -> np.ndarray:
    """Min-max regularity score s = 1 - (e - min) / (max - min) of one video; 1 if max == min."""
    e = np.asarray(errors, dtype=np.float64)
    if e.size == 0:
        return e.copy()
    lo, hi = e.min(), e.max()
    if hi == lo:
        return np.ones_like(e)
    return 1.0 - (e - lo) / (hi - lo)


def frame_auc(
    labels: Sequence[object], scores: Sequence[object], average: str = "micro"
) -> FrameAUC:
    """Frame-level ROC AUC over test videos (ground truth first, as in scikit-learn).

    Args:
        labels: per video, a (T,) array of 0 (normal) / 1 (anomalous) frame labels.
        scores: per video, a (T,) array of per-frame anomaly scores (reconstruction errors);
            NaN marks a frame that was not scored.
        average: ``"micro"`` (all frames together) or ``"macro"`` (mean of per-video AUCs).

    Returns:
        A :class:`FrameAUC`.

    Raises:
        DataError: mismatched lengths, infinite scores, or no video / frame set with both classes.
        ConfigError: an unknown ``average``.
    """
    if average not in ("micro", "macro"):
        raise ConfigError(f"average must be 'micro' or 'macro', got {average!r}")
    if len(scores) != len(labels):
        raise DataError(f"{len(scores)} score sequences but {len(labels)} label sequences")
    if len(scores) == 0:
        raise DataError("frame AUC: no video given")
    videos, skipped, dropped = [], [], 0
    for i, (e_raw, y_raw) in enumerate(zip(scores, labels, strict=True)):
        e = as_real_array(e_raw, f"scores[{i}]").astype(np.float64, copy=False)
        y = as_labels(y_raw, f"labels[{i}]")
        if e.ndim != 1 or e.shape != y.shape:
            raise DataError(f"video {i}: {e.shape} scores but {y.shape} labels; expected (T,) each")
        if np.isinf(e).any():
            raise DataError(f"video {i}: scores contain an infinite value")
        scored = ~np.isnan(e)
        dropped += int(e.size - np.count_nonzero(scored))
        if not scored.any():
            skipped.append(i)
            videos.append(None)
            continue
        videos.append((1.0 - regularity(e[scored]), y[scored]))

    used = [v for v in videos if v is not None]
    frames_used = sum(v[0].size for v in used)
    if average == "micro":
        score = np.concatenate([v[0] for v in used]) if used else np.empty(0)
        y = np.concatenate([v[1] for v in used]) if used else np.empty(0, dtype=bool)
        if not used or y.all() or not y.any():
            raise DataError(
                "micro frame AUC: the scored frames need both normal and anomalous ones"
            )
        value = float(roc_auc_score(y, score))
        return FrameAUC(value, average, (), tuple(skipped), frames_used, dropped)

    per_video: list[float | None] = []
    for i, v in enumerate(videos):
        if v is None or v[1].all() or not v[1].any():
            per_video.append(None)
            if i not in skipped:
                skipped.append(i)
            continue
        per_video.append(float(roc_auc_score(v[1], v[0])))
    aucs = [a for a in per_video if a is not None]
    if not aucs:
        raise DataError("macro frame AUC: no video has both normal and anomalous scored frames")
    return FrameAUC(
        float(np.mean(aucs)),
        average,
        tuple(per_video),
        tuple(sorted(skipped)),
        frames_used,
        dropped,
    )

"""F1-max: the best F1 score over all thresholds, and the threshold that reaches it."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

from mmae.errors import DataError
from mmae.metrics._checks import labels_and_scores


def f1_max(labels: object, scores: object) -> tuple[float, float]:
    """Maximum F1 over all thresholds (scikit-learn ``precision_recall_curve``).

    A sample is predicted anomalous when ``score >= threshold``.

    Args:
        labels: 0 (normal) / 1 (anomalous) per sample.
        scores: finite anomaly scores (higher = more anomalous).

    Returns:
        ``(f1, threshold)``: the best F1 and the threshold reaching it; among thresholds with the
        same best F1 the highest one (fewest samples flagged).

    Raises:
        DataError: different lengths, non-finite scores, or no anomalous sample (F1 undefined).
    """
    y, s = labels_and_scores(labels, scores)
    if not y.any():
        raise DataError("F1-max: no anomalous sample, F1 is undefined")
    precision, recall, thresholds = precision_recall_curve(y, s)
    p, r = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    best = len(f1) - 1 - int(np.argmax(f1[::-1]))  # thresholds ascend: last max = highest
    return float(f1[best]), float(thresholds[best])

"""Decision thresholds for ``predict``: from labelled validation data or from normal data only.

A sample (image or pixel) is predicted anomalous when ``score >= threshold``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mmae.errors import ConfigError, DataError
from mmae.metrics._checks import as_scores, labels_and_scores
from mmae.metrics.f1 import f1_max


@dataclass(frozen=True)
class Threshold:
    """A decision threshold and how it was chosen (``float(t)`` gives the value).

    Attributes:
        value: predict anomalous when ``score >= value``.
        rule: ``"f1_max"`` (labelled validation data) or ``"normal_percentile"``.
        percentile: the percentile used by ``"normal_percentile"``, else None.
        f1: the validation F1 reached by ``"f1_max"``, else None.
        note: why a fallback was taken, else None.
    """

    value: float
    rule: str
    percentile: float | None = None
    f1: float | None = None
    note: str | None = None

    def __float__(self) -> float:
        return self.value

    def as_dict(self) -> dict[str, object]:
        """JSON-able dict, e.g. for the run folder."""
        return asdict(self)


def threshold_from_normal(scores: object, percentile: float = 99.0) -> Threshold:
    """Threshold at a percentile of normal scores (linear interpolation, ``numpy.percentile``).

    The threshold is moved to the next float above that value if it would flag every given score
    (e.g. all scores equal, or a single score), or if several scores tie at it and together they
    would flag more than ``100 - percentile`` % of the scores (discrete scores). So a set of
    normal scores never gives a threshold that flags all of them.

    Args:
        scores: finite scores of normal samples.
        percentile: in (0, 100].

    Returns:
        A :class:`Threshold` with rule ``"normal_percentile"``.

    Raises:
        DataError: empty or non-finite scores. ConfigError: percentile outside (0, 100].
    """
    s = as_scores(scores, "normal scores")
    if s.size == 0:
        raise DataError("normal scores are empty; cannot choose a threshold")
    p = float(percentile)
    if not 0.0 < p <= 100.0:
        raise ConfigError(f"percentile must be in (0, 100], got {percentile!r}")
    s = s.astype(np.float64, copy=False)
    value = float(np.percentile(s, p))
    flagged = np.count_nonzero(s >= value)
    ties = np.count_nonzero(s == value)
    if flagged == s.size or (ties > 1 and flagged > (100.0 - p) / 100.0 * s.size):
        value = float(np.nextafter(value, np.inf))
    return Threshold(value=value, rule="normal_percentile", percentile=p)


def threshold_from_validation(
    labels: object, scores: object, percentile: float = 99.0
) -> Threshold:
    """Threshold maximising F1 on labelled validation data.

    A validation set without anomalies has no F1; it falls back to
    :func:`threshold_from_normal` at ``percentile`` (recorded in ``note``), so it never returns a
    threshold that flags every validation sample.

    Args:
        labels: 0 (normal) / 1 (anomalous) per validation sample.
        scores: finite scores of the same samples.
        percentile: used only for the fallback.

    Returns:
        A :class:`Threshold` with rule ``"f1_max"`` or, as fallback, ``"normal_percentile"``.

    Raises:
        DataError: different lengths, empty or non-finite scores.
    """
    y, s = labels_and_scores(labels, scores)
    if not y.any():
        fallback = threshold_from_normal(s, percentile)
        note = "validation set has no anomalies: percentile of its (normal) scores"
        return Threshold(fallback.value, fallback.rule, fallback.percentile, note=note)
    f1, value = f1_max(y, s)
    return Threshold(value=value, rule="f1_max", f1=f1)

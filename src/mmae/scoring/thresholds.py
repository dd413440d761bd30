"""The threshold policy: one default threshold per run, chosen on held-out normal data.

After training, the scores of the validation split (``val_fraction`` of the training images, or
whole training videos) give the ``normal`` threshold: the ``threshold_percentile``-th percentile of
those normal scores, i.e. a stated false-positive rate of ``(100 - threshold_percentile)`` % on
normal data (1 % by default). It is the default of ``mmae predict``, the Detector, video
prediction and the ONNX metadata. ``mmae test`` adds an ``f1`` threshold (F1-max on the labelled
test set) for reference; it is used only when asked for (``--threshold-rule f1``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmae import metrics as M
from mmae.errors import ConfigError

RULES = ("normal", "f1")
DEFAULT_RULE = "normal"


def normal_threshold(scores: np.ndarray, percentile: float, split: str) -> dict[str, Any]:
    """The ``normal`` threshold entry from held-out normal scores.

    Args:
        scores: Scores of normal samples (NaN entries are left out).
        percentile: Percentile of those scores; the false-positive rate is ``100 - percentile`` %.
        split: Where the scores come from (``"validation"`` or ``"train"``), recorded.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    return {"value": float(M.threshold_from_normal(s, percentile)), "method": "normal_percentile",
            "percentile": float(percentile),
            "false_positive_rate": round((100.0 - float(percentile)) / 100.0, 6),
            "split": split, "num_scores": int(s.size)}


def choose_threshold(stored: dict[str, Any], rule: str | None = None,
                     value: float | None = None) -> tuple[float | None, str]:
    """The image (or frame) threshold to use, and where it comes from.

    Args:
        stored: The run's ``thresholds.json``.
        rule: ``normal`` or ``f1``; None: the run's default (``stored["default"]``).
        value: An explicit threshold; wins over ``rule``.

    Returns:
        ``(threshold, source)``; threshold None (source ``"none"``) when the run has none.

    Raises:
        ConfigError: an unknown rule, or ``f1`` for a run that ``mmae test`` has not evaluated.
    """
    if value is not None:
        return float(value), "--threshold"
    rule = rule or stored.get("default", DEFAULT_RULE)
    if rule not in RULES:
        raise ConfigError(f"--threshold-rule {rule!r}: choose one of {', '.join(RULES)}")
    entry = stored.get(rule) or stored.get({"normal": "image_normal",
                                            "f1": "image_validation"}[rule])
    if entry is None:
        if rule == "f1":
            raise ConfigError("--threshold-rule f1: this run has no F1 threshold yet; run "
                              "`mmae test` on labelled data first")
        return None, "none"
    return float(entry["value"]), rule

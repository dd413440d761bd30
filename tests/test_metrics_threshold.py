"""Thresholds from labelled validation data (F1-max) and from normal-only data (percentile)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmae.errors import ConfigError, DataError
from mmae.metrics import Threshold, f1_max, threshold_from_normal, threshold_from_validation


def test_percentile_of_normal_scores():
    scores = np.arange(101, dtype=float)  # 0..100: the 99th percentile is 99
    t = threshold_from_normal(scores)
    assert (t.value, t.rule, t.percentile) == (99.0, "normal_percentile", 99.0)
    assert float(t) == 99.0
    assert threshold_from_normal(scores, percentile=90).value == 90.0
    assert threshold_from_normal([0.0, 1.0], percentile=50).value == 0.5  # linear interpolation
    assert threshold_from_normal([1.0, 2.0, 3.0], percentile=50).value == 2.0  # no tie: kept
    assert threshold_from_normal([5.0]).value == np.nextafter(5.0, np.inf)  # would flag all


def test_ties_never_flag_every_normal_score():
    t = threshold_from_normal(np.full(50, 3.0))
    assert t.value > 3.0 and t.value == np.nextafter(3.0, np.inf)
    assert not np.any(np.full(50, 3.0) >= t.value)
    # A tie at the 99th percentile that would flag 3 of 100: moved above the ties.
    scores = np.concatenate([np.arange(97.0), [200.0, 200.0, 200.0]])
    t = threshold_from_normal(scores)
    assert np.count_nonzero(scores >= t.value) == 0


@pytest.mark.parametrize("seed", range(20))
def test_normal_only_validation_never_flags_everything(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    levels = int(rng.integers(1, 5))
    scores = rng.integers(0, levels, n).astype(float) if seed % 2 else rng.random(n)
    t = threshold_from_validation(np.zeros(n, dtype=int), scores)
    assert t.rule == "normal_percentile" and t.percentile == 99.0 and "no anomalies" in t.note
    assert np.count_nonzero(scores >= t.value) < n
    if seed % 2 == 0 and n >= 100:  # continuous scores: about 1 % flagged
        assert np.count_nonzero(scores >= t.value) <= 0.01 * n + 1


def test_validation_with_anomalies_uses_f1_max():
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.2, 0.8, 0.9]
    t = threshold_from_validation(labels, scores)
    f1, thr = f1_max(labels, scores)
    assert (t.rule, t.value, t.f1, t.note) == ("f1_max", thr, f1, None)
    assert t.value == 0.35 and t.f1 == pytest.approx(6 / 7)


def test_threshold_is_json_able():
    t = threshold_from_validation([0, 0, 0], [1.0, 2.0, 3.0], percentile=50)
    d = json.loads(json.dumps(t.as_dict()))
    assert d["rule"] == "normal_percentile" and d["value"] == 2.0 and d["percentile"] == 50.0
    assert Threshold(**d) == t


def test_threshold_errors():
    with pytest.raises(ConfigError, match="percentile"):
        threshold_from_normal([1.0, 2.0], percentile=0)
    with pytest.raises(ConfigError, match="percentile"):
        threshold_from_normal([1.0, 2.0], percentile=101)
    with pytest.raises(DataError, match="empty"):
        threshold_from_normal([])
    with pytest.raises(DataError, match="NaN"):
        threshold_from_normal([1.0, np.nan])
    with pytest.raises(DataError, match="differ in length"):
        threshold_from_validation([0, 1], [1.0])

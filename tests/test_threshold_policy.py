"""The threshold policy: the validation split, the default rule, explicit choices."""

from __future__ import annotations

import numpy as np
import pytest

from mmae.engine.tasks.base import holdout
from mmae.engine.thresholds import choose_threshold, normal_threshold
from mmae.errors import ConfigError


def test_holdout_split():
    idx = holdout(50, 0.1, seed=0)
    assert idx.size == 5 and len(set(idx)) == 5 and (idx < 50).all()
    np.testing.assert_array_equal(idx, holdout(50, 0.1, seed=0))  # deterministic
    assert not np.array_equal(idx, holdout(50, 0.1, seed=1))
    assert holdout(12, 0.1, seed=0).size == 2  # ceil(1.2): small folders still get one
    assert holdout(3, 0.1, seed=0).size == 0  # tiny folders keep every image for training
    assert holdout(50, 0.0, seed=0).size == 0
    assert holdout(5, 0.9, seed=0).size == 4  # always leaves one image to train on


def test_normal_threshold_states_its_false_positive_rate():
    scores = np.arange(1, 201, dtype=float)  # 200 normal scores
    t = normal_threshold(scores, 99.0, "validation")
    assert t["false_positive_rate"] == 0.01 and t["split"] == "validation"
    assert (scores >= t["value"]).mean() <= 0.01 + 1e-12
    assert t["value"] == pytest.approx(np.percentile(scores, 99))
    assert normal_threshold(np.r_[scores, np.nan], 99.0, "train")["num_scores"] == 200


def test_choose_threshold():
    stored = {"default": "normal", "normal": {"value": 0.5}, "f1": {"value": 0.7}}
    assert choose_threshold(stored) == (0.5, "normal")
    assert choose_threshold(stored, "f1") == (0.7, "f1")
    assert choose_threshold(stored, "f1", 0.9) == (0.9, "--threshold")
    assert choose_threshold({}) == (None, "none")
    # runs written by earlier versions
    assert choose_threshold({"image_normal": {"value": 0.4},
                             "image_validation": {"value": 0.6}}) == (0.4, "normal")
    with pytest.raises(ConfigError, match="run `mmae test`"):
        choose_threshold({"normal": {"value": 0.5}}, "f1")
    with pytest.raises(ConfigError, match="choose one of"):
        choose_threshold(stored, "youden")

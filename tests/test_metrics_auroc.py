"""Image / pixel AUROC and F1-max against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import mmae.metrics.auroc as auroc_mod
from mmae.errors import DataError
from mmae.metrics import auroc_by_ranks, f1_max, image_auroc, pixel_auroc, resize_map_to_mask


def test_image_auroc_oracle():
    # pairs (pos, neg): (.8,.1) win, (.8,.4) win, (.4,.1) win, (.4,.4) tie -> (3 + .5) / 4
    assert image_auroc([1, 0, 1, 0], [0.8, 0.1, 0.4, 0.4]) == pytest.approx(0.875, abs=1e-15)
    assert image_auroc(np.array([True, False]), [0.0, 1.0]) == 0.0


@pytest.mark.parametrize("seed", range(40))
def test_auroc_by_ranks_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 3000))
    kind = seed % 4
    if kind == 0:
        s = rng.random(n).astype(np.float32)
    elif kind == 1:
        s = rng.integers(0, 5, n).astype(np.float64)  # heavy ties
    elif kind == 2:
        s = rng.integers(0, 256, n).astype(np.uint8).astype(np.float32)
    else:
        s = rng.normal(size=n)
    y = rng.random(n) < rng.uniform(0.05, 0.95)
    y[0], y[1] = True, False
    s = s + y * rng.uniform(0, 1)
    expected = roc_auc_score(y, s)
    assert abs(auroc_by_ranks(s[y], s[~y]) - expected) <= 1e-10
    neg = s[~y].copy()
    assert abs(auroc_by_ranks(s[y], neg, sort_in_place=True) - expected) <= 1e-10
    assert np.all(np.diff(neg) >= 0)


def _pixel_case(seed):
    rng = np.random.default_rng(seed)
    masks, maps = [], []
    for i in range(4):
        shape = (int(rng.integers(5, 30)), int(rng.integers(5, 30)))
        mask = (rng.random(shape) < 0.1).astype(np.uint8) * 255 if i else np.zeros(shape, np.uint8)
        amap = rng.integers(0, 20, shape).astype(np.float32) + 3 * (mask > 0)
        if i == 3:  # a map of another size than its mask
            amap = rng.random((7, 9)).astype(np.float32)
        masks.append(mask)
        maps.append(amap)
    masks[1][0, 0] = 255
    return masks, maps


@pytest.mark.parametrize("seed", range(10))
def test_pixel_auroc_both_paths_match_sklearn(seed, monkeypatch):
    masks, maps = _pixel_case(seed)
    y = np.concatenate([m.ravel() != 0 for m in masks])
    s = np.concatenate(
        [resize_map_to_mask(a, m.shape).ravel() for m, a in zip(masks, maps, strict=True)]
    )
    expected = roc_auc_score(y, s)
    assert abs(pixel_auroc(masks, maps) - expected) <= 1e-10
    monkeypatch.setattr(auroc_mod, "SKLEARN_MAX_PIXELS", 0)  # the large-input path
    monkeypatch.setattr(auroc_mod, "_CHUNK", 7)
    assert abs(pixel_auroc(masks, maps) - expected) <= 1e-10


def test_auroc_errors():
    with pytest.raises(DataError, match="no anomalous"):
        image_auroc([0, 0], [1.0, 2.0])
    with pytest.raises(DataError, match="no normal"):
        image_auroc([1, 1], [1.0, 2.0])
    with pytest.raises(DataError, match="differ in length"):
        image_auroc([0, 1, 1], [1.0, 2.0])
    with pytest.raises(DataError, match="NaN"):
        image_auroc([0, 1], [np.nan, 2.0])
    with pytest.raises(DataError, match="0 \\(normal\\) / 1"):
        image_auroc([0, 2], [1.0, 2.0])
    with pytest.raises(DataError, match="no anomalous pixel"):
        pixel_auroc([np.zeros((3, 3))], [np.zeros((3, 3))])
    with pytest.raises(DataError, match="infinite"):
        pixel_auroc([np.eye(3)], [np.full((3, 3), -np.inf)])


def test_f1_max_oracle():
    # scores .9 .8 .7 .6 labels 1 0 1 0: thresholds .9 -> F1 2/3; .8 -> 1/2; .7 -> 4/5; .6 -> 2/3
    f1, thr = f1_max([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6])
    assert f1 == pytest.approx(0.8, abs=1e-15)
    assert thr == 0.7


def test_f1_max_prefers_highest_threshold_among_equal_f1():
    # t=3: P=1, R=.5 -> 2/3; t=2: P=1/2, R=1/2 -> 1/2; t=1: P=2/3, R=1 -> 4/5 (the max)
    assert f1_max([1, 1, 0, 0], [3.0, 1.0, 2.0, 0.0]) == (pytest.approx(0.8), 1.0)
    # t=4: P=1, R=.5 -> 2/3; t=3: P=.5, R=.5 -> .5; t=2: P=.5, R=1 -> 2/3: tie -> highest, 4
    assert f1_max([1, 0, 1, 0], [4.0, 3.0, 2.0, 2.0]) == (pytest.approx(2 / 3), 4.0)


def _f1(y, pred):
    """F1 = 2 TP / (#anomalous + #predicted), by definition."""
    return 2 * np.count_nonzero(y & pred) / (np.count_nonzero(y) + np.count_nonzero(pred))


@pytest.mark.parametrize("seed", range(10))
def test_f1_max_is_the_best_f1_over_all_thresholds(seed):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 30, 200).astype(float)
    y = rng.random(200) < 0.3
    y[0] = True
    s += 5 * y
    f1, thr = f1_max(y, s)
    best = max(_f1(y, s >= t) for t in np.unique(s))
    assert f1 == pytest.approx(best, abs=1e-12)
    assert _f1(y, s >= thr) == pytest.approx(f1, abs=1e-12)


def test_f1_max_needs_an_anomaly():
    with pytest.raises(DataError, match="no anomalous"):
        f1_max([0, 0, 0], [1.0, 2.0, 3.0])

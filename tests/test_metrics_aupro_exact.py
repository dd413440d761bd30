"""AU-PRO exactness: mmae.metrics.au_pro against a slow, literal reference on many random cases.

``reference_au_pro`` transcribes the published MVTec AD algorithm step by step (one argsort of all
pixels, cumulative sums of per-pixel FPR / PRO increments, keep the last point of each run of equal
scores, prepend (0, 0), trapezoid with linear interpolation at the limit). The benchmark
``benchmarks/bench_aupro.py`` imports it from here.
"""

from __future__ import annotations

from bisect import bisect

import cv2
import numpy as np
import pytest
from scipy import ndimage

import mmae.metrics.aupro as aupro_mod
from mmae.errors import ConfigError
from mmae.metrics import au_pro


def reference_trapezoid(x, y, x_max):
    """The MVTec AD ``trapezoid``: area up to x_max with linear interpolation at x_max."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    correction = 0.0
    if x_max not in x:
        ins = bisect(x, x_max)
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    mask = x <= x_max
    x, y = x[mask], y[mask]
    return np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction


def reference_au_pro(masks, maps, fpr_limit=0.3, official_float32_fpr=False):
    """Slow, obviously correct AU-PRO (one argsort of all pixels), float64 throughout.

    With ``official_float32_fpr`` the FPRs are rounded to float32 as the official script stores
    them (``fp_changes.astype(np.float32)``).
    """
    dtype = np.result_type(np.float32, *(np.asarray(m).dtype for m in maps))
    scores, fp_inc, pro_inc = [], [], []
    num_normal = num_regions = 0
    for mask, amap in zip(masks, maps, strict=True):
        mask = np.asarray(mask)
        amap = np.asarray(amap).astype(dtype)
        if amap.shape != mask.shape:
            amap = cv2.resize(amap, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_LINEAR)
        labeled, n = ndimage.label(mask != 0, structure=np.ones((3, 3), dtype=int))
        num_regions += n
        normal = labeled == 0
        num_normal += int(normal.sum())
        pro = np.zeros(mask.shape, dtype=np.float64)
        for c in range(1, n + 1):
            region = labeled == c
            pro[region] = 1.0 / region.sum()
        scores.append(amap.ravel())
        fp_inc.append(normal.ravel().astype(np.int64))
        pro_inc.append(pro.ravel())
    scores = np.concatenate(scores)
    fp_inc = np.concatenate(fp_inc)
    pro_inc = np.concatenate(pro_inc)
    del masks, maps

    order = np.argsort(scores)[::-1]
    sorted_scores = scores[order]
    fprs = np.cumsum(fp_inc[order])
    if official_float32_fpr:
        fprs = (fprs.astype(np.float32) / num_normal).astype(np.float32).astype(np.float64)
    else:
        fprs = fprs / num_normal
    del fp_inc
    pros = np.cumsum(pro_inc[order]) / num_regions
    del order, pro_inc
    keep = np.append(np.diff(sorted_scores) != 0, True)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    fprs = np.concatenate(([0.0], fprs))
    pros = np.concatenate(([0.0], pros))
    return reference_trapezoid(fprs, pros, fpr_limit) / fpr_limit


# ---------------------------------------------------------------------------------------------
# random cases


def _blob_mask(rng, h, w):
    """A mask with a few random blobs, lines and single pixels (0/1 uint8)."""
    mask = np.zeros((h, w), dtype=np.uint8)
    for _ in range(rng.integers(1, 4)):
        kind = rng.integers(0, 4)
        r, c = rng.integers(0, h), rng.integers(0, w)
        if kind == 0:  # rectangle blob
            mask[r : r + rng.integers(1, 6), c : c + rng.integers(1, 6)] = 1
        elif kind == 1:  # diagonal scratch: pixels touching only at corners
            for t in range(rng.integers(2, 8)):
                if r + t < h and c + t < w:
                    mask[r + t, c + t] = 1
        elif kind == 2:  # single pixel
            mask[r, c] = 1
        else:  # sparse speckle: many one-pixel and diagonal-touching regions
            mask |= (rng.random((h, w)) < 0.05).astype(np.uint8)
    return mask


def _scores(rng, mask, kind, shape):
    h, w = shape
    if kind == "continuous":
        amap = rng.random((h, w)).astype(np.float32)
    elif kind == "uint8":
        amap = rng.integers(0, 256, (h, w)).astype(np.uint8)
    elif kind == "ties":
        amap = rng.integers(0, 4, (h, w)).astype(np.float64)
    else:  # "float64"
        amap = rng.normal(size=(h, w))
    if shape == mask.shape:  # make anomalies score higher on average, as real maps do
        boost = {"continuous": 0.5, "uint8": 60, "ties": 1, "float64": 1.0}[kind]
        amap = amap + (mask != 0) * np.asarray(boost, dtype=amap.dtype)
        if kind == "uint8":
            amap = np.clip(amap, 0, 255).astype(np.uint8)
    return amap


SCORE_KINDS = ("continuous", "uint8", "ties", "float64")


def random_case(seed):
    """A random set: 1-6 images, several sizes, good images, 0/1 or 0/255 masks, resized maps."""
    rng = np.random.default_rng(seed)
    kind = SCORE_KINDS[seed % len(SCORE_KINDS)]
    while True:
        n_images = int(rng.integers(1, 7))
        same_size = rng.random() < 0.5
        base = (int(rng.integers(3, 40)), int(rng.integers(3, 40)))
        masks, maps = [], []
        for _ in range(n_images):
            shape = base if same_size else (int(rng.integers(2, 40)), int(rng.integers(2, 40)))
            mask = _blob_mask(rng, *shape) if rng.random() < 0.7 else np.zeros(shape, np.uint8)
            if rng.random() < 0.3:
                mask = mask * np.uint8(255)
            elif rng.random() < 0.3:
                mask = mask.astype(bool)
            map_shape = shape
            if rng.random() < 0.25:  # a map of another size than its mask
                map_shape = (int(rng.integers(2, 30)), int(rng.integers(2, 30)))
            masks.append(mask)
            maps.append(_scores(rng, mask, kind, map_shape))
        n_anom = sum(int(np.count_nonzero(m)) for m in masks)
        if 0 < n_anom < sum(m.size for m in masks):
            break
    limit = float(rng.choice([0.3, 0.3, 1.0, rng.uniform(0.01, 1.0)]))
    return masks, maps, limit


@pytest.mark.parametrize("seed", range(240))
def test_matches_reference(seed, monkeypatch):
    masks, maps, limit = random_case(seed)
    expected = reference_au_pro(masks, maps, limit)
    assert abs(au_pro(masks, maps, limit) - expected) <= 1e-10
    # The same with the sampled-cutoff path that large inputs take.
    monkeypatch.setattr(aupro_mod, "_SAMPLE_MIN_NORMALS", 0)
    monkeypatch.setattr(aupro_mod, "_SAMPLE_SIZE", 37)
    assert abs(au_pro(masks, maps, limit) - expected) <= 1e-10


@pytest.mark.parametrize("seed", range(0, 240, 8))
def test_fallback_when_sample_overestimates_cutoff(seed, monkeypatch):
    masks, maps, limit = random_case(seed)
    calls = []

    def too_high(sample, fraction):
        calls.append(fraction)
        return np.inf

    monkeypatch.setattr(aupro_mod, "_SAMPLE_MIN_NORMALS", 0)
    monkeypatch.setattr(aupro_mod, "_estimate_cutoff", too_high)
    assert abs(au_pro(masks, maps, limit) - reference_au_pro(masks, maps, limit)) <= 1e-10
    assert calls  # the sampled path (and so its fallback) really ran


@pytest.mark.parametrize("seed", range(0, 240, 6))
def test_official_float32_fpr_only_differs_by_rounding(seed):
    # The official script keeps FPRs in float32; this bounds how far its numbers can be from ours.
    masks, maps, limit = random_case(seed)
    official = reference_au_pro(masks, maps, limit, official_float32_fpr=True)
    assert abs(au_pro(masks, maps, limit) - official) <= 1e-7


@pytest.mark.parametrize("seed", range(240))
def test_official_rounding_mode_matches_official_storage(seed):
    # fpr_dtype="float32" reproduces the official script's float32 FPRs, not just within 1e-7.
    masks, maps, limit = random_case(seed)
    official = reference_au_pro(masks, maps, limit, official_float32_fpr=True)
    assert abs(au_pro(masks, maps, limit, fpr_dtype="float32") - official) <= 1e-12


def test_many_images_of_realistic_scores():
    rng = np.random.default_rng(1234)
    masks, maps = [], []
    for i in range(12):
        mask = _blob_mask(rng, 64, 64) if i % 3 else np.zeros((64, 64), np.uint8)
        amap = ndimage.gaussian_filter(rng.random((64, 64)), 2).astype(np.float32)
        amap += 0.05 * ndimage.gaussian_filter(mask.astype(np.float32), 1)
        masks.append(mask * np.uint8(255))
        maps.append(amap)
    for limit in (0.01, 0.05, 0.3, 1.0):
        assert abs(au_pro(masks, maps, limit) - reference_au_pro(masks, maps, limit)) <= 1e-10


def test_fpr_dtype_is_checked():
    masks, maps, limit = random_case(0)
    with pytest.raises(ConfigError, match="fpr_dtype"):
        au_pro(masks, maps, limit, fpr_dtype="float16")

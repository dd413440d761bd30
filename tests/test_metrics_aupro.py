"""AU-PRO: hand-computed oracle cases, input handling, errors and properties."""

from __future__ import annotations

import numpy as np
import pytest

from mmae.errors import ConfigError, DataError
from mmae.metrics import au_pro, resize_map_to_mask
from mmae.metrics.curve import cut_curve, trapezoid_to_limit


def test_oracle_horizontal_curve():
    # Mask 1x4 [0 1 1 0]: one region of 2 pixels, 2 normal pixels. Scores descending:
    # 0.9 (region) -> (0, .5); 0.8 (normal) -> (.5, .5); 0.4 (normal) -> (1, .5); 0.3 -> (1, 1).
    masks = [np.array([[0, 1, 1, 0]])]
    maps = [np.array([[0.4, 0.9, 0.3, 0.8]])]
    assert au_pro(masks, maps, 0.3) == pytest.approx(0.5, abs=1e-15)
    assert au_pro(masks, maps, 1.0) == pytest.approx(0.5, abs=1e-15)


def test_oracle_tie_between_normal_and_anomalous_is_one_point():
    # Mask 1x5 [1 0 0 0 0]; the region pixel ties with a normal pixel at 0.5. Curve:
    # (0,0) (.25,1) (.5,1) (.75,1) (1,1). Area to .3 = .5*.25*1 + .05*1 = .175 -> /.3 = 7/12.
    # (Anomalous-first tie breaking would give 1, normal-first 1/6.)
    masks = [np.array([[1, 0, 0, 0, 0]])]
    maps = [np.array([[0.5, 0.5, 0.2, 0.1, 0.0]])]
    assert au_pro(masks, maps) == pytest.approx(7 / 12, abs=1e-14)


def test_oracle_diagonal_pixels_form_one_region():
    # (0,0) touches (1,1) only diagonally: with 8-connectivity one region {(0,0),(1,1),(1,2)} of
    # 3 pixels (4-connectivity would give regions of 1 and 2 pixels and PRO 1/2 at the top).
    mask = np.zeros((3, 3), np.uint8)
    mask[0, 0] = mask[1, 1] = mask[1, 2] = 255
    amap = np.full((3, 3), 0.5)
    amap[0, 0] = 1.0
    amap[1, 1] = amap[1, 2] = 0.0
    # Curve: (0,0) (0,1/3) (1,1/3) (1,1) -> area to .3 is .3/3 -> 1/3.
    assert au_pro([mask], [amap]) == pytest.approx(1 / 3, abs=1e-15)


def test_oracle_regions_are_per_image_and_weighted_equally():
    # Image 1: region of 1 pixel; image 2: region of 3 pixels. 4 + 2 normal pixels at score 0.
    # Top score on the 1-pixel region only: PRO jumps to 1/2 (not 1/4 as pixel counting would).
    m1 = np.array([[1, 0, 0, 0, 0]])
    m2 = np.array([[1, 1, 1, 0, 0]])
    a1 = np.array([[2.0, 0, 0, 0, 0]])
    a2 = np.array([[1.0, 1.0, 1.0, 0, 0]])
    # Curve: (0,0) (0,.5) (0,1) (1,1) -> 1.
    assert au_pro([m1, m2], [a1, a2]) == pytest.approx(1.0, abs=1e-15)
    a2 = np.array([[-1.0, -1.0, -1.0, 0, 0]])
    # Curve: (0,0) (0,.5) (1,.5) (1,1) -> .5.
    assert au_pro([m1, m2], [a1, a2]) == pytest.approx(0.5, abs=1e-15)


def test_perfect_and_inverted_maps():
    rng = np.random.default_rng(0)
    masks = [(rng.random((16, 16)) < 0.1).astype(np.uint8) for _ in range(3)]
    assert au_pro(masks, [m.astype(float) for m in masks]) == 1.0
    assert au_pro(masks, [-m.astype(float) for m in masks]) == 0.0


def test_mask_encodings_and_image_order_do_not_matter():
    rng = np.random.default_rng(1)
    masks = [(rng.random((20, 24)) < 0.08) for _ in range(4)]
    maps = [rng.random((20, 24)).astype(np.float32) + 0.3 * m for m in masks]
    value = au_pro(masks, maps)
    assert au_pro([m.astype(np.uint8) * 255 for m in masks], maps) == value
    assert au_pro([m.astype(np.float64) for m in masks], maps) == value
    assert au_pro(np.stack(masks), np.stack(maps)) == value
    assert au_pro(masks[::-1], maps[::-1]) == pytest.approx(value, abs=1e-14)
    assert au_pro(masks, [m[None] for m in maps]) == value  # (1, H, W) maps accepted


def test_integer_maps_are_invariant_to_affine_rescaling():
    rng = np.random.default_rng(2)
    masks = [(rng.random((12, 12)) < 0.2) for _ in range(3)]
    maps = [rng.integers(0, 50, (12, 12)) for _ in range(3)]
    value = au_pro(masks, maps)
    assert au_pro(masks, [3 * m + 7 for m in maps]) == pytest.approx(value, abs=1e-14)


def test_map_is_resized_to_mask_never_the_reverse():
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 1
    small = np.zeros((4, 4), np.float32)
    small[1:3, 1:3] = 1.0
    expected = au_pro([mask], [resize_map_to_mask(small, (8, 8))])
    assert au_pro([mask], [small]) == expected
    assert 0.0 < expected <= 1.0


def test_resize_is_bilinear_with_half_pixel_centres():
    # 2x2 -> 4x4: source coordinates (i + .5) / 2 - .5 = -.25, .25, .75, 1.25, clamped at the
    # border, so each axis uses weights 0, .25, .75, 1 on the second sample.
    src = np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32)
    w = np.array([0.0, 0.25, 0.75, 1.0])
    out = resize_map_to_mask(src, (4, 4))
    np.testing.assert_allclose(out, np.add.outer(2 * w, w), atol=1e-6)
    assert out.dtype == np.float32
    assert resize_map_to_mask(src.astype(np.uint8), (4, 4)).dtype == np.float32  # no rounding
    assert resize_map_to_mask(src, (2, 2)) is src


def test_return_curve_ends_at_limit_and_integrates_to_value():
    rng = np.random.default_rng(3)
    masks = [(rng.random((30, 30)) < 0.05) for _ in range(3)]
    maps = [rng.random((30, 30)) + 0.5 * m for m in masks]
    for limit in (0.05, 0.3, 1.0):
        value, fpr, pro = au_pro(masks, maps, limit, return_curve=True)
        assert value == au_pro(masks, maps, limit)
        assert fpr[0] == 0.0 and pro[0] == 0.0 and fpr[-1] == limit
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(pro) >= 0) and pro[-1] <= 1.0
        area = np.sum(0.5 * (pro[1:] + pro[:-1]) * np.diff(fpr))
        assert area / limit == pytest.approx(value, abs=1e-12)


def test_constant_map():
    # One threshold: (0,0) -> (1,1); at .3 the curve is at .3 -> area .045 -> .15.
    masks = [np.eye(5)]
    assert au_pro(masks, [np.ones((5, 5))]) == pytest.approx(0.15, abs=1e-15)


def test_trapezoid_to_limit_and_cut_curve():
    x = np.array([0.0, 0.2, 0.2, 0.6, 1.0])
    y = np.array([0.0, 0.2, 0.6, 1.0, 1.0])
    # to .4: .5*.2*.2 + (.6 + .8)/2 * .2 = .02 + .14
    assert trapezoid_to_limit(x, y, 0.4) == pytest.approx(0.16, abs=1e-15)
    assert trapezoid_to_limit(x, y, 0.2) == pytest.approx(0.02, abs=1e-15)  # limit on a point
    cx, cy = cut_curve(x, y, 0.4)
    np.testing.assert_allclose(cx, [0.0, 0.2, 0.2, 0.4])
    np.testing.assert_allclose(cy, [0.0, 0.2, 0.6, 0.8])


@pytest.mark.parametrize(
    ("masks", "maps", "message"),
    [
        ([np.zeros((3, 3))], [np.zeros((3, 3))], "no anomalous region"),
        ([np.ones((3, 3))], [np.zeros((3, 3))], "no normal pixel"),
        ([np.eye(3), np.eye(3)], [np.eye(3)], "differ in length"),
        ([np.eye(3)], [np.array([[np.nan, 0, 0], [0, 0, 0], [0, 0, 0]])], "NaN"),
        ([np.eye(3)], [np.full((3, 3), np.inf)], "infinite"),
        ([], [], "empty"),
        ([np.eye(3)], [np.zeros((2, 3, 3))], r"maps\[0\]"),
        (np.eye(3), np.eye(3), "sequence of HxW"),
        ([np.eye(3)], [np.array([["a"] * 3] * 3)], "real numbers"),
    ],
)
def test_errors(masks, maps, message):
    with pytest.raises(DataError, match=message):
        au_pro(masks, maps)


@pytest.mark.parametrize("limit", [0.0, -0.1, 1.5, float("nan"), "x"])
def test_bad_fpr_limit(limit):
    with pytest.raises(ConfigError, match="fpr_limit"):
        au_pro([np.eye(3)], [np.eye(3)], limit)

"""image_metrics / video_metrics: the dicts ``mmae test`` writes into metrics.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmae.errors import DataError
from mmae.metrics import (
    au_pro,
    clip_scores_to_frames,
    f1_max,
    frame_auc,
    image_auroc,
    image_metrics,
    pixel_auroc,
    video_metrics,
)


def _image_set():
    rng = np.random.default_rng(0)
    masks = [np.zeros((16, 16), np.uint8) for _ in range(4)]
    masks[2][3:7, 4:9] = 255
    masks[3][10, 10] = 255
    maps = [rng.random((16, 16)).astype(np.float32) + 0.5 * (m > 0) for m in masks]
    labels = [0, 0, 1, 1]
    scores = [float(m.max()) for m in maps]
    return labels, scores, masks, maps


def test_image_metrics_match_the_functions():
    labels, scores, masks, maps = _image_set()
    out = json.loads(json.dumps(image_metrics(labels, scores, masks, maps, fpr_limit=0.1)))
    assert out["image_auroc"] == image_auroc(labels, scores)
    assert [out["image_f1_max"], out["image_f1_threshold"]] == list(f1_max(labels, scores))
    assert out["pixel_auroc"] == pixel_auroc(masks, maps)
    assert out["au_pro"] == au_pro(masks, maps, 0.1)
    assert out["notes"] == [] and out["definitions"]["au_pro"]["fpr_limit"] == 0.1


def test_image_metrics_return_the_pro_curve_of_their_au_pro():
    labels, scores, masks, maps = _image_set()
    out = image_metrics(labels, scores, masks, maps, fpr_limit=0.1, return_curve=True)
    value, fpr, pro = au_pro(masks, maps, 0.1, return_curve=True)
    assert out["au_pro"] == value
    np.testing.assert_array_equal(out["pro_curve"][0], fpr)
    np.testing.assert_array_equal(out["pro_curve"][1], pro)
    assert "pro_curve" not in image_metrics(labels, scores, masks, maps)
    assert image_metrics(labels, scores, return_curve=True)["pro_curve"] is None
    no_regions = [np.zeros_like(m) for m in masks]
    assert image_metrics(labels, scores, no_regions, maps, return_curve=True)["pro_curve"] is None


def test_image_metrics_record_what_cannot_be_computed():
    labels, scores, masks, maps = _image_set()
    out = image_metrics([0, 0, 0, 0], scores, [np.zeros_like(m) for m in masks], maps)
    assert out["image_auroc"] is None and out["au_pro"] is None and out["pixel_auroc"] is None
    assert any(n.startswith("au_pro: not computed") for n in out["notes"])
    out = image_metrics(labels, scores)
    assert out["au_pro"] is None and "no ground-truth masks" in out["notes"][-1]
    assert out["image_auroc"] == image_auroc(labels, scores)


def test_image_metrics_raise_on_inconsistent_input():
    labels, scores, masks, maps = _image_set()
    with pytest.raises(DataError, match="4 image labels but 3 masks"):
        image_metrics(labels, scores, masks[:3], maps[:3])
    maps[0][0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        image_metrics(labels, scores, masks, maps)


def test_video_metrics():
    f1 = clip_scores_to_frames([1.0, 2, 3, 4, 5], 20, rule="center").scores
    f2 = clip_scores_to_frames([5.0, 4, 3, 2, 1], 20, rule="center").scores
    y1 = np.r_[np.zeros(11), np.ones(9)].astype(int)
    y2 = np.ones(20, dtype=int)
    out = json.loads(json.dumps(video_metrics([y1, y2], [f1, f2], alignment="center")))
    assert out["frame_auc"] == frame_auc([y1, y2], [f1, f2]).value
    assert out["frame_auc_macro"] == 1.0 and out["per_video_auc"] == [1.0, None]
    assert out["skipped_videos"] == [1] and "skipped: 1" in out["notes"][0]
    assert (out["frames_used"], out["frames_dropped"]) == (10, 30)
    assert out["definitions"]["video"]["alignment"] == "center"
    out = video_metrics([y2], [f2])
    assert out["frame_auc"] is None and out["frame_auc_macro"] is None and len(out["notes"]) == 2
    with pytest.raises(DataError, match="video 0"):
        video_metrics([y1[:5]], [f1])

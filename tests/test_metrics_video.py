"""Video frame AUC (micro / macro) and clip-to-frame alignment: hand-computed oracle cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmae.errors import ConfigError, DataError
from mmae.metrics import clip_scores_to_frames, definitions, frame_auc, regularity

NAN = np.nan


def test_center_rule_is_memae():
    # 20 frames, 16-frame clips, stride 1: 5 clips, assigned to frames 8..12 (the 9th frame).
    out = clip_scores_to_frames([1.0, 2, 3, 4, 5], 20, rule="center")
    expected = [NAN] * 8 + [1, 2, 3, 4, 5] + [NAN] * 7
    np.testing.assert_array_equal(out.scores, expected)
    np.testing.assert_array_equal(out.kept, ~np.isnan(expected))


def test_mean_rule_scores_every_frame():
    out = clip_scores_to_frames([1.0, 2, 3, 4, 5], 20, rule="mean")
    expected = [1, 1.5, 2, 2.5] + [3] * 12 + [3.5, 4, 4.5, 5]
    np.testing.assert_allclose(out.scores, expected, rtol=0, atol=1e-15)
    assert out.kept.all()


def test_stride_and_clip_length():
    # 11 frames, 4-frame clips, stride 3: clips start at 0, 3, 6; frame 10 is not covered.
    out = clip_scores_to_frames([0.0, 3.0, 6.0], 11, clip_length=4, stride=3, rule="mean")
    expected = [0, 0, 0, 1.5, 3, 3, 4.5, 6, 6, 6, NAN]
    np.testing.assert_array_equal(out.scores, expected)
    out = clip_scores_to_frames([0.0, 3.0, 6.0], 11, clip_length=4, stride=3, rule="center")
    np.testing.assert_array_equal(np.flatnonzero(out.kept), [2, 5, 8])
    np.testing.assert_array_equal(out.scores[out.kept], [0, 3, 6])


def test_explicit_starts():
    out = clip_scores_to_frames([2.0, 4.0], 6, clip_length=3, starts=[0, 2], rule="mean")
    np.testing.assert_array_equal(out.scores, [2, 2, 3, 4, 4, NAN])


def test_alignment_errors():
    with pytest.raises(DataError, match="expected 5"):
        clip_scores_to_frames([1.0] * 4, 20)
    with pytest.raises(DataError, match="fewer than clip_length"):
        clip_scores_to_frames([1.0], 10)
    with pytest.raises(ConfigError, match="unknown alignment rule"):
        clip_scores_to_frames([1.0] * 5, 20, rule="last")
    with pytest.raises(DataError, match="outside the video"):
        clip_scores_to_frames([1.0], 10, clip_length=4, starts=[8])
    with pytest.raises(DataError, match="NaN"):
        clip_scores_to_frames([1.0, NAN, 1, 1, 1], 20)


def test_regularity():
    np.testing.assert_array_equal(regularity([1.0, 2.0, 3.0, 5.0]), [1, 0.75, 0.5, 0])
    np.testing.assert_array_equal(regularity([7.0, 7.0]), [1, 1])  # max == min: fully regular


VIDEO_A = ([1.0, 2.0, 3.0, 5.0], [0, 0, 1, 1])  # normalised errors 0 .25 .5 1
VIDEO_B = ([10.0, 10.0, 10.0], [0, 1, 0])  # constant: normalised errors 0 0 0
VIDEO_C = ([1.0, 2.0], [1, 1])  # anomalous only


def _split(*videos):
    return [v[1] for v in videos], [v[0] for v in videos]  # labels, scores


def test_micro_oracle():
    # positives .5, 1, 0 against negatives 0, .25, 0, 0: 4 + 4 + (3 ties * .5) = 9.5 of 12.
    r = frame_auc(*_split(VIDEO_A, VIDEO_B))
    assert r.value == pytest.approx(9.5 / 12, abs=1e-15)
    assert (r.average, r.skipped, r.frames_used, r.frames_dropped) == ("micro", (), 7, 0)


def test_micro_normalises_each_video():
    # Raw errors concatenated would give 3/4; per-video min-max makes both videos agree: 1.
    scores, labels = [[0.0, 1.0], [10.0, 11.0]], [[0, 1], [0, 1]]
    assert frame_auc(labels, scores).value == 1.0


def test_macro_oracle_skips_single_class_videos():
    r = frame_auc(*_split(VIDEO_A, VIDEO_B, VIDEO_C), average="macro")
    assert r.per_video == (1.0, 0.5, None)
    assert r.skipped == (2,)
    assert r.value == 0.75
    assert json.loads(json.dumps(r.as_dict()))["skipped"] == [2]
    assert float(r) == 0.75


def test_nan_frames_are_left_out():
    scores = [[NAN, 2.0, 3.0, 5.0], [NAN, NAN]]
    labels = [[1, 0, 1, 1], [0, 1]]
    r = frame_auc(labels, scores)
    assert (r.value, r.frames_used, r.frames_dropped, r.skipped) == (1.0, 3, 3, (1,))
    frames = clip_scores_to_frames([1.0, 2, 3, 4, 5], 20, rule="center")
    labels = np.zeros(20, dtype=int)
    labels[11:] = 1
    r = frame_auc([labels], [frames.scores])
    assert (r.value, r.frames_used, r.frames_dropped) == (1.0, 5, 15)


def test_frame_auc_errors():
    with pytest.raises(DataError, match="both normal and anomalous"):
        frame_auc(*_split(VIDEO_C))
    with pytest.raises(DataError, match="no video has both"):
        frame_auc(*_split(VIDEO_C), average="macro")
    with pytest.raises(DataError, match="2 score sequences but 1"):
        frame_auc([[0]], [[1.0], [2.0]])
    with pytest.raises(DataError, match="video 0"):
        frame_auc([[0, 1, 1]], [[1.0, 2.0]])
    with pytest.raises(DataError, match="infinite"):
        frame_auc([[0, 1]], [[1.0, np.inf]])
    with pytest.raises(ConfigError, match="average"):
        frame_auc(*_split(VIDEO_A), average="weighted")


def test_definitions_are_json_able():
    d = json.loads(json.dumps(definitions(alignment="center", stride=1)))
    assert d["au_pro"]["fpr_limit"] == 0.3
    assert "INTER_LINEAR" in d["map_resize"]
    assert d["video"]["alignment"] == "center" and "9th" in d["video"]["alignment_rule"]
    assert "video" not in definitions(fpr_limit=0.05)
    assert definitions(fpr_limit=0.05)["au_pro"]["fpr_limit"] == 0.05
    with pytest.raises(ConfigError):
        definitions(alignment="last")

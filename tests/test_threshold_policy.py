"""The threshold policy: the validation split, the default rule, explicit choices."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_tiny_mvtec

from mmae.config import RunConfig
from mmae.data.synth.video import generate_synthetic_video
from mmae.errors import ConfigError
from mmae.scoring.thresholds import choose_threshold, normal_threshold
from mmae.tasks import get_task
from mmae.tasks.base import holdout


def test_holdout_split():
    idx = holdout(50, 0.1, seed=0)
    assert idx.size == 5 and len(set(idx)) == 5 and (idx < 50).all()
    np.testing.assert_array_equal(idx, holdout(50, 0.1, seed=0))  # deterministic
    assert not np.array_equal(idx, holdout(50, 0.1, seed=1))
    assert holdout(12, 0.1, seed=0).size == 2  # ceil(1.2): small folders still get one
    assert holdout(3, 0.1, seed=0).size == 0  # tiny folders keep every image for training
    assert holdout(50, 0.0, seed=0).size == 0
    assert holdout(5, 0.9, seed=0).size == 4  # always leaves one image to train on


def test_task_split_holds_out_images_or_whole_videos(tmp_path):
    image = get_task(RunConfig(model="ae", data=str(write_tiny_mvtec(tmp_path / "img")),
                               image_size=32))
    ds = image.open("train", progress=False)
    train, val = image.split(ds)
    expected = holdout(len(ds), 0.1, seed=0)
    assert list(val.indices) == expected.tolist() and len(train) + len(val) == len(ds) == 12
    assert set(train.indices).isdisjoint(val.indices)
    data = generate_synthetic_video(tmp_path / "vid", seed=0, num_train=3, num_test=1,
                                    train_frames=20, test_frames=20)
    video = get_task(RunConfig(model="ae3d", kind="video", data=str(data), image_size=32))
    vds = video.open("train", progress=False)
    train, val = video.split(vds)
    held = holdout(3, 0.1, seed=0, minimum=2).tolist()
    assert [v.name for v in val.videos] == [vds.videos[i].name for i in held]
    assert sorted(v.name for v in train.videos + val.videos) == sorted(v.name for v in vds.videos)
    one = video.open("train", progress=False)
    one.videos = one.videos[:1]  # a single training video is never held out
    assert video.split(one) == (one, None)


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

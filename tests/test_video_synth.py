"""Synthetic video generator: determinism, a valid UCSD layout, labels matching the masks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mmae.data.synth.video import generate_synthetic_video
from mmae.data.video import describe_video_dataset, open_video_dataset
from mmae.errors import RunFolderError

SMALL = {"frame_size": (48, 64), "num_train": 2, "num_test": 3, "train_frames": 40,
         "test_frames": 40, "anomalous_throughout": 1}


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_deterministic(tmp_path: Path) -> None:
    a = generate_synthetic_video(tmp_path / "a", seed=3, **SMALL)
    b = generate_synthetic_video(tmp_path / "b", seed=3, **SMALL)
    c = generate_synthetic_video(tmp_path / "c", seed=4, **SMALL)
    assert a.name == "UCSDped2"
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    with pytest.raises(RunFolderError):
        generate_synthetic_video(tmp_path / "a", seed=3, **SMALL)
    generate_synthetic_video(tmp_path / "a", seed=3, overwrite=True, **SMALL)
    assert _digest(a) == _digest(b)


def test_layout_labels_and_contrast(tmp_path: Path) -> None:
    root = generate_synthetic_video(tmp_path, seed=0, **SMALL)
    for name in ("Train/Train001/001.tif", "Test/Test001/001.tif", "Test/Test001_gt/001.bmp",
                 "Test/UCSDped2.m"):
        assert (root / name).is_file()
    d = describe_video_dataset(root)
    assert d["layout"] == "ucsd" and d["label_source"] == "ucsd_m_file"
    assert [v["frames"] for v in d["splits"]["train"]["videos"]] == [40, 40]
    test = open_video_dataset(root, "test")
    by_masks = open_video_dataset(root, "test", label_source="ucsd_masks")
    for k, video in enumerate(test.videos):
        np.testing.assert_array_equal(video.labels, by_masks.videos[k].labels)
        masks = test.masks(k)
        frames = test.frames(k)
        assert frames.shape == (40, 48, 64)
        np.testing.assert_array_equal(masks.any(axis=(1, 2)), video.labels > 0)
        assert 0 < video.labels.sum()
        # anomalies are bright objects on a mid-grey scene
        assert frames[masks].mean() > frames[~masks].mean() + 80
    assert not test.videos[0].labels.all() and test.videos[2].labels.all()
    labels = test.videos[0].labels
    assert np.count_nonzero(np.diff(labels)) <= 2  # one contiguous range
    train = open_video_dataset(root, "train")
    assert train.frames(0).shape == (40, 48, 64) and train.videos[0].labels is None


def test_defaults_are_cpu_sized(tmp_path: Path) -> None:
    root = generate_synthetic_video(tmp_path, seed=0)
    d = describe_video_dataset(root)
    train, test = d["splits"]["train"]["videos"], d["splits"]["test"]["videos"]
    assert len(train) == 4 and all(v["frames"] == 120 for v in train)
    assert len(test) == 4 and all(v["frames"] == 100 for v in test)
    assert all(0 < v["anomalous_frames"] < v["frames"] for v in test)
    assert open_video_dataset(root, "test").frames(0).shape == (100, 120, 180)

"""Synthetic motion-anomaly video: determinism, UCSD layout, labels, anomalies in motion only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mmae.data.synth.video_motion import (
    FAST_FACTOR,
    MOTION_KINDS,
    NORMAL_DRIFT,
    NORMAL_SPEED,
    generate_motion_video,
)
from mmae.data.video import describe_video_dataset, open_video_dataset
from mmae.errors import ConfigError, RunFolderError

SMALL = {"frame_size": (72, 96), "num_train": 1, "num_test": 3, "train_frames": 20,
         "test_frames": 60, "walkers": 4}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_and_refuses_overwrite(tmp_path: Path) -> None:
    a = generate_motion_video(tmp_path / "a", seed=1, **SMALL)
    b = generate_motion_video(tmp_path / "b", seed=1, **SMALL)
    c = generate_motion_video(tmp_path / "c", seed=2, **SMALL)
    assert _files(a) == _files(b) and _files(a) != _files(c)
    with pytest.raises(RunFolderError):
        generate_motion_video(tmp_path / "a", seed=1, **SMALL)
    with pytest.raises(ConfigError):
        generate_motion_video(tmp_path / "d", frame_size=(16, 16))


def test_layout_labels_and_motion(tmp_path: Path) -> None:
    root = generate_motion_video(tmp_path, seed=0, **SMALL)
    d = describe_video_dataset(root)
    assert d["layout"] == "ucsd" and d["label_source"] == "ucsd_m_file"
    test = open_video_dataset(root, "test")
    by_masks = open_video_dataset(root, "test", label_source="ucsd_masks")
    events = json.loads((root / "synthetic.json").read_text())["events"]
    assert [e["kind"] for e in events] == list(MOTION_KINDS)
    h, w = SMALL["frame_size"]
    for k, video in enumerate(test.videos):
        masks, frames = test.masks(k), test.frames(k)
        np.testing.assert_array_equal(video.labels, by_masks.videos[k].labels)
        np.testing.assert_array_equal(masks.any(axis=(1, 2)), video.labels > 0)
        assert 0 < video.labels.sum() < len(video.labels)
        assert np.count_nonzero(np.diff(video.labels)) <= 2  # one contiguous range
        # the anomalous object looks like the others: dark, like every pedestrian
        assert frames[masks].mean() < frames[~masks].mean()
        # its motion, measured from the mask centroids while it is wholly inside the frame
        inside = [t for t in range(len(masks)) if masks[t].any()
                  and not (masks[t][:, 0].any() or masks[t][:, -1].any())]
        cy = np.array([np.nonzero(masks[t])[0].mean() for t in inside])
        cx = np.array([np.nonzero(masks[t])[1].mean() for t in inside])
        vx, vy = np.diff(cx), np.diff(cy)
        lo, hi = NORMAL_SPEED[0] * w / 96, NORMAL_SPEED[1] * w / 96
        kind = events[k]["kind"]
        if kind == "fast":
            assert np.median(vx) > FAST_FACTOR[0] * lo > hi
        elif kind == "against":
            assert -hi - 0.2 < np.median(vx) < -lo + 0.2
        else:  # zigzag: normal horizontal speed, large vertical swings
            assert lo - 0.2 < np.median(vx) < hi + 0.2
            assert np.abs(vy).max() > 10 * NORMAL_DRIFT * h / 72
            assert cy.max() - cy.min() > 0.1 * h


def test_cli_motion(tmp_path: Path) -> None:
    from mmae.cli.main import main

    assert main(["synth", "video", str(tmp_path / "m"), "--motion", "--quiet"]) == 0
    info = json.loads((tmp_path / "m" / "UCSDped2" / "synthetic.json").read_text())
    assert info["generator"] == "mmae.data.synth_video_motion"
    assert main(["synth", "image", str(tmp_path / "i"), "--motion", "--quiet"]) == 2


def test_default_video_unchanged(tmp_path: Path) -> None:
    from mmae.data.synth.video import generate_synthetic_video

    root = generate_synthetic_video(tmp_path, seed=3, frame_size=(48, 64), num_train=2,
                                    num_test=3, train_frames=40, test_frames=40,
                                    anomalous_throughout=1)
    h = hashlib.sha256()
    for name, data in _files(root).items():
        h.update(name.encode())
        h.update(data)
    # recorded from the generator before the motion video existed
    assert h.hexdigest()[:16] == "cc7490035ddbcaef"

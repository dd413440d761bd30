"""ShanghaiTech original layout: training .avi, testing frame folders, .npy labels and masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mmae.data.video import describe_video_dataset, detect_video_layout, open_video_dataset
from mmae.errors import DataError

H, W = 16, 24


def _avi(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, (W, H), True)
    for t in range(n):
        writer.write(np.full((H, W, 3), 10 + 10 * t, np.uint8))
    writer.release()


def write_shanghaitech(root: Path) -> Path:
    ds = root / "shanghaitech"
    _avi(ds / "training" / "videos" / "01_001.avi", 9)
    _avi(ds / "training" / "videos" / "01_002.avi", 8)
    (ds / "training" / "videos" / "._01_001.avi").write_bytes(b"junk")
    vids = {"01_0014": (12, [3, 4, 5]), "01_0015": (10, list(range(10)))}
    for name, (n, bad) in vids.items():
        folder = ds / "testing" / "frames" / name
        folder.mkdir(parents=True)
        for t in range(n):
            Image.fromarray(np.full((H, W, 3), 7 * t, np.uint8)).save(folder / f"{t:03d}.jpg")
        labels = np.zeros(n, np.int64 if name.endswith("4") else bool)  # both dtypes occur
        labels[bad] = 1
        pixel = np.zeros((n, H, W), np.uint8)
        pixel[bad, 2:6, 3:8] = 1
        for sub, arr in (("test_frame_mask", labels), ("test_pixel_mask", pixel)):
            (ds / "testing" / sub).mkdir(parents=True, exist_ok=True)
            np.save(ds / "testing" / sub / f"{name}.npy", arr)
    return ds


@pytest.fixture
def sht(tmp_path: Path) -> Path:
    return write_shanghaitech(tmp_path)


def test_layout_and_splits(sht: Path) -> None:
    assert detect_video_layout(sht) == "shanghaitech"
    train = open_video_dataset(sht, "train", frame_size=(8, 12))
    assert [(v.name, v.num_frames) for v in train.videos] == [("01_001", 9), ("01_002", 8)]
    assert train.frames(0).shape == (9, 8, 12)
    test = open_video_dataset(sht, "testing")
    assert test.label_source == "shanghaitech_npy"
    assert np.flatnonzero(test.videos[0].labels).tolist() == [3, 4, 5]
    assert test.videos[1].labels.all()
    masks = test.masks(0)
    assert masks.shape == (12, H, W)
    np.testing.assert_array_equal(masks.any(axis=(1, 2)), test.videos[0].labels > 0)
    assert test.frames(1).shape == (10, H, W)


def test_label_length_mismatch(sht: Path) -> None:
    np.save(sht / "testing" / "test_frame_mask" / "01_0015.npy", np.zeros(11))
    with pytest.raises(DataError, match=r"01_0015\.npy: 11 frame labels but video"):
        open_video_dataset(sht, "test")


def test_missing_and_corrupt_labels(sht: Path) -> None:
    p = sht / "testing" / "test_frame_mask" / "01_0014.npy"
    p.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"01_0014\.npy: unreadable"):
        open_video_dataset(sht, "test")
    p.unlink()
    with pytest.raises(DataError, match=r"01_0014\.npy: missing frame labels"):
        open_video_dataset(sht, "test")


def test_describe(sht: Path) -> None:
    d = describe_video_dataset(sht)
    assert (d["kind"], d["layout"], d["label_source"]) == ("video", "shanghaitech",
                                                          "shanghaitech_npy")
    assert [v["frames"] for v in d["splits"]["train"]["videos"]] == [9, 8]
    assert [(v["name"], v["anomalous_frames"]) for v in d["splits"]["test"]["videos"]] == [
        ("01_0014", 3), ("01_0015", 10)]

"""CUHK Avenue original layout: .avi decoding, volLabel masks, Hasan labels, broken videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from mmae.data.video import describe_video_dataset, detect_video_layout, open_video_dataset
from mmae.errors import DataError

H, W = 24, 32


def write_avi(path: Path, n: int, seed: int = 0) -> None:
    """A tiny colour MJPG .avi whose frame t has brightness 20 + 8 t."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H), True)
    assert writer.isOpened()
    for t in range(n):
        frame = np.full((H, W, 3), 20 + 8 * t, np.uint8)
        frame[..., 2] = np.uint8(min(255, 30 + 8 * t))  # a little colour
        writer.write(frame)
    writer.release()


def _vol_label(n: int, anomalous: list[int]) -> np.ndarray:
    cell = np.empty((1, n), dtype=object)
    for t in range(n):
        m = np.zeros((H, W), np.uint8)
        if t in anomalous:
            m[3:6, 4:9] = 1
        cell[0, t] = m
    return cell


def write_avenue(root: Path) -> Path:
    ds = root / "Avenue Dataset"
    write_avi(ds / "training_videos" / "01.avi", 12)
    write_avi(ds / "training_videos" / "02.avi", 10)
    write_avi(ds / "testing_videos" / "01.avi", 14)
    write_avi(ds / "testing_videos" / "02.avi", 11)
    (ds / "testing_videos" / "._01.avi").write_bytes(b"junk")
    (ds / "training_videos" / ".DS_Store").write_bytes(b"junk")
    gt = ds / "ground_truth_demo" / "testing_label_mask"
    gt.mkdir(parents=True)
    scipy.io.savemat(gt / "1_label.mat", {"volLabel": _vol_label(14, [4, 5, 6])})
    scipy.io.savemat(gt / "2_label.mat", {"volLabel": _vol_label(11, list(range(11)))})
    hasan = np.empty((1, 2), dtype=object)
    hasan[0, 0] = np.array([[3], [8]])
    hasan[0, 1] = np.array([[1, 9], [2, 11]])
    scipy.io.savemat(ds / "avenue.mat", {"gt": hasan})
    return ds


@pytest.fixture
def avenue(tmp_path: Path) -> Path:
    return write_avenue(tmp_path)


def test_mjpg_avi_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "a.avi"
    write_avi(p, 7)
    cap = cv2.VideoCapture(str(p))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 7
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 7


def test_train_decoded_in_order_grayscale(avenue: Path) -> None:
    assert detect_video_layout(avenue) == "avenue"
    ds = open_video_dataset(avenue, "train")
    assert [(v.name, v.num_frames) for v in ds.videos] == [("01", 12), ("02", 10)]
    assert ds.videos[0].frames_from == "header"
    frames = ds.frames(0)
    assert frames.dtype == np.uint8 and frames.shape == (12, H, W)
    means = frames.reshape(12, -1).mean(axis=1)
    assert np.all(np.diff(means) > 4)  # brightness rises frame by frame: decoded in order
    assert ds.frames(0) is frames  # cached


def test_vol_label_and_masks(avenue: Path) -> None:
    ds = open_video_dataset(avenue, "test")
    assert ds.label_source == "avenue_volLabel"
    assert np.flatnonzero(ds.videos[0].labels).tolist() == [4, 5, 6]
    assert ds.videos[1].labels.all()
    masks = ds.masks(0)
    assert masks.shape == (14, H, W) and masks.dtype == bool
    np.testing.assert_array_equal(masks.any(axis=(1, 2)), ds.videos[0].labels > 0)


def test_hasan_labels(avenue: Path) -> None:
    ds = open_video_dataset(avenue, "test", label_source="avenue_hasan_mat")
    assert ds.label_source == "avenue_hasan_mat"
    assert np.flatnonzero(ds.videos[0].labels).tolist() == [2, 3, 4, 5, 6, 7]
    assert np.flatnonzero(ds.videos[1].labels).tolist() == [0, 1, 8, 9, 10]
    other = avenue.parent / "labels.mat"
    (avenue / "avenue.mat").rename(other)
    ds2 = open_video_dataset(avenue, "test", label_source=str(other))
    assert ds2.label_source == "avenue_hasan_mat"
    with pytest.raises(DataError, match="avenue.mat"):
        open_video_dataset(avenue, "test", label_source="avenue_hasan_mat")


def test_label_count_mismatch(avenue: Path) -> None:
    gt = avenue / "ground_truth_demo" / "testing_label_mask"
    scipy.io.savemat(gt / "2_label.mat", {"volLabel": _vol_label(13, [])})
    with pytest.raises(DataError, match=r"2_label\.mat: 13 frame labels but video .*02\.avi"):
        open_video_dataset(avenue, "test")


def test_missing_label_file_and_variable(avenue: Path) -> None:
    gt = avenue / "ground_truth_demo" / "testing_label_mask"
    scipy.io.savemat(gt / "1_label.mat", {"other": np.zeros(3)})
    with pytest.raises(DataError, match=r"1_label\.mat: .*no variable 'volLabel'"):
        open_video_dataset(avenue, "test")
    (gt / "1_label.mat").unlink()
    with pytest.raises(DataError, match=r"1_label\.mat: missing volLabel file"):
        open_video_dataset(avenue, "test")


def test_truncated_video(avenue: Path) -> None:
    p = avenue / "training_videos" / "02.avi"
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.9)])
    try:
        ds = open_video_dataset(avenue, "train")
    except DataError as exc:  # header unreadable: refused at open, naming the file
        assert "02.avi" in str(exc)
        return
    with pytest.raises(DataError, match=r"02\.avi: (truncated|unreadable)"):
        ds.frames(1)


def test_unreadable_video(avenue: Path) -> None:
    (avenue / "training_videos" / "03.avi").write_text("this is not a video")
    with pytest.raises(DataError, match=r"03\.avi: unreadable video"):
        open_video_dataset(avenue, "train")
    (avenue / "training_videos" / "03.avi").write_bytes(b"")
    with pytest.raises(DataError, match=r"03\.avi"):
        open_video_dataset(avenue, "train")


def test_describe_without_decoding(avenue: Path) -> None:
    d = describe_video_dataset(avenue)
    assert d["kind"] == "video" and d["layout"] == "avenue"
    assert d["label_source"] == "avenue_volLabel"
    assert [(v["name"], v["frames"]) for v in d["splits"]["train"]["videos"]] == [
        ("01", 12), ("02", 10)]
    assert [(v["name"], v["frames"], v["anomalous_frames"])
            for v in d["splits"]["test"]["videos"]] == [("01", 14, 3), ("02", 11, 11)]

"""Re-packaged "frames" layout: numeric sorting, the gt cell of <ds>.mat, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from mmae.data.video import describe_video_dataset, detect_video_layout, open_video_dataset
from mmae.data.video.labels import intervals_from_array, read_gt_cell
from mmae.errors import DataError

LONG = 1001  # frames 0.jpg ... 1000.jpg, unpadded


def _write_video(folder: Path, n: int, padded: bool = True) -> None:
    folder.mkdir(parents=True)
    for t in range(n):
        name = f"{t:03d}.jpg" if padded else f"{t}.jpg"
        # Brightness encodes the frame index, so the order can be checked after decoding.
        Image.fromarray(np.full((8, 8), t % 250, np.uint8)).save(folder / name, quality=95)


def _gt_cell(entries: list[np.ndarray]) -> np.ndarray:
    cell = np.empty((1, len(entries)), dtype=object)
    for k, e in enumerate(entries):
        cell[0, k] = e
    return cell


def write_frames_layout(root: Path, name: str = "ped2") -> Path:
    ds = root / name
    _write_video(ds / "training" / "frames" / "01", 12)
    _write_video(ds / "training" / "frames" / "02", 9)
    _write_video(ds / "testing" / "frames" / "01", 20)
    _write_video(ds / "testing" / "frames" / "02", LONG, padded=False)
    _write_video(ds / "testing" / "frames" / "03", 10)
    (ds / "testing" / "frames" / "02" / ".DS_Store").write_bytes(b"junk")
    (ds / "testing" / "frames" / "02" / "notes.txt").write_text("not a frame")
    (ds / "testing" / "frames" / "._03").write_bytes(b"junk")
    entries = [
        np.array([[3, 15], [5, 17]]),  # 2xK: [start; end] columns -> [3:5] and [15:17]
        np.array([100, 900]),  # single interval, saved 1x2 (loads like a squeezed (2,))
        np.array([[1], [10]]),  # single interval 2x1: all anomalous
    ]
    scipy.io.savemat(ds / f"{name}.mat", {"gt": _gt_cell(entries)})
    return ds


@pytest.fixture
def frames_ds(tmp_path: Path) -> Path:
    return write_frames_layout(tmp_path)


def test_detect_and_train(frames_ds: Path) -> None:
    assert detect_video_layout(frames_ds) == "frames"
    ds = open_video_dataset(frames_ds, "train")
    assert ds.layout == "frames"
    assert [(v.name, v.num_frames) for v in ds.videos] == [("01", 12), ("02", 9)]


def test_test_labels_and_numeric_sort(frames_ds: Path) -> None:
    ds = open_video_dataset(frames_ds, "test")
    assert ds.label_source == "frames_mat"
    assert [(v.name, v.num_frames) for v in ds.videos] == [("01", 20), ("02", LONG), ("03", 10)]
    lab0 = ds.videos[0].labels
    assert lab0.dtype == np.int8 and lab0.shape == (20,)
    assert np.flatnonzero(lab0).tolist() == [2, 3, 4, 14, 15, 16]
    lab1 = ds.videos[1].labels
    assert lab1.sum() == 801 and lab1[99] == 1 and lab1[98] == 0 and lab1[899] == 1
    assert lab1[900] == 0
    assert ds.videos[2].labels.all()
    frames = ds.frames(1)
    assert frames.shape == (LONG, 8, 8)
    # numeric order: the frame from "1000.jpg" is last, "10.jpg" is eleventh
    expected = np.arange(LONG) % 250
    assert np.abs(frames[:, 4, 4].astype(int) - expected).max() <= 2


def test_intervals_from_array_shapes() -> None:
    assert intervals_from_array(np.array([4.0, 9.0])) == [(4, 9)]
    assert intervals_from_array(np.array([[4, 9]])) == [(4, 9)]
    assert intervals_from_array(np.array([[4], [9]])) == [(4, 9)]
    assert intervals_from_array(np.array([[1, 20], [5, 30]])) == [(1, 5), (20, 30)]
    assert intervals_from_array(np.zeros((0, 0))) == []
    with pytest.raises(ValueError):
        intervals_from_array(np.array(["a", "b"]))


def test_squeezed_mat_loads(tmp_path: Path) -> None:
    mat = tmp_path / "x.mat"
    scipy.io.savemat(mat, {"gt": _gt_cell([np.array([[2], [6]])])})
    loaded = scipy.io.loadmat(mat, squeeze_me=True)["gt"]
    assert np.asarray(loaded).shape == (2,)  # the squeezed form users meet
    assert read_gt_cell(mat, 1) == [[(2, 6)]]


def test_mat_without_variable(frames_ds: Path) -> None:
    scipy.io.savemat(frames_ds / "ped2.mat", {"labels": np.zeros((1, 3))})
    with pytest.raises(DataError, match=r"ped2\.mat.*no variable 'gt'"):
        open_video_dataset(frames_ds, "test")


def test_corrupt_mat(frames_ds: Path) -> None:
    (frames_ds / "ped2.mat").write_bytes(b"MATLAB 5.0 MAT-file garbage" * 3)
    with pytest.raises(DataError, match=r"ped2\.mat"):
        open_video_dataset(frames_ds, "test")


def test_entry_count_mismatch(frames_ds: Path) -> None:
    scipy.io.savemat(frames_ds / "ped2.mat", {"gt": _gt_cell([np.array([1, 2])] * 2)})
    with pytest.raises(DataError, match="2 entries but there are 3 test videos"):
        open_video_dataset(frames_ds, "test")


def test_interval_beyond_video(frames_ds: Path) -> None:
    entries = [np.array([1, 2]), np.array([1, 2]), np.array([5, 11])]
    scipy.io.savemat(frames_ds / "ped2.mat", {"gt": _gt_cell(entries)})
    with pytest.raises(DataError, match=r"ped2\.mat.*video 03.*10 frames"):
        open_video_dataset(frames_ds, "test")


def test_missing_mat_and_empty_folder(frames_ds: Path) -> None:
    (frames_ds / "ped2.mat").unlink()
    with pytest.raises(DataError, match=r"ped2\.mat"):
        open_video_dataset(frames_ds, "test")
    empty = frames_ds / "training" / "frames" / "03"
    empty.mkdir()
    (empty / "Thumbs.db").write_bytes(b"x")
    with pytest.raises(DataError, match="no image frames"):
        open_video_dataset(frames_ds, "train")


def test_describe(frames_ds: Path) -> None:
    d = describe_video_dataset(frames_ds)
    assert d["layout"] == "frames" and d["label_source"] == "frames_mat"
    test = d["splits"]["test"]["videos"]
    assert [(v["name"], v["frames"], v["anomalous_frames"]) for v in test] == [
        ("01", 20, 6), ("02", LONG, 801), ("03", 10, 10)]

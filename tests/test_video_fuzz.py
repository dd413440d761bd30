"""Fuzz: random bytes in every file a video loader reads; only DataError may escape."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mmae.data.video import describe_video_dataset, open_video_dataset
from mmae.data.video.files import natural_key
from mmae.errors import DataError

TARGETS = [
    "UCSDped2/Test/Test001/002.tif",
    "UCSDped2/Test/Test001_gt/002.bmp",
    "UCSDped2/Test/UCSDped2.m",
    "UCSDped2/Train/Train001/001.tif",
    "avenue/training_videos/01.avi",
    "avenue/ground_truth_demo/testing_label_mask/1_label.mat",
    "sht/testing/test_frame_mask/01_0001.npy",
    "sht/testing/test_pixel_mask/01_0001.npy",
    "sht/training/videos/01_001.avi",
    "ped2/ped2.mat",
    "ped2/testing/frames/01/1.jpg",
]


def _build(root: Path) -> None:
    frame = Image.fromarray(np.full((6, 8), 90, np.uint8))
    for folder in ("UCSDped2/Train/Train001", "UCSDped2/Test/Test001",
                   "UCSDped2/Test/Test001_gt", "ped2/testing/frames/01",
                   "ped2/training/frames/01", "sht/testing/frames/01_0001",
                   "sht/training/videos", "avenue/testing_videos", "avenue/training_videos"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for t in range(1, 4):
        frame.save(root / f"UCSDped2/Train/Train001/{t:03d}.tif")
        frame.save(root / f"UCSDped2/Test/Test001/{t:03d}.tif")
        frame.save(root / f"UCSDped2/Test/Test001_gt/{t:03d}.bmp")
        frame.save(root / f"ped2/testing/frames/01/{t}.jpg")
        frame.save(root / f"ped2/training/frames/01/{t}.jpg")
        frame.save(root / f"sht/testing/frames/01_0001/{t:03d}.jpg")
    (root / "UCSDped2/Test/UCSDped2.m").write_text("TestVideoFile{end+1}.gt_frame = [2:3];\n")
    for name in ("avenue/training_videos/01.avi", "avenue/testing_videos/01.avi",
                 "sht/training/videos/01_001.avi"):
        writer = cv2.VideoWriter(str(root / name), cv2.VideoWriter_fourcc(*"MJPG"), 10, (8, 6))
        for t in range(3):
            writer.write(np.full((6, 8, 3), 40 * t, np.uint8))
        writer.release()
    gt = root / "avenue/ground_truth_demo/testing_label_mask"
    gt.mkdir(parents=True)
    vol = np.empty((1, 3), dtype=object)
    for t in range(3):
        vol[0, t] = np.full((6, 8), t % 2, np.uint8)
    scipy.io.savemat(gt / "1_label.mat", {"volLabel": vol})
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = np.array([[2], [3]])
    scipy.io.savemat(root / "ped2/ped2.mat", {"gt": cell})
    for sub, arr in (("test_frame_mask", np.array([0, 1, 1])),
                     ("test_pixel_mask", np.zeros((3, 6, 8), np.uint8))):
        (root / "sht/testing" / sub).mkdir(parents=True)
        np.save(root / "sht/testing" / sub / "01_0001.npy", arr)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(target=st.sampled_from(TARGETS),
       data=st.one_of(st.binary(max_size=300), st.floats(0.0, 0.99)),
       split=st.sampled_from(["train", "test"]), frame_size=st.sampled_from([None, (4, 4)]))
def test_random_bytes_only_data_error(target: str, data: bytes | float, split: str,
                                      frame_size: tuple[int, int] | None) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        _build(root)
        path = root / target
        if isinstance(data, float):  # truncate a valid file
            data = path.read_bytes()[: int(path.stat().st_size * data)]
        path.write_bytes(data)
        ds_root = root / target.split("/")[0]
        try:
            describe_video_dataset(ds_root)
            ds = open_video_dataset(ds_root, split, frame_size=frame_size)
            for i in range(len(ds)):
                ds.frames(i)
                ds.masks(i)
        except DataError as exc:
            assert str(exc)
    finally:
        shutil.rmtree(root)


@given(st.lists(st.integers(0, 20000), min_size=1, max_size=30, unique=True))
def test_natural_sort_is_numeric(numbers: list[int]) -> None:
    names = [f"{n}.jpg" for n in numbers]
    assert [int(n[:-4]) for n in sorted(names, key=natural_key)] == sorted(numbers)

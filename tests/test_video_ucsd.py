"""UCSD Ped1/Ped2 original layout: frames, masks, the .m file, junk, mismatches, describe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmae.data.video import describe_video_dataset, detect_video_layout, open_video_dataset
from mmae.data.video.ucsd import parse_m_file
from mmae.errors import DataError

H, W = 12, 16
# (frames, 1-based inclusive ranges); video 2 has two ranges, video 3 is anomalous throughout.
TEST_VIDEOS = [(20, [(5, 9)]), (18, [(1, 3), (10, 14)]), (15, [(1, 15)])]


def _frame(t: int) -> np.ndarray:
    return np.full((H, W), 40 + 3 * t, dtype=np.uint8)


def write_ucsd(root: Path, name: str = "UCSDped2", with_masks: bool = True) -> Path:
    """A tiny UCSD folder with the exact names, junk files and a two-range .m line."""
    ds = root / name
    for k, n in enumerate((10, 12), start=1):
        d = ds / "Train" / f"Train{k:03d}"
        d.mkdir(parents=True)
        for t in range(1, n + 1):
            Image.fromarray(_frame(t)).save(d / f"{t:03d}.tif")
        (d / ".DS_Store").write_bytes(b"\x00junk")
        (d / "._001.tif").write_bytes(b"\x00\x05\x16\x07 resource fork")
    lines = ["TestVideoFile = {};"]
    for k, (n, ranges) in enumerate(TEST_VIDEOS, start=1):
        d = ds / "Test" / f"Test{k:03d}"
        d.mkdir(parents=True)
        for t in range(1, n + 1):
            Image.fromarray(_frame(t)).save(d / f"{t:03d}.tif")
        (d / "._001.tif").write_bytes(b"junk")
        if with_masks:
            g = ds / "Test" / f"Test{k:03d}_gt"
            g.mkdir()
            for t in range(1, n + 1):
                m = np.zeros((H, W), np.uint8)
                if any(s <= t <= e for s, e in ranges):
                    m[2:5, 3:7] = 1  # any value > 0 is anomalous
                Image.fromarray(m).save(g / f"frame{t:03d}.bmp")
            (g / ".DS_Store").write_bytes(b"junk")
        spans = ", ".join(f"{s}:{e}" for s, e in ranges)
        lines.append(f"TestVideoFile{{end+1}}.gt_frame = [{spans}];")
    (ds / "Test" / f"{name}.m").write_text("% labels\n" + "\n".join(lines) + "\n")
    (ds / "Test" / f"{name}.m~").write_text("TestVideoFile{end+1}.gt_frame = [1:2];\n")
    (ds / "Test" / f"._{name}.m").write_bytes(b"junk")
    (ds / ".DS_Store").write_bytes(b"junk")
    return ds


@pytest.fixture
def ucsd(tmp_path: Path) -> Path:
    return write_ucsd(tmp_path)


def _expected(n: int, ranges: list[tuple[int, int]]) -> np.ndarray:
    lab = np.zeros(n, np.int8)
    for s, e in ranges:
        lab[s - 1 : e] = 1
    return lab


def test_train_split_ignores_junk(ucsd: Path) -> None:
    assert detect_video_layout(ucsd) == "ucsd"
    ds = open_video_dataset(ucsd, "train")
    assert ds.layout == "ucsd" and ds.label_source is None
    assert [v.name for v in ds.videos] == ["Train001", "Train002"]
    assert [v.num_frames for v in ds.videos] == [10, 12]
    assert ds.videos[0].labels is None
    frames = ds.frames(1)
    assert frames.dtype == np.uint8 and frames.shape == (12, H, W)
    assert [int(f[0, 0]) for f in frames] == [40 + 3 * t for t in range(1, 13)]


def test_m_file_and_masks_agree(ucsd: Path) -> None:
    from_m = open_video_dataset(ucsd, "test")
    from_masks = open_video_dataset(ucsd, "test", label_source="ucsd_masks")
    assert from_m.label_source == "ucsd_m_file"
    assert from_masks.label_source == "ucsd_masks"
    for k, (n, ranges) in enumerate(TEST_VIDEOS):
        assert from_m.videos[k].labels.dtype == np.int8
        np.testing.assert_array_equal(from_m.videos[k].labels, _expected(n, ranges))
        np.testing.assert_array_equal(from_masks.videos[k].labels, from_m.videos[k].labels)
    assert from_m.videos[2].labels.all()  # anomalous throughout
    masks = from_m.masks(1)
    assert masks.dtype == bool and masks.shape == (18, H, W)
    np.testing.assert_array_equal(masks.any(axis=(1, 2)), from_m.videos[1].labels > 0)


def test_masks_only_default_and_frame_size(tmp_path: Path) -> None:
    ds_root = write_ucsd(tmp_path)
    (ds_root / "Test" / "UCSDped2.m").unlink()
    ds = open_video_dataset(ds_root, "test", frame_size=(6, 8))
    assert ds.label_source == "ucsd_masks"
    assert ds.frames(0).shape == (20, 6, 8)


def test_parse_m_file_ped1_ranges(tmp_path: Path) -> None:
    m = tmp_path / "UCSDped1.m"
    m.write_text("TestVideoFile = {};\nTestVideoFile{end+1}.gt_frame = [60:152];\n"
                 "% TestVideoFile{end+1}.gt_frame = [1:2];\n"
                 "TestVideoFile{end+1}.gt_frame = [1:15, 45:113];\n"
                 "TestVideoFile{end+1}.gt_frame=[7];\n")
    assert parse_m_file(m) == [[(60, 152)], [(1, 15), (45, 113)], [(7, 7)]]


def test_mask_count_mismatch(ucsd: Path) -> None:
    gt = ucsd / "Test" / "Test002_gt"
    sorted(gt.glob("*.bmp"))[-1].unlink()
    with pytest.raises(DataError, match="Test002_gt"):
        open_video_dataset(ucsd, "test")


def test_m_range_beyond_video(ucsd: Path) -> None:
    m = ucsd / "Test" / "UCSDped2.m"
    m.write_text(m.read_text().replace("[5:9]", "[5:21]"))
    with pytest.raises(DataError, match=r"UCSDped2\.m.*Test001"):
        open_video_dataset(ucsd, "test")


def test_m_line_count_mismatch(ucsd: Path) -> None:
    m = ucsd / "Test" / "UCSDped2.m"
    m.write_text("\n".join(m.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DataError, match="2 gt_frame lines but 3"):
        open_video_dataset(ucsd, "test")


def test_unreadable_frame(ucsd: Path) -> None:
    (ucsd / "Test" / "Test001" / "004.tif").write_bytes(b"not a tiff at all")
    ds = open_video_dataset(ucsd, "test")
    with pytest.raises(DataError, match="004.tif"):
        ds.frames(0)


def test_bad_paths_and_options(tmp_path: Path, ucsd: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        open_video_dataset(tmp_path / "nope", "train")
    with pytest.raises(DataError, match="not a known video dataset layout.*UCSDped2"):
        open_video_dataset(tmp_path, "train")
    with pytest.raises(DataError, match="unknown video layout"):
        open_video_dataset(ucsd, "train", layout="kitti")
    with pytest.raises(DataError, match="unknown split"):
        open_video_dataset(ucsd, "val")
    with pytest.raises(DataError, match="label_source"):
        open_video_dataset(ucsd, "test", label_source="frames_mat")


def test_describe_keys(ucsd: Path) -> None:
    d = describe_video_dataset(ucsd)
    json.dumps(d)
    assert d["kind"] == "video" and d["layout"] == "ucsd"
    assert d["label_source"] == "ucsd_m_file"
    assert [v["name"] for v in d["splits"]["train"]["videos"]] == ["Train001", "Train002"]
    assert [v["frames"] for v in d["splits"]["train"]["videos"]] == [10, 12]
    test = d["splits"]["test"]["videos"]
    assert [(v["name"], v["frames"], v["anomalous_frames"]) for v in test] == [
        ("Test001", 20, 5), ("Test002", 18, 8), ("Test003", 15, 15)]

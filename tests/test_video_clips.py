"""ClipDataset shapes, value range, video boundaries; VideoDataset caching on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmae.data.video import ClipDataset, open_video_dataset
from mmae.errors import ConfigError

LENGTHS = [20, 16, 9, 23]  # video 2 is shorter than a clip


def write_frames(root: Path) -> Path:
    ds = root / "tiny"
    for k, n in enumerate(LENGTHS, start=1):
        folder = ds / "training" / "frames" / f"{k:02d}"
        folder.mkdir(parents=True)
        for t in range(n):
            frame = np.full((10, 14), 0 if t == 0 else 255, np.uint8)
            frame[0, 0] = k  # the video index, to check boundaries
            frame[0, 1] = t
            Image.fromarray(frame).save(folder / f"{t:04d}.png")
    return ds


@pytest.fixture
def videos(tmp_path: Path):
    return open_video_dataset(write_frames(tmp_path), "train")


def test_clip_index_and_items(videos) -> None:
    with pytest.warns(UserWarning, match="shorter than clip_length"):
        clips = ClipDataset(videos, clip_length=16, stride=1)
    assert len(clips) == (20 - 15) + (16 - 15) + 0 + (23 - 15)
    assert clips.clip_index[0] == (0, 0) and clips.clip_index[-1] == (3, 7)
    assert all(s + 16 <= LENGTHS[v] for v, s in clips.clip_index)
    for k in (0, 5, len(clips) - 1):
        item = clips[k]
        clip = item["clip"]
        assert clip.dtype == torch.float32 and clip.shape == (1, 16, 10, 14)
        assert clip.min() >= -1.0 and clip.max() <= 1.0
        v, s = clips.clip_index[k]
        assert (item["video"], item["start"]) == (v, s)
        raw = np.rint((clip[0, :, 0, :2].numpy() + 1) * 127.5)
        assert (raw[:, 0] == v + 1).all()  # never crosses into another video
        assert raw[:, 1].tolist() == list(range(s, s + 16))
    first = clips[0]["clip"]
    assert first[0, 0, 5, 5] == -1.0 and first[0, 1, 5, 5] == 1.0
    assert clips.clips_of(1) == [5]


def test_stride_and_cover_end(videos) -> None:
    plain = ClipDataset(videos, clip_length=8, stride=5)
    assert [s for v, s in plain.clip_index if v == 3] == [0, 5, 10, 15]
    covered = ClipDataset(videos, clip_length=8, stride=5, cover_end=True)
    assert [s for v, s in covered.clip_index if v == 3] == [0, 5, 10, 15]
    assert [s for v, s in covered.clip_index if v == 0] == [0, 5, 10, 12]
    with pytest.raises(ConfigError):
        ClipDataset(videos, clip_length=0)


def test_dataloader_batches(videos) -> None:
    clips = ClipDataset(videos, clip_length=4, stride=2)
    batch = next(iter(torch.utils.data.DataLoader(clips, batch_size=3)))
    assert batch["clip"].shape == (3, 1, 4, 10, 14)
    assert batch["video"].tolist() == [0, 0, 0]


def test_disk_cache_decodes_once(tmp_path: Path, monkeypatch) -> None:
    root = write_frames(tmp_path)
    cache = tmp_path / "cache"
    ds = open_video_dataset(root, "train", frame_size=(5, 7), cache_dir=cache)
    first = np.array(ds.frames(0))
    assert first.shape == (20, 5, 7) and len(list(cache.glob("*.npy"))) == 1
    assert not ds.frames(0).flags.writeable

    def boom(*args, **kwargs):
        raise AssertionError("decoded twice")

    import mmae.data.video.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "read_frames", boom)
    again = open_video_dataset(root, "train", frame_size=(5, 7), cache_dir=cache)
    np.testing.assert_array_equal(again.frames(0), first)
    other_size = open_video_dataset(root, "train", frame_size=(6, 7), cache_dir=cache)
    with pytest.raises(AssertionError, match="decoded twice"):
        other_size.frames(0)

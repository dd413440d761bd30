"""``ClipDataset``: fixed-length grayscale clips cut from the videos of a ``VideoDataset``."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import Dataset

from mmae.data.video.dataset import VideoDataset
from mmae.errors import ConfigError


class ClipDataset(Dataset):
    """Clips of ``clip_length`` consecutive frames; a clip never crosses a video boundary.

    Every video is decoded (or loaded from the cache) once, at construction, so the clip index
    uses the true frame counts. Videos shorter than ``clip_length`` give no clip (a warning names
    them).

    Args:
        video_dataset: The split to cut clips from.
        clip_length: Frames per clip (16 in MemAE / MMAE).
        stride: Step between the first frames of consecutive clips of a video.
        cover_end: Also add the clip ending on a video's last frame when ``stride`` would skip
            it, so that every frame is covered by at least one clip.

    Items are ``{"clip": FloatTensor (1, T, H, W) in [-1, 1], "video": int, "start": int}``.
    """

    def __init__(
        self,
        video_dataset: VideoDataset,
        clip_length: int = 16,
        stride: int = 1,
        cover_end: bool = False,
    ) -> None:
        if int(clip_length) < 1:
            raise ConfigError(f"clip_length must be >= 1, got {clip_length}")
        if int(stride) < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        self.videos = video_dataset
        self.clip_length = int(clip_length)
        self.stride = int(stride)
        self.cover_end = bool(cover_end)
        self.clip_index: list[tuple[int, int]] = []
        short = []
        for v in range(len(video_dataset)):
            n = len(video_dataset.frames(v))
            last = n - self.clip_length
            if last < 0:
                short.append(video_dataset.videos[v].name)
                continue
            starts = list(range(0, last + 1, self.stride))
            if self.cover_end and starts[-1] != last:
                starts.append(last)
            self.clip_index.extend((v, s) for s in starts)
        if short:
            warnings.warn(
                f"{video_dataset.root}: {len(short)} video(s) shorter than clip_length "
                f"{self.clip_length} give no clip: {', '.join(short[:5])}",
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self.clip_index)

    def __getitem__(self, k: int) -> dict:
        video, start = self.clip_index[k]
        frames = self.videos.frames(video)[start : start + self.clip_length]
        clip = (np.asarray(frames, dtype=np.float32) - 127.5) / 127.5
        return {"clip": torch.from_numpy(clip).unsqueeze(0), "video": video, "start": start}

    def clips_of(self, video: int) -> list[int]:
        """Indices of the clips of one video, in temporal order."""
        return [k for k, (v, _) in enumerate(self.clip_index) if v == video]

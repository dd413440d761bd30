"""Build the datasets a run needs from its config (images or video clips)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from mmae.engine.config import RunConfig
from mmae.errors import DataError


def frame_size(cfg: RunConfig) -> tuple[int, int]:
    """(H, W) of video frames for a run: square, like MemAE (Ped2's 240x360 -> 256x256)."""
    return (cfg.image_size, cfg.image_size)


def build_dataset(cfg: RunConfig, split: str, data: str | Path | None = None,
                  cache_dir: Path | None = None, progress: bool = True) -> Any:
    """The dataset of ``split`` for a run.

    Images: an ``ImageDataset``. Video: a ``VideoDataset`` (use :func:`clips` for training).
    """
    root = Path(data if data is not None else cfg.data)
    if not root.exists():
        raise DataError(f"data path {root} does not exist")
    if cfg.kind == "image":
        from mmae.data.image import open_image_dataset

        return open_image_dataset(root, split, image_size=cfg.image_size, channels=cfg.channels,
                                  cache_dir=cache_dir, progress=progress)
    from mmae.data.video import open_video_dataset

    return open_video_dataset(root, split, frame_size=frame_size(cfg), cache_dir=cache_dir)


def clips(video_dataset: Any, cfg: RunConfig, train: bool) -> Dataset:
    """Clip view of a video dataset with the run's clip length and stride."""
    from mmae.data.video import ClipDataset

    stride = cfg.clip_stride if train else cfg.test_clip_stride
    return ClipDataset(video_dataset, clip_length=cfg.clip_length, stride=stride,
                       cover_end=not train)


def batch_input(batch: dict[str, Any]) -> torch.Tensor:
    """The model input of a collated batch (``image`` or ``clip``)."""
    return batch["image"] if "image" in batch else batch["clip"]


def channels_of(dataset: Any, cfg: RunConfig) -> int:
    """Number of input channels a dataset yields."""
    if cfg.kind == "video":
        return 1
    return int(dataset.channels)

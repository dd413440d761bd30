"""Build the datasets a run needs from its config (images or video clips)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from mmae.engine.config import RunConfig
from mmae.errors import ConfigError, DataError


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
    from mmae.data.video import detect_video_layout

    video_layout = detect_video_layout(root) if root.is_dir() else None
    if cfg.kind == "video" and cfg.video_layout != "auto":
        video_layout = cfg.video_layout
    if cfg.kind == "image" and video_layout is not None:
        raise ConfigError(f"{root} is a video dataset ({video_layout} layout) but model "
                          f"{cfg.model!r} is an image model; use mmae3d, memae3d or ae3d")
    if cfg.kind == "video" and video_layout is None:
        raise DataError(f"{root} is not a video dataset in a known layout (ucsd, avenue, "
                        f"shanghaitech, frames); model {cfg.model!r} is a video model")
    if cfg.kind == "image":
        from mmae.data.image import open_image_dataset

        return open_image_dataset(root, split, image_size=cfg.image_size, channels=cfg.channels,
                                  cache_dir=cache_dir, progress=progress)
    from mmae.data.video import open_video_dataset

    source = None if cfg.label_source == "auto" else cfg.label_source
    return open_video_dataset(root, split, layout=cfg.video_layout, label_source=source,
                              frame_size=frame_size(cfg), cache_dir=cache_dir)


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

"""Heatmap overlay videos for ``mmae predict --overlay`` on a video run (streamed)."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np
import torch

from mmae.data.video.files import resize_gray
from mmae.engine import plots
from mmae.engine.device import eval_mode
from mmae.errors import DataError


class OverlayWriter:
    """Blend the model's anomaly map into each frame and write the video (mp4v codec).

    Frames arrive one by one; every ``clip_length`` frames the window of the last
    ``clip_length`` frames is run through the model once and its per-frame maps are blended in
    (the end of a video reuses the last full window). The colour scale runs from 0 to the largest
    map value seen so far in the video. Memory holds one window of frames.

    Args:
        path: Output video file (``.mp4``).
        model: The run's video model (eval mode).
        clip_length: Frames per clip of the model.
        image_size: Side the model's frames are resized to.
        device: Device of the model.
        fps: Frames per second of the written video.
    """

    def __init__(self, path: Path, model: torch.nn.Module, clip_length: int, image_size: int,
                 device: torch.device, fps: float = 25.0) -> None:
        self.path = Path(path)
        self.model = model
        self.length = clip_length
        self.size = image_size
        self.device = device
        self.fps = fps if fps and fps > 0 else 25.0
        self.window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=clip_length)
        self.unwritten = 0
        self.vmax = 1e-12
        self.writer: cv2.VideoWriter | None = None
        self.frame_hw: tuple[int, int] = (0, 0)

    def add(self, frame: np.ndarray) -> None:
        """Add the next frame (uint8 HxW gray or HxWx3 RGB)."""
        rgb = plots.to_rgb_uint8(frame)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        small = resize_gray(gray, (self.size, self.size))
        self.window.append((rgb, (small.astype(np.float32) - 127.5) / 127.5))
        self.unwritten += 1
        if self.unwritten == self.length:
            self._write(self.length)

    def close(self) -> None:
        """Write the remaining frames and finish the file."""
        if self.unwritten:
            self._write(self.unwritten)
        if self.writer is not None:
            self.writer.release()

    def _maps(self) -> list[np.ndarray | None]:
        if len(self.window) < self.length:  # a video shorter than one clip: no map
            return [None] * len(self.window)
        x = torch.from_numpy(np.stack([p for _, p in self.window]))[None, None].to(self.device)
        with eval_mode(self.model):
            maps = self.model(x).anomaly_map.float().cpu().numpy()[0, 0]
        self.vmax = max(self.vmax, float(maps.max()))
        return list(maps)

    def _write(self, count: int) -> None:
        maps = self._maps()
        frames = [f for f, _ in self.window]
        for rgb, m in list(zip(frames, maps))[-count:]:
            pic = rgb if m is None else plots.overlay(rgb, m, 0.0, self.vmax)
            self._open(pic.shape)
            if pic.shape[:2] != self.frame_hw:  # a folder's frames may differ in size
                pic = cv2.resize(pic, self.frame_hw[::-1], interpolation=cv2.INTER_AREA)
            self.writer.write(cv2.cvtColor(pic, cv2.COLOR_RGB2BGR))
        self.unwritten = 0

    def _open(self, shape: tuple[int, ...]) -> None:
        if self.writer is not None:
            return
        h, w = shape[:2]
        self.frame_hw = (h, w)
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                      self.fps, (w, h))
        if not self.writer.isOpened():
            raise DataError(f"{self.path}: OpenCV cannot write an mp4v video here")

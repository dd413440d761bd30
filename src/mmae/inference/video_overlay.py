"""Heatmap overlay videos for ``mmae predict --overlay`` on a video run (streamed)."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np

from mmae.device import eval_mode
from mmae.errors import DataError
from mmae.inference.inferencer import Inferencer
from mmae.report import plots
from mmae.tasks.video import clip_input, to_gray_frame


class OverlayWriter:
    """Blend the run's anomaly map into each frame and write the video (mp4v codec).

    Frames arrive one by one; every ``clip_length`` frames the window of the last
    ``clip_length`` frames is run through the model and the run's post-processing once (frames
    prepared as for scoring) and its per-frame maps are blended in (the end of a video reuses the
    last full window). The colour scale runs from 0 to the largest map value seen so far in the
    video. Memory holds one window of frames.

    Args:
        path: Output video file (``.mp4``).
        inferencer: The loaded video run.
        fps: Frames per second of the written video.
    """

    def __init__(self, path: Path, inferencer: Inferencer, fps: float = 25.0) -> None:
        inferencer.require_kind("video", "overlay videos")
        self.path = Path(path)
        self.inferencer = inferencer
        self.length = inferencer.config.clip_length
        self.size = inferencer.config.image_size
        self.fps = fps if fps and fps > 0 else 25.0
        self.window: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=self.length)
        self.unwritten = 0
        self.vmax = 1e-12
        self.writer: cv2.VideoWriter | None = None
        self.frame_hw: tuple[int, int] = (0, 0)

    def add(self, frame: np.ndarray) -> None:
        """Add the next frame (uint8 HxW gray or HxWx3 RGB)."""
        self.window.append((plots.to_rgb_uint8(frame), to_gray_frame(frame, self.size)))
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
        inf = self.inferencer
        x = clip_input([np.stack([g for _, g in self.window])], inf.device)
        with eval_mode(inf.model):
            maps = inf.post.run(inf.model, x)[1][0].cpu().numpy()
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

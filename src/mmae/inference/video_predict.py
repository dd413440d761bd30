"""``mmae predict`` on a video run: per-frame scores of video files or folders of frames.

Writes ``frames.csv`` (``video``, ``frame`` (0-based), ``score``, ``anomalous``: one row per
frame of every input), ``plots/<video>.png`` (the score curve with the threshold) and, with
``overlay``, ``overlays/<video>.mp4`` (the frames with the anomaly heatmap blended in).
Frames are read lazily (OpenCV for video files, one image at a time for folders) and scored as a
stream, so memory stays bounded whatever a video's length.

Frame scores follow the run's ``frame_rule`` (as in ``mmae test``). Under ``mean`` every frame of a
video with at least ``clip_length`` frames is scored. Under ``center`` a clip's score goes to its
frame ``start + clip_length // 2``, so the first ``clip_length // 2`` and the last
``clip_length // 2 - 1`` frames (8 and 7 for 16-frame clips) get no score: their row has
``score`` ``nan`` and an empty ``anomalous``. Videos shorter than one clip are all ``nan``.
"""

from __future__ import annotations

import csv
import warnings
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mmae.data.video.files import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    iter_video_frames,
    list_files,
    list_frame_files,
    read_gray,
    video_properties,
)
from mmae.data.video.limits import check_frame_files, check_video_header, limit_frames
from mmae.errors import DataError, LimitError
from mmae.inference.inferencer import Inferencer
from mmae.inference.video_overlay import OverlayWriter
from mmae.report import plots

FRAMES_CSV = "frames.csv"
FRAME_COLUMNS = ("video", "frame", "score", "anomalous")


@dataclass(frozen=True)
class VideoSource:
    """One input video: a file OpenCV decodes, or a folder of frame images (sorted)."""

    name: str
    path: Path
    is_folder: bool

    def frame_count(self) -> int | None:
        """Frames announced (container header or file count); None if unknown."""
        if self.is_folder:
            return len(list_frame_files(self.path))
        props = video_properties(self.path)
        return props[0] if props is not None and props[0] > 0 else None

    def fps(self) -> float:
        """Frames per second of a video file (25 for folders or when unknown)."""
        props = None if self.is_folder else video_properties(self.path)
        return props[1] if props is not None and props[1] > 0 else 25.0

    def frames(self) -> Iterator[np.ndarray]:
        """Frames in order, one at a time: uint8 RGB HxWx3 (files) or gray HxW (folders)."""
        if self.is_folder:
            for f in list_frame_files(self.path):
                yield read_gray(f)
            return
        yield from iter_video_frames(self.path)

    def checked_frames(self, max_pixels: int | None,
                       max_frames: int | None = None) -> Iterator[np.ndarray]:
        """:meth:`frames` within size limits: the headers are checked now, before anything is
        decoded (LimitError), and each frame again as it is decoded."""
        if self.is_folder:
            check_frame_files(list_frame_files(self.path), max_pixels, max_frames, str(self.path))
        else:
            check_video_header(self.path, max_pixels, max_frames)
        return limit_frames(self.frames(), self.path, max_pixels, max_frames)


def collect_videos(inputs: list[Path]) -> list[VideoSource]:
    """Video sources from the inputs: a folder holding image frames is one video; another
    folder contributes its video files (.avi, .mp4, ...); a file named directly is a video."""
    found: list[VideoSource] = []
    for p in inputs:
        if p.is_dir():
            if list_files(p, IMAGE_EXTENSIONS):
                found.append(VideoSource(p.name, p, True))
            else:
                found.extend(VideoSource(f.stem, f, False)
                             for f in list_files(p, VIDEO_EXTENSIONS))
        elif p.is_file():
            found.append(VideoSource(p.stem, p, False))
        else:
            raise DataError(f"input {p} does not exist")
    if not found:
        raise DataError(f"no videos or frame folders found in {', '.join(map(str, inputs))}")
    seen: dict[str, int] = {}
    unique = []
    for v in found:  # distinct names for the plot and overlay files
        seen[v.name] = seen.get(v.name, 0) + 1
        name = v.name if seen[v.name] == 1 else f"{v.name}_{seen[v.name]}"
        unique.append(VideoSource(name, v.path, v.is_folder))
    return unique


def _decision(score: float, threshold: float | None) -> str | int:
    if threshold is None or not np.isfinite(score):
        return ""
    return int(score >= threshold)


def predict_video_inputs(inferencer: Inferencer, inputs: list[Path], out: Path,
                         overlay: bool = False, progress: bool = True, batch_size: int = 8,
                         max_pixels: int | None = None,
                         on_refused: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Score every frame of every input video; returns (frames written, anomalous frames).

    Unreadable videos are skipped with a warning naming them. A video whose frames are over
    ``max_pixels`` (from its header, or as decoded) is skipped and ``on_refused`` gets the reason.
    """
    inferencer.require_kind("video", "video prediction")
    th = inferencer.threshold
    (out / "plots").mkdir(parents=True, exist_ok=True)
    if overlay:
        (out / "overlays").mkdir(exist_ok=True)
    total = flagged = refused = 0

    def refuse(exc: LimitError) -> None:
        nonlocal refused
        refused += 1
        if on_refused is not None:
            on_refused(str(exc))

    with open(out / FRAMES_CSV, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FRAME_COLUMNS)
        for video in collect_videos(inputs):
            try:
                checked = video.checked_frames(max_pixels)
            except LimitError as exc:
                refuse(exc)
                continue
            except DataError:  # unreadable: fails below with the reader's own message
                checked = limit_frames(video.frames(), video.path, max_pixels)
            writer = None
            if overlay:
                writer = OverlayWriter(out / "overlays" / f"{video.name}.mp4", inferencer,
                                       video.fps())
            scores = array("d")
            frames = tqdm(checked, total=video.frame_count(), desc=video.name, unit="frame",
                          disable=not progress, leave=False)
            if writer is not None:
                frames = _tee(frames, writer)
            try:
                for t, score in inferencer.predict_frames(frames, batch_size=batch_size):
                    flag = _decision(score, th)
                    w.writerow([video.name, t, repr(float(score)), flag])
                    scores.append(score)
                    flagged += flag == 1
            except LimitError as exc:
                refuse(exc)
                continue
            except DataError as exc:
                warnings.warn(f"{exc}; skipped", stacklevel=2)
                continue
            finally:
                if writer is not None:
                    writer.close()
            total += len(scores)
            plots.save_score_plot(out / "plots" / f"{video.name}.png", np.asarray(scores), th,
                                  f"{video.name} ({inferencer.config.frame_rule} frame rule)")
    if total == 0:
        if refused:
            raise LimitError(f"no video was scored: {refused} over the size limit (--max-pixels)")
        raise DataError("none of the inputs could be read as a video")
    return total, flagged


def _tee(frames: Iterator[np.ndarray], writer: OverlayWriter) -> Iterator[np.ndarray]:
    for f in frames:
        writer.add(f)
        yield f

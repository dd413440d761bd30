"""Assigning clip scores to frames (video evaluation).

Clip ``i`` covers frames ``start_i .. start_i + clip_length - 1``; by default
``start_i = i * stride`` for every clip that fits in the video. Two rules:

* ``"mean"``: every frame gets the mean score of all clips covering it (with stride 1 every frame
  is scored). Frames no clip covers (possible with stride > 1) are dropped.
* ``"center"``: MemAE's rule: a clip's score goes to its frame ``start + clip_length // 2`` (the 9th
  frame of a 16-frame clip); frames that receive no clip are dropped (with stride 1: the first 8
  and the last 7 frames of each video).

Dropped frames are NaN in the returned scores and False in ``kept``; :func:`mmae.metrics.frame_auc`
leaves NaN frames out.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mmae.errors import ConfigError, DataError
from mmae.metrics._checks import as_scores

ALIGNMENT_RULES = {
    "mean": "every frame gets the mean score of all clips covering it (every frame scored)",
    "center": (
        "MemAE: clip score assigned to frame start + clip_length // 2 (9th of 16); frames no clip "
        "is assigned to (first 8, last 7 with stride 1) are dropped"
    ),
}


class FrameScores(NamedTuple):
    """Per-frame scores of one video: ``scores`` (float64, NaN where dropped) and ``kept``."""

    scores: np.ndarray
    kept: np.ndarray


def clip_scores_to_frames(
    clip_scores: object,
    num_frames: int,
    clip_length: int = 16,
    stride: int = 1,
    rule: str = "mean",
    starts: object = None,
) -> FrameScores:
    """Per-frame scores of one video from its clip scores.

    Args:
        clip_scores: one finite score per clip, in clip order.
        num_frames: number of frames T of the video.
        clip_length: frames per clip.
        stride: distance between consecutive clip starts (ignored when ``starts`` is given).
        rule: ``"mean"`` or ``"center"`` (see the module docstring).
        starts: optional explicit first-frame index of each clip.

    Returns:
        :class:`FrameScores` with ``scores`` of shape (T,) (NaN for dropped frames) and the bool
        mask ``kept`` of scored frames.

    Raises:
        DataError: a clip count that does not match the video, or clips outside it.
        ConfigError: an unknown rule or a non-positive clip length / stride.
    """
    if rule not in ALIGNMENT_RULES:
        raise ConfigError(
            f"unknown alignment rule {rule!r}; expected one of {list(ALIGNMENT_RULES)}"
        )
    if clip_length < 1 or stride < 1:
        raise ConfigError(f"clip_length and stride must be >= 1, got {clip_length} and {stride}")
    s = as_scores(clip_scores, "clip scores").astype(np.float64)
    t = int(num_frames)
    if starts is None:
        if t < clip_length:
            raise DataError(f"video has {t} frames, fewer than clip_length={clip_length}")
        first = np.arange(0, t - clip_length + 1, stride)
        if first.size != s.size:
            raise DataError(
                f"{s.size} clip scores for a video of {t} frames, expected {first.size} "
                f"(clip_length={clip_length}, stride={stride})"
            )
    else:
        first = np.asarray(starts)
        if first.shape != s.shape or first.dtype.kind not in "iu":
            raise DataError(f"starts must be {s.size} integer clip start indices")
        if first.size and (first.min() < 0 or first.max() + clip_length > t):
            raise DataError(f"a clip lies outside the video of {t} frames")

    total = np.zeros(t, dtype=np.float64)
    count = np.zeros(t, dtype=np.int64)
    offsets = range(clip_length) if rule == "mean" else (clip_length // 2,)
    for off in offsets:
        np.add.at(total, first + off, s)
        np.add.at(count, first + off, 1)
    kept = count > 0
    scores = np.full(t, np.nan)
    scores[kept] = total[kept] / count[kept]
    return FrameScores(scores, kept)

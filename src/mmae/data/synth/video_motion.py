"""Synthetic video whose anomalies are in the motion only (``mmae synth video OUT --motion``).

Same UCSD Ped2 layout and static scene as :mod:`mmae.data.synth.video`, but every object looks
alike: small dark "pedestrians" drawn from one size and grey-level distribution. In normal frames
several of them walk along the walkway in one direction (left to right) at normal speeds. Each
test video has one anomalous pedestrian, identical in appearance, that enters during the video
and is labelled while it is visible; its motion is the anomaly, cycling over the test videos:

* ``fast`` - along the flow, :data:`FAST_FACTOR` times a normal speed;
* ``against`` - against the flow at a normal speed;
* ``zigzag`` - along the flow at a normal speed, swinging up and down across the walkway.

Output (deterministic for a seed, bytes included)::

    OUT/UCSDped2/Train/Train001/001.tif ...
    OUT/UCSDped2/Test/Test001/001.tif ...
    OUT/UCSDped2/Test/Test001_gt/001.bmp ...
    OUT/UCSDped2/Test/UCSDped2.m
    OUT/UCSDped2/synthetic.json        (generator settings and events, with the velocities)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mmae.data.synth.video import _background, _draw, _Object, write_ped2_dataset
from mmae.errors import ConfigError

MOTION_KINDS: tuple[str, ...] = ("fast", "against", "zigzag")
NORMAL_SPEED: tuple[float, float] = (1.4, 2.0)
"""Horizontal speed of normal pedestrians, in pixels per frame at a frame width of 96."""
FAST_FACTOR: tuple[float, float] = (3.0, 3.5)
NORMAL_DRIFT = 0.05
"""Largest vertical speed of a normal pedestrian, in pixels per frame at a frame height of 72."""
ZIGZAG_PERIOD: tuple[float, float] = (12.0, 16.0)
"""Frames per up-and-down swing of a zigzagging pedestrian."""


def _pedestrian(rng: np.random.Generator, h: int, w: int, anywhere: bool) -> _Object:
    """A pedestrian of the common appearance, walking left to right at a normal speed."""
    rx, ry = 0.065 * w + rng.uniform(0, 0.6), 0.15 * h + rng.uniform(0, 1.0)
    return _Object(
        cy=rng.uniform(0.48 * h, 0.74 * h), cx=rng.uniform(0, w) if anywhere else -rx,
        ry=ry, rx=rx, vy=rng.uniform(-NORMAL_DRIFT, NORMAL_DRIFT) * h / 72,
        vx=rng.uniform(*NORMAL_SPEED) * w / 96, value=rng.uniform(70, 100),
    )


def _anomaly(rng: np.random.Generator, h: int, w: int, kind: str) -> tuple[_Object, float]:
    """The anomalous pedestrian at its entry point and, for ``zigzag``, its swing amplitude."""
    obj = _pedestrian(rng, h, w, anywhere=False)
    obj.cy, obj.vy = rng.uniform(0.55 * h, 0.68 * h), 0.0
    amplitude = 0.0
    if kind == "fast":
        obj.vx *= rng.uniform(*FAST_FACTOR)
    elif kind == "against":
        obj.vx, obj.cx = -obj.vx, w + obj.rx
    else:
        amplitude = rng.uniform(0.12, 0.15) * h
    return obj, amplitude


def _render(rng: np.random.Generator, bg: np.ndarray, frames: int, walkers: int,
            kind: str | None) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    """Frames (uint8), anomaly masks (bool) and the anomalous object's motion of one video."""
    h, w = bg.shape
    people = [_pedestrian(rng, h, w, anywhere=True) for _ in range(walkers)]
    start = int(rng.integers(frames // 8, frames // 4))
    anomaly, amplitude = _anomaly(rng, h, w, kind) if kind is not None else (None, 0.0)
    period = rng.uniform(*ZIGZAG_PERIOD)
    base_y = anomaly.cy if anomaly is not None else 0.0
    out_frames, out_masks = [], []
    for t in range(frames):
        frame = bg.copy()
        for k, p in enumerate(people):
            _draw(frame, p)
            p.cx += p.vx
            p.cy += p.vy
            if p.cx > w + p.rx + 2:
                people[k] = _pedestrian(rng, h, w, anywhere=False)
        mask = np.zeros((h, w), dtype=bool)
        if anomaly is not None and t >= start:
            anomaly.cy = base_y + amplitude * math.sin(2 * math.pi * (t - start) / period)
            mask = _draw(frame, anomaly) >= 0.5
            anomaly.cx += anomaly.vx
        frame += rng.normal(0.0, 1.5, frame.shape)
        out_frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        out_masks.append(mask)
    motion = {} if anomaly is None else {
        "vx": round(anomaly.vx, 4), "zigzag_amplitude": round(amplitude, 4),
        "zigzag_period": round(period, 4) if amplitude else None}
    return out_frames, out_masks, motion


def generate_motion_video(
    out: str | Path,
    seed: int = 0,
    *,
    frame_size: tuple[int, int] = (72, 96),
    num_train: int = 4,
    num_test: int = 6,
    train_frames: int = 120,
    test_frames: int = 100,
    walkers: int = 4,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic UCSD-Ped2-layout dataset with motion anomalies; return ``out/UCSDped2``.

    Args:
        out: Output folder (created if needed).
        seed: Seed for every random choice; the same seed gives identical files.
        frame_size: ``(H, W)`` of the frames; speeds and sizes scale with it.
        num_train: Number of normal training videos.
        num_test: Number of test videos; the anomaly kinds cycle through :data:`MOTION_KINDS`.
        train_frames: Frames per training video.
        test_frames: Frames per test video.
        walkers: Normal pedestrians in the scene at any time.
        overwrite: Replace an existing ``out/UCSDped2``; otherwise that is a RunFolderError.

    Raises:
        ConfigError: out-of-range settings.
        RunFolderError: ``out/UCSDped2`` exists and ``overwrite`` is False.
    """
    h, w = (int(v) for v in frame_size)
    if h < 32 or w < 32:
        raise ConfigError(f"frame_size must be at least 32x32, got {frame_size}")
    if num_train < 1 or num_test < 1 or train_frames < 16 or test_frames < 32:
        raise ConfigError("need num_train >= 1, num_test >= 1, >= 16 frames per training video "
                          "and >= 32 per test video")
    bg = _background(np.random.default_rng([seed, 10]), h, w)

    def test_videos() -> Iterator[tuple[str, list[np.ndarray], list[np.ndarray], dict]]:
        for k in range(num_test):
            kind = MOTION_KINDS[k % len(MOTION_KINDS)]
            frames, masks, motion = _render(np.random.default_rng([seed, 12, k]), bg,
                                            test_frames, walkers, kind)
            yield kind, frames, masks, motion

    train = (_render(np.random.default_rng([seed, 11, k]), bg, train_frames, walkers, None)[0]
             for k in range(num_train))
    info = {"generator": "mmae.data.synth_video_motion", "seed": seed, "frame_size": [h, w],
            "num_train": num_train, "num_test": num_test, "train_frames": train_frames,
            "test_frames": test_frames, "walkers": walkers,
            "normal_speed": [v * w / 96 for v in NORMAL_SPEED]}
    return write_ped2_dataset(
        out, overwrite, train, test_videos(),
        f"% Synthetic UCSDped2-style frame labels (motion anomalies) written by mmae "
        f"(seed {seed})", info)

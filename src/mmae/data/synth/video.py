"""Synthetic surveillance video in the UCSD Ped2 original layout (``mmae synth video OUT``).

A static textured scene (a walkway under a gradient with fixed texture and per-frame sensor
noise) with small, darker "pedestrians" walking slowly as normal events. In each test video one
anomalous event happens over a contiguous range of frames: a small bright object moving fast
("bike") or a large bright box ("cart"). Optionally some test videos are anomalous throughout
(a large bright object bouncing inside the scene). Pixel masks cover the anomalous object, and
the ``.m`` file holds exactly the frames whose mask is non-empty, so both label sources agree.

Output (deterministic for a seed, bytes included)::

    OUT/UCSDped2/Train/Train001/001.tif ...
    OUT/UCSDped2/Test/Test001/001.tif ...
    OUT/UCSDped2/Test/Test001_gt/001.bmp ...
    OUT/UCSDped2/Test/UCSDped2.m
    OUT/UCSDped2/synthetic.json        (generator settings and events)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from mmae.data.video.labels import intervals_from_labels
from mmae.errors import ConfigError, RunFolderError


@dataclass
class _Object:
    cy: float
    cx: float
    ry: float
    rx: float
    vy: float
    vx: float
    value: float
    box: bool = False
    bounce: bool = False


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Static scene: gradient, a lighter walkway band, blurred blotches and fine texture."""
    yy = np.linspace(0.0, 1.0, h)[:, None]
    bg = np.full((h, w), 95.0) + 25.0 * yy
    band = (yy > 0.3) & (yy < 0.9)
    bg = bg + 30.0 * np.broadcast_to(band, (h, w))
    blotch = cv2.GaussianBlur(rng.normal(0, 1, (h, w)), (0, 0), sigmaX=max(h, w) / 15)
    bg += 12.0 * blotch / (np.abs(blotch).max() + 1e-9)
    bg += cv2.GaussianBlur(rng.normal(0, 6.0, (h, w)), (0, 0), sigmaX=0.8)
    for _ in range(3):  # poles, kerbs: fixed dark lines
        x = int(rng.integers(0, w))
        bg[: int(h * 0.35), max(0, x - 1) : x + 1] -= 30.0
    bg[int(h * 0.3), :] -= 20.0
    bg[min(h - 1, int(h * 0.9)), :] -= 20.0
    return bg


def _draw(frame: np.ndarray, obj: _Object) -> np.ndarray:
    """Draw ``obj`` with anti-aliased edges; returns its coverage (float, frame-sized)."""
    h, w = frame.shape
    cover = np.zeros((h, w), dtype=np.float64)
    y0, y1 = int(np.floor(obj.cy - obj.ry - 1)), int(np.ceil(obj.cy + obj.ry + 2))
    x0, x1 = int(np.floor(obj.cx - obj.rx - 1)), int(np.ceil(obj.cx + obj.rx + 2))
    y0, y1, x0, x1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if y0 >= y1 or x0 >= x1:
        return cover
    yy = np.arange(y0, y1)[:, None] - obj.cy
    xx = np.arange(x0, x1)[None, :] - obj.cx
    if obj.box:
        edge = np.minimum(obj.ry - np.abs(yy), obj.rx - np.abs(xx))
    else:
        edge = (1.0 - np.sqrt((yy / obj.ry) ** 2 + (xx / obj.rx) ** 2)) * min(obj.ry, obj.rx)
    alpha = np.clip(edge + 0.5, 0.0, 1.0)
    cover[y0:y1, x0:x1] = alpha
    frame[y0:y1, x0:x1] = frame[y0:y1, x0:x1] * (1 - alpha) + obj.value * alpha
    return cover


def _walker(rng: np.random.Generator, h: int, w: int, anywhere: bool) -> _Object:
    """A small pedestrian, darker than the walkway, walking slowly along it."""
    direction = 1.0 if rng.random() < 0.5 else -1.0
    rx, ry = 0.022 * w + rng.uniform(0, 1), 0.055 * h + rng.uniform(0, 1.5)
    cx = rng.uniform(0, w) if anywhere else (-rx if direction > 0 else w + rx)
    return _Object(
        cy=rng.uniform(0.38 * h, 0.85 * h), cx=cx, ry=ry, rx=rx,
        vy=rng.uniform(-0.05, 0.05), vx=direction * rng.uniform(0.35, 0.8),
        value=rng.uniform(85, 105),
    )


def _anomaly(rng: np.random.Generator, h: int, w: int, kind: str, frames: int) -> _Object:
    """A bright anomalous object entering from a side (or bouncing inside for ``"throughout"``)."""
    direction = 1.0 if rng.random() < 0.5 else -1.0
    cy = rng.uniform(0.45 * h, 0.75 * h)
    if kind == "bike":
        ry, rx, value, box = 0.075 * h, 0.05 * w, rng.uniform(225, 250), False
        duration = frames * rng.uniform(0.35, 0.45)
    else:
        ry, rx, value, box = 0.11 * h, 0.09 * w, rng.uniform(215, 240), True
        duration = frames * rng.uniform(0.45, 0.55)
    if kind == "throughout":
        return _Object(cy, rng.uniform(rx + 2, w - rx - 2), ry, rx, 0.0,
                       direction * rng.uniform(2.0, 3.0), value, box=True, bounce=True)
    speed = (w + 2 * rx + 2) / duration
    cx = -rx - 1 if direction > 0 else w + rx + 1
    return _Object(cy, cx, ry, rx, 0.0, direction * speed, value, box=box)


def _render_video(
    rng: np.random.Generator, bg: np.ndarray, frames: int, walkers: int, event: str | None
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Frames (uint8) and anomaly masks (bool) of one video; returns the event's start frame."""
    h, w = bg.shape
    people = [_walker(rng, h, w, anywhere=True) for _ in range(walkers)]
    start = 0 if event in (None, "throughout") else int(rng.integers(frames // 5, frames // 3))
    anomaly = _anomaly(rng, h, w, event, frames) if event is not None else None
    out_frames, out_masks = [], []
    for t in range(frames):
        frame = bg.copy()
        for k, p in enumerate(people):
            _draw(frame, p)
            p.cx += p.vx
            p.cy += p.vy
            if p.cx < -p.rx - 2 or p.cx > w + p.rx + 2:
                people[k] = _walker(rng, h, w, anywhere=False)
        mask = np.zeros((h, w), dtype=bool)
        if anomaly is not None and t >= start:
            mask = _draw(frame, anomaly) >= 0.5
            anomaly.cx += anomaly.vx
            if anomaly.bounce and not anomaly.rx < anomaly.cx < w - anomaly.rx:
                anomaly.vx = -anomaly.vx
                anomaly.cx = float(np.clip(anomaly.cx, anomaly.rx, w - anomaly.rx))
        frame += rng.normal(0.0, 1.5, frame.shape)
        out_frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        out_masks.append(mask)
    return out_frames, out_masks, start


def _write_frames(folder: Path, frames: list[np.ndarray], ext: str) -> None:
    folder.mkdir(parents=True)
    fmt = "TIFF" if ext == "tif" else "BMP"
    for t, frame in enumerate(frames, start=1):
        Image.fromarray(frame).save(folder / f"{t:03d}.{ext}", format=fmt)


def write_ped2_dataset(out: str | Path, overwrite: bool, train: Iterable[list[np.ndarray]],
                       test: Iterable[tuple[str, list[np.ndarray], list[np.ndarray], dict]],
                       header: str, info: dict[str, Any]) -> Path:
    """Write rendered videos in the UCSD Ped2 layout under ``out/UCSDped2`` and return it.

    Args:
        out: Output folder (created if needed).
        overwrite: Replace an existing ``out/UCSDped2``; otherwise that is a RunFolderError.
        train: Frames of each training video, in order (rendered lazily, one at a time).
        test: Per test video ``(kind, frames, masks, extra)``: the pixel masks give the frame
            labels; ``kind`` and ``extra`` go to the video's event in ``synthetic.json``.
        header: The comment line of the ``UCSDped2.m`` label file.
        info: The rest of ``synthetic.json`` (``events`` is added).
    """
    root = Path(out).expanduser() / "UCSDped2"
    if root.exists():
        if not overwrite:
            raise RunFolderError(f"{root}: already exists (pass overwrite=True to replace it)")
        shutil.rmtree(root)
    for k, frames in enumerate(train):
        _write_frames(root / "Train" / f"Train{k + 1:03d}", frames, "tif")
    lines = [header, "TestVideoFile = {};"]
    events = []
    for k, (kind, frames, masks, extra) in enumerate(test):
        name = f"Test{k + 1:03d}"
        _write_frames(root / "Test" / name, frames, "tif")
        _write_frames(root / "Test" / f"{name}_gt", [m.astype(np.uint8) * 255 for m in masks],
                      "bmp")
        ranges = intervals_from_labels(np.array([m.any() for m in masks]))
        lines.append("TestVideoFile{end+1}.gt_frame = [" +
                     ", ".join(f"{s}:{e}" for s, e in ranges) + "];")
        events.append({"video": name, "kind": kind, "ranges": ranges, **extra})
    (root / "Test" / "UCSDped2.m").write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = {**info, "events": events}
    (root / "synthetic.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return root


def generate_synthetic_video(
    out: str | Path,
    seed: int = 0,
    *,
    frame_size: tuple[int, int] = (120, 180),
    num_train: int = 4,
    num_test: int = 4,
    train_frames: int = 120,
    test_frames: int = 100,
    walkers: int = 4,
    anomalous_throughout: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic UCSD-Ped2-layout dataset under ``out`` and return ``out/UCSDped2``.

    Args:
        out: Output folder (created if needed).
        seed: Seed for every random choice; the same seed gives identical files.
        frame_size: ``(H, W)`` of the frames (Ped2 itself is 240x360).
        num_train: Number of normal training videos.
        num_test: Number of test videos; each has one anomalous event ("bike": small, bright,
            fast; "cart": large, bright), alternating.
        train_frames: Frames per training video.
        test_frames: Frames per test video.
        walkers: Pedestrians (normal objects) in the scene at any time.
        anomalous_throughout: How many of the last test videos are anomalous in every frame.
        overwrite: Replace an existing ``out/UCSDped2``; otherwise that is a RunFolderError.

    Raises:
        ConfigError: out-of-range settings.
        RunFolderError: ``out/UCSDped2`` exists and ``overwrite`` is False.
    """
    h, w = (int(v) for v in frame_size)
    if h < 16 or w < 16:
        raise ConfigError(f"frame_size must be at least 16x16, got {frame_size}")
    if num_train < 1 or num_test < 1 or train_frames < 16 or test_frames < 16:
        raise ConfigError("need num_train >= 1, num_test >= 1 and >= 16 frames per video")
    if not 0 <= anomalous_throughout <= num_test:
        raise ConfigError(f"anomalous_throughout must be in [0, {num_test}]")
    bg = _background(np.random.default_rng([seed, 0]), h, w)

    def test_videos() -> Iterator[tuple[str, list[np.ndarray], list[np.ndarray], dict]]:
        for k in range(num_test):
            throughout = k >= num_test - anomalous_throughout
            kind = "throughout" if throughout else ("bike" if k % 2 == 0 else "cart")
            frames, masks, _ = _render_video(np.random.default_rng([seed, 2, k]), bg,
                                             test_frames, walkers, kind)
            yield kind, frames, masks, {}

    train = (_render_video(np.random.default_rng([seed, 1, k]), bg, train_frames, walkers,
                           None)[0] for k in range(num_train))
    info = {"generator": "mmae.data.synth_video", "seed": seed, "frame_size": [h, w],
            "num_train": num_train, "num_test": num_test, "train_frames": train_frames,
            "test_frames": test_frames, "walkers": walkers}
    return write_ped2_dataset(
        out, overwrite, train, test_videos(),
        f"% Synthetic UCSDped2-style frame labels written by mmae (seed {seed})", info)

"""Synthetic large-image surface ``sheet``: brushed metal with defects of a few pixels.

Registered by :mod:`mmae.data.synth.image` after ``pcb`` (same layout, seeding and exact 0/1
masks). Unlike the other categories, whose defects scale with the image, a sheet's defects have
a fixed size in pixels whatever the image size: at 256 px and more they are a small fraction of
the side, so resizing the whole image to a model's 64 px makes them vanish, while tiles at the
image's own resolution keep them (``benchmarks/bench_tiles.py``). Per image: brushing streaks
along a jittered direction, a lighting gradient, colour jitter, sensor noise; a defect changes
pixels only where its mask is set.

Defects, all faint and 1 to 2.5 px wide: ``scratch`` (a straight light line, 20 to 30 px long),
``crack`` (a dark polyline of three 8 px segments), ``specks`` (6 to 9 dark dots of 1.6 to 2.6 px
within 16 px). The largest change a defect makes is 4 to 7 times the texture's row-to-row spread
at full resolution, about 2 times after a 256 to 64 px resize (6 images of each defect).
"""

from __future__ import annotations

import math

import numpy as np

from mmae.data.synth.image_hard import _grid, _segment_dist, _smooth_noise

Rng = np.random.Generator

SHEET_DEFECTS: dict[str, tuple[str, ...]] = {"sheet": ("scratch", "crack", "specks")}
#: Smallest defect area in pixels (not scaled with the image size).
SHEET_MIN_AREA = 24


def _disc(s: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = _grid(s)
    return np.hypot(yy - cy, xx - cx) <= r


def _segment(s: int, p0: tuple[float, float], p1: tuple[float, float], width: float
             ) -> np.ndarray:
    return _segment_dist(s, p0, p1) <= width / 2


def _sheet(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(s)
    angle = rng.uniform(-0.05, 0.05)
    streaks = _smooth_noise(rng, s, 0.6, 40.0, angle)  # long along the brushing, thin across
    gy, gx = rng.uniform(-0.06, 0.06, 2)
    light = 1.0 + gy * (yy / s - 0.5) + gx * (xx / s - 0.5)
    base = np.array((0.58, 0.60, 0.63), np.float32) + rng.uniform(-0.02, 0.02)
    shade = (light + 0.035 * streaks)[..., None]
    img = base * shade + rng.normal(0.0, 0.008, (s, s, 3)).astype(np.float32)
    mask = np.zeros((s, s), bool)
    if defect is None:
        return img, mask
    margin = 16.0
    cy, cx = rng.uniform(margin, s - margin, 2)
    if defect == "scratch":  # a thin, faint, light line
        a, half = rng.uniform(0, math.pi), rng.uniform(10.0, 15.0)
        d = (half * math.sin(a), half * math.cos(a))
        mask = _segment(s, (cy - d[0], cx - d[1]), (cy + d[0], cx + d[1]), 1.2)
        img[mask] = img[mask] + 0.1
    elif defect == "crack":  # a thin, faint, dark polyline
        a = rng.uniform(0, 2 * math.pi)
        y, x = cy, cx
        for _ in range(3):
            a += rng.uniform(-0.6, 0.6)
            ny, nx = y + 8.0 * math.sin(a), x + 8.0 * math.cos(a)
            mask |= _segment(s, (y, x), (ny, nx), 1.2)
            y, x = ny, nx
        img[mask] = img[mask] * 0.82
    elif defect == "specks":  # a cluster of dark dots of 1 to 2 px
        for _ in range(int(rng.integers(6, 10))):
            oy, ox = rng.uniform(-8, 8, 2)
            mask |= _disc(s, cy + oy, cx + ox, rng.uniform(0.8, 1.3))
        img[mask] = img[mask] * 0.78
    return img, mask


SHEET_RENDER = {"sheet": _sheet}

"""Harder synthetic image categories: richer normal variation, subtle defects.

Registered by :mod:`mmae.data.synth.image` after its four easy categories (same file layout,
seeding and exact 0/1 masks: every defect changes pixels only where its mask is set):

* ``carpet`` - surface, RGB: a stochastic pile texture (fine grain, slanted fibres and a coarse
  mottle, all random per image) with colour and brightness jitter. Defects, all low contrast:
  ``stain`` (a faint darker, warmer blob), ``thread`` (a thin, slightly lighter stray fibre),
  ``color`` (a patch with a slight hue shift).
* ``screw`` - object, RGB: a threaded screw with a head, rotated up to +-10 degrees, shifted and
  of varying length, on a mottled background. Defects, small or faint: ``scratch`` (a thin, slightly
  darker line on the shank), ``bump`` (a small bulge on the outline), ``stain`` (a faint tint).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Rng = np.random.Generator
Renderer = Callable[[Rng, int, str | None], tuple[np.ndarray, np.ndarray]]

HARD_DEFECTS: dict[str, tuple[str, ...]] = {
    "carpet": ("stain", "thread", "color"),
    "screw": ("scratch", "bump", "stain"),
}


def _grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) + 0.5
    return yy, xx


def _smooth_noise(rng: Rng, s: int, sigma_y: float, sigma_x: float, angle: float = 0.0
                  ) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field, smoothed by an (oriented) Gaussian kernel."""
    white = rng.standard_normal((s, s))
    fy = np.fft.fftfreq(s)[:, None]
    fx = np.fft.fftfreq(s)[None, :]
    c, sn = math.cos(angle), math.sin(angle)
    fu, fv = c * fx + sn * fy, -sn * fx + c * fy  # frequency along / across the orientation
    gain = np.exp(-2 * math.pi ** 2 * ((fu * sigma_x) ** 2 + (fv * sigma_y) ** 2))
    field = np.real(np.fft.ifft2(np.fft.fft2(white) * gain))
    field -= field.mean()
    return (field / max(float(field.std()), 1e-8)).astype(np.float32)


def _segment_dist(s: int, p0: tuple[float, float], p1: tuple[float, float]) -> np.ndarray:
    """Distance of every pixel centre to the segment p0-p1 (points as (y, x))."""
    yy, xx = _grid(s)
    (y0, x0), (y1, x1) = p0, p1
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-6), 0, 1)
    return np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))


def _curve_mask(rng: Rng, s: int, cy: float, cx: float, length: float, width: float
                ) -> np.ndarray:
    """A gently bending polyline (a stray fibre or a scratch) starting at (cy, cx)."""
    mask = np.zeros((s, s), bool)
    angle = rng.uniform(0, 2 * math.pi)
    y, x = cy, cx
    for _ in range(4):
        angle += rng.uniform(-0.35, 0.35)
        ny, nx = y + length / 4 * math.sin(angle), x + length / 4 * math.cos(angle)
        mask |= _segment_dist(s, (y, x), (ny, nx)) <= width / 2
        y, x = ny, nx
    return mask


def _blob(rng: Rng, s: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """Irregular blob: union of 3-4 discs around (cy, cx)."""
    yy, xx = _grid(s)
    mask = np.zeros((s, s), bool)
    for _ in range(int(rng.integers(3, 5))):
        oy, ox = rng.uniform(-0.6, 0.6, 2) * radius
        mask |= np.hypot(yy - cy - oy, xx - cx - ox) <= radius * rng.uniform(0.5, 0.9)
    return mask


def _carpet(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    fibre_angle = rng.uniform(0.6, 1.0)  # slanted pile, direction varies per image
    grain = _smooth_noise(rng, s, 0.7 * k, 0.7 * k)
    fibres = _smooth_noise(rng, s, 0.8 * k, 4.0 * k, fibre_angle)
    mottle = _smooth_noise(rng, s, 14 * k, 14 * k)
    shade = 1.0 + 0.07 * grain + 0.09 * fibres + 0.06 * mottle + rng.uniform(-0.04, 0.04)
    base = np.array((0.55, 0.40, 0.30), np.float32) + rng.uniform(-0.03, 0.03, 3)
    img = base * shade[..., None]
    img = img + rng.normal(0.0, 0.012, img.shape).astype(np.float32)
    mask = np.zeros((s, s), bool)
    cy, cx = rng.uniform(0.2, 0.8, 2) * s
    if defect == "stain":
        mask = _blob(rng, s, cy, cx, rng.uniform(6, 9) * k)
        img[mask] *= np.array((0.80, 0.74, 0.66), np.float32)
    elif defect == "thread":
        mask = _curve_mask(rng, s, cy, cx, rng.uniform(24, 36) * k, 2.5 * k)
        img[mask] = img[mask] * 0.45 + np.array((0.82, 0.72, 0.60), np.float32) * 0.55
    elif defect == "color":
        mask = _blob(rng, s, cy, cx, rng.uniform(8, 11) * k)
        img[mask] += np.array((-0.09, 0.02, 0.11), np.float32)
    return img, mask


def _screw(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    yy, xx = _grid(s)
    bg = np.array((0.78, 0.78, 0.76), np.float32) + rng.uniform(-0.03, 0.03)
    img = bg * (1.0 + 0.03 * _smooth_noise(rng, s, 10 * k, 10 * k))[..., None]
    rot = math.radians(rng.uniform(-10, 10))
    cy, cx = s / 2 + rng.uniform(-3, 3, 2) * k
    half = (34 + rng.uniform(-4, 4)) * k  # half-length of the whole screw
    radius = (7.5 + rng.uniform(-0.7, 0.7)) * k
    u = (xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)  # along the screw
    v = -(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)  # across
    head_len = 10 * k
    shank = np.minimum(radius - np.abs(v), np.minimum(u + half - head_len, half - u))
    tip = radius - np.hypot(np.maximum(u - (half - radius), 0), v)  # rounded tip
    shank = np.minimum(shank, np.where(u > half - radius, tip, radius))
    head = np.minimum(1.6 * radius - np.abs(v), np.minimum(u + half, head_len - half - u + 1))
    body = np.maximum(shank, head)
    cover = np.clip(body + 0.5, 0.0, 1.0)
    pitch = (7.0 + rng.uniform(-0.3, 0.3)) * k
    threads = np.where(u > -half + head_len, 0.5 + 0.5 * np.sin(2 * math.pi * u / pitch), 0.5)
    metal = np.array((0.42, 0.42, 0.45), np.float32) + rng.uniform(-0.04, 0.04)
    lit = 1.0 + 0.25 * (1 - (v / (1.6 * radius)) ** 2) - 0.12 * threads
    screw = metal * lit[..., None]
    img = img * (1 - cover[..., None]) + screw * cover[..., None]
    img = img + rng.normal(0.0, 0.01, img.shape).astype(np.float32)
    mask = np.zeros((s, s), bool)
    inner = body >= 1.5 * k
    if defect == "scratch":
        t0 = rng.uniform(-half + head_len + 4 * k, half - 16 * k)
        p0 = (cy + t0 * math.sin(rot), cx + t0 * math.cos(rot))
        mask = _curve_mask(rng, s, p0[0], p0[1], rng.uniform(10, 14) * k, 2.5 * k) & inner
        img[mask] *= 0.7
    elif defect == "bump":
        t = rng.uniform(-half + head_len + 4 * k, half - radius - 3 * k)
        side = 1 if rng.random() < 0.5 else -1
        by = cy + t * math.sin(rot) + side * radius * math.cos(rot)
        bx = cx + t * math.cos(rot) - side * radius * math.sin(rot)
        mask = (np.hypot(yy - by, xx - bx) <= rng.uniform(4.0, 5.5) * k) & (cover < 1)
        img[mask] = metal * 1.1 + rng.normal(0.0, 0.01, (int(mask.sum()), 3))
    elif defect == "stain":
        t = rng.uniform(-half + 3 * k, half - 6 * k)
        mask = _blob(rng, s, cy + t * math.sin(rot), cx + t * math.cos(rot),
                     rng.uniform(4, 6) * k) & inner
        img[mask] *= np.array((1.30, 1.05, 0.75), np.float32)
    return img, mask


HARD_RENDER: dict[str, Renderer] = {"carpet": _carpet, "screw": _screw}

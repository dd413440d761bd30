"""A third stochastic texture for the hard image benchmark: grass-like strokes.

Registered by :mod:`mmae.data.synth.image` after ``pcb`` (same layout, seeding and exact 0/1
masks). The normal image is drawn first, then the defect's own random choices, so a defect image
is its normal twin with pixels changed only where the mask is set.

* ``grass`` - stochastic surface, RGB: a few hundred thin, gently bending blades of random
  length, slant and green tone, painted over dark soil, different in every image (unlike
  ``carpet``'s smooth fibre field and ``gravel``'s cells, its structure is many thin overlapping
  strokes with sharp edges). Defects: ``dry`` (a patch whose blades are straw-coloured),
  ``flat`` (a patch of blades lying across instead of upright), ``bare`` (a patch of soil
  without blades).
"""

from __future__ import annotations

import math

import numpy as np

from mmae.data.synth.image_hard import _blob, _grid, _smooth_noise

Rng = np.random.Generator

GRASS_DEFECTS: dict[str, tuple[str, ...]] = {"grass": ("dry", "flat", "bare")}


def _blades(rng: Rng, s: int, n: int, upright: bool) -> list[tuple[float, ...]]:
    """Random blades: (root y, root x, angle, bend, length, width, tone, hue)."""
    k = s / 128
    out = []
    for _ in range(n):
        y0, x0 = rng.uniform(-4 * k, s + 20 * k), rng.uniform(-8 * k, s + 8 * k)
        base = -math.pi / 2 if upright else rng.choice([0.0, math.pi])
        angle = base + rng.uniform(-0.45, 0.45)
        out.append((y0, x0, angle, rng.uniform(-0.5, 0.5), rng.uniform(12, 24) * k,
                    rng.uniform(1.1, 1.9) * k, rng.uniform(0.75, 1.2), rng.uniform(-1, 1)))
    return out


def _paint(img: np.ndarray, blades: list[tuple[float, ...]], green: np.ndarray,
           s: int) -> np.ndarray:
    """Paint blades in order (later ones on top) with anti-aliased edges; returns ``img``."""
    yy, xx = _grid(s)
    for y0, x0, angle, bend, length, width, tone, hue in blades:
        color = green * tone + np.array((0.04, 0.03, -0.02), np.float32) * hue
        y, x = y0, x0
        for part in range(3):  # three segments: the blade bends towards its tip
            a = angle + bend * part / 2
            ny, nx = y + length / 3 * math.sin(a), x + length / 3 * math.cos(a)
            w = width * (1.0 - 0.3 * part)
            lo_y, hi_y = int(max(0, min(y, ny) - w - 1)), int(min(s, max(y, ny) + w + 2))
            lo_x, hi_x = int(max(0, min(x, nx) - w - 1)), int(min(s, max(x, nx) + w + 2))
            if lo_y < hi_y and lo_x < hi_x:
                py, px = yy[lo_y:hi_y, lo_x:hi_x], xx[lo_y:hi_y, lo_x:hi_x]
                dy, dx = ny - y, nx - x
                t = np.clip(((py - y) * dy + (px - x) * dx) / max(dy * dy + dx * dx, 1e-6), 0, 1)
                d = np.hypot(py - (y + t * dy), px - (x + t * dx))
                cov = np.clip(w / 2 - d + 0.5, 0.0, 1.0)[..., None]
                shade = color * (0.85 + 0.3 * t)[..., None]  # lighter towards the tip
                patch = img[lo_y:hi_y, lo_x:hi_x]
                img[lo_y:hi_y, lo_x:hi_x] = patch * (1 - cov) + shade * cov
            y, x = ny, nx
    return img


def _grass(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    soil = np.array((0.20, 0.16, 0.10), np.float32) + rng.uniform(-0.02, 0.02)
    green = np.array((0.30, 0.52, 0.18), np.float32) + rng.uniform(-0.03, 0.03, 3)
    mottle = _smooth_noise(rng, s, 2.0 * k, 2.0 * k)
    noise = rng.normal(0.0, 0.012, (s, s, 3)).astype(np.float32)
    blades = _blades(rng, s, int(rng.integers(340, 400) * k ** 2), upright=True)
    ground = (soil * (1 + 0.15 * mottle)[..., None]).astype(np.float32)

    def draw(bl: list[tuple[float, ...]], col: np.ndarray) -> np.ndarray:
        return (_paint(ground.copy(), bl, col, s) + noise).astype(np.float32)

    img = draw(blades, green)
    mask = np.zeros((s, s), bool)
    if defect is None:
        return img, mask
    cy, cx = rng.uniform(0.25, 0.75, 2) * s
    mask = _blob(rng, s, cy, cx, rng.uniform(9, 12) * k)
    if defect == "dry":
        other = draw(blades, np.array((0.47, 0.40, 0.14), np.float32))
    elif defect == "flat":
        other = draw(_blades(rng, s, int(rng.integers(340, 400) * k ** 2), upright=False), green)
    else:  # bare
        other = (ground + noise).astype(np.float32)
    img = np.where(mask[..., None], other, img)
    return img, mask


GRASS_RENDER = {"grass": _grass}

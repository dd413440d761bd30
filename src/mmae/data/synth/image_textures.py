"""Synthetic textures of two characters, for the hard image benchmark.

Registered by :mod:`mmae.data.synth.image` after ``carpet`` and ``screw`` (same layout, seeding
and exact 0/1 masks). Every image is drawn in two passes from one generator: the normal image
first, then the defect's own random choices, so a defect image is its normal twin with pixels
changed only where the mask is set.

* ``tiles`` - regular periodic surface, RGB: bricks in running bond with mortar joints, each
  brick a slightly different shade. Per image: phase shift, rotation up to +-4 degrees, a
  lighting gradient, colour jitter and sensor noise. Defects: ``crack`` (a thin dark line across
  one brick), ``chip`` (a broken-off corner showing the recessed mortar), ``discolor`` (one
  brick of a slightly different hue).
* ``gravel`` - stochastic natural surface, RGB: a random packing of stones (a Voronoi diagram
  with random sites) of grey-brown tones, soil in the gaps, different in every image. Defects:
  ``bare`` (a patch without stones), ``object`` (a small blue-grey shard of plastic, mid tone),
  ``color`` (a cluster of stones with a rust tint).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from mmae.data.synth.image_hard import _blob, _curve_mask, _grid, _smooth_noise

Rng = np.random.Generator

TEXTURE_DEFECTS: dict[str, tuple[str, ...]] = {
    "tiles": ("crack", "chip", "discolor"),
    "gravel": ("bare", "object", "color"),
}


def _lighting(rng: Rng, s: int, amount: float) -> np.ndarray:
    """A multiplicative linear lighting gradient in a random direction."""
    yy, xx = _grid(s)
    a = rng.uniform(0, 2 * math.pi)
    ramp = ((yy - s / 2) * math.sin(a) + (xx - s / 2) * math.cos(a)) / s
    return (1.0 + rng.uniform(0.3, 1.0) * amount * 2 * ramp).astype(np.float32)


def _rotated(s: int, rot: float, oy: float, ox: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated by ``rot`` about the centre and shifted by (oy, ox)."""
    yy, xx = _grid(s)
    y, x = yy - s / 2, xx - s / 2
    u = x * math.cos(rot) + y * math.sin(rot) + ox
    v = -x * math.sin(rot) + y * math.cos(rot) + oy
    return u, v


def _tiles(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    bw, bh = (30 + rng.uniform(-1, 1)) * k, (15 + rng.uniform(-0.5, 0.5)) * k
    joint = 3.0 * k
    u, v = _rotated(s, math.radians(rng.uniform(-4, 4)), *rng.uniform(0, 1, 2) * (bh, bw))
    row = np.floor(v / bh)
    uu = u + (row % 2) * bw / 2
    col = np.floor(uu / bw)
    fu, fv = uu - col * bw, v - row * bh  # position inside the brick
    edge = np.minimum(np.minimum(fu, bw - fu), np.minimum(fv, bh - fv))
    cover = np.clip(edge - joint / 2 + 0.5, 0.0, 1.0)
    nr, nc = 16, 12  # brick shade table, indexed by (row, col) modulo its size
    shades = rng.uniform(-0.05, 0.05, (nr, nc, 1)) + rng.uniform(-0.02, 0.02, (nr, nc, 3))
    ri, ci = row.astype(int) % nr, col.astype(int) % nc
    brick = np.array((0.58, 0.30, 0.22), np.float32) + rng.uniform(-0.03, 0.03, 3)
    mortar = np.array((0.50, 0.48, 0.44), np.float32) + rng.uniform(-0.03, 0.03)
    grain = _smooth_noise(rng, s, 0.8 * k, 0.8 * k)
    bevel = 1.0 + 0.06 * np.clip((bh / 2 - fv) / (bh / 2), -1, 1)  # top edge catches light
    light = _lighting(rng, s, 0.08)
    noise = rng.normal(0.0, 0.012, (s, s, 3)).astype(np.float32)

    def draw(shade: np.ndarray, cov: np.ndarray) -> np.ndarray:
        b = (brick + shade[ri, ci]) * (bevel * (1 + 0.05 * grain))[..., None]
        m = mortar * (1 + 0.04 * grain)[..., None]
        img = b * cov[..., None] + m * (1 - cov[..., None])
        return (img * light[..., None] + noise).astype(np.float32)

    img = draw(shades, cover)
    mask = np.zeros((s, s), bool)
    if defect is None:
        return img, mask
    # pick a brick whose centre is well inside the image
    cy, cx = rng.uniform(0.25, 0.75, 2) * s
    iy, ix = int(cy), int(cx)
    target = (row == row[iy, ix]) & (col == col[iy, ix])
    inner = target & (cover >= 1.0)
    if defect == "crack":
        ys, xs = np.nonzero(inner)
        j = int(rng.integers(len(ys)))
        mask = _curve_mask(rng, s, float(ys[j]), float(xs[j]), rng.uniform(12, 18) * k,
                           2.5 * k) & inner
        img[mask] = img[mask] * 0.45
    elif defect == "chip":
        cu = rng.choice([0.0, bw]) + rng.uniform(-1, 1) * k
        cv = rng.choice([0.0, bh]) + rng.uniform(-1, 1) * k
        rad = rng.uniform(7, 9.5) * k
        mask = (np.hypot(fu - cu, fv - cv) <= rad) & target & (cover > 0)
        img[mask] = (mortar * 0.72 * light[..., None] + noise)[mask]
    elif defect == "discolor":
        mask = target & (cover > 0)
        bad = shades.copy()
        bad[ri[iy, ix], ci[iy, ix]] += np.array((-0.14, 0.03, 0.10)) * rng.uniform(0.9, 1.2)
        img = np.where(mask[..., None], draw(bad, cover), img)
    return img, mask


def _gravel(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    n = int(rng.integers(48, 64) * (s / 128) ** 2)
    sites = rng.uniform(-4 * k, s + 4 * k, (n, 2))
    yy, xx = _grid(s)
    pix = np.stack([yy.ravel(), xx.ravel()], axis=1)
    dist, idx = cKDTree(sites).query(pix, k=2)
    inset = ((dist[:, 1] - dist[:, 0]) / 2).reshape(s, s)  # distance to the cell border
    owner = idx[:, 0].reshape(s, s)
    tone = rng.uniform(0.45, 0.66, n)
    tint = np.array((1.0, 0.95, 0.86)) + rng.uniform(-0.05, 0.05, (n, 1)) * np.array((1, 0, -1))
    colors = (tone[:, None] * tint).astype(np.float32)
    gap = 1.3 * k * rng.uniform(0.8, 1.2, n)
    stone = np.clip(inset - gap[owner] + 0.5, 0.0, 1.0)
    dome = 0.78 + 0.32 * np.clip(inset / (7 * k), 0, 1)
    soil = np.array((0.26, 0.20, 0.14), np.float32) + rng.uniform(-0.02, 0.02)
    grain = _smooth_noise(rng, s, 0.7 * k, 0.7 * k)
    light = _lighting(rng, s, 0.10)
    noise = rng.normal(0.0, 0.012, (s, s, 3)).astype(np.float32)

    def draw(cols: np.ndarray, cov: np.ndarray) -> np.ndarray:
        st = cols[owner] * (dome * (1 + 0.05 * grain))[..., None]
        so = soil * (1 + 0.12 * grain)[..., None]
        img = st * cov[..., None] + so * (1 - cov[..., None])
        return (img * light[..., None] + noise).astype(np.float32)

    img = draw(colors, stone)
    mask = np.zeros((s, s), bool)
    cy, cx = rng.uniform(0.2, 0.8, 2) * s
    if defect == "bare":
        mask = _blob(rng, s, cy, cx, rng.uniform(8, 10.5) * k)
        img = np.where(mask[..., None], draw(colors, np.zeros_like(stone)), img)
    elif defect == "object":
        a, half = rng.uniform(0, math.pi), rng.uniform(10, 13) * k
        wid = rng.uniform(2.5, 3.2) * k
        along = (xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)
        across = -(xx - cx) * math.sin(a) + (yy - cy) * math.cos(a)
        mask = (along / half) ** 2 + (across / wid) ** 2 <= 1.0
        shard = np.array((0.22, 0.32, 0.52), np.float32) * (1 + 0.1 * rng.uniform(-1, 1))
        img[mask] = (shard * (1 + 0.06 * grain)[..., None] * light[..., None] + noise)[mask]
    elif defect == "color":
        region = _blob(rng, s, cy, cx, rng.uniform(10, 13) * k)
        hit = np.unique(owner[region & (stone >= 1.0)])
        bad = colors.copy()
        bad[hit] *= np.array((1.35, 0.85, 0.55), np.float32)
        mask = region & (stone > 0)
        img = np.where(mask[..., None], draw(bad, stone), img)
    return img, mask


TEXTURE_RENDER = {"tiles": _tiles, "gravel": _gravel}

"""Synthetic fine-structured object ``pcb``: a chip with two rows of thin legs on a circuit board.

Registered by :mod:`mmae.data.synth.image` after the synthetic textures (same layout, seeding and
exact 0/1 masks). A dark chip body with eight legs on each long side, every leg soldered to a pad
from which a copper trace runs to the image border; the legs are about 3 px wide at 128 px with a
6.4 px pitch, so the repeated detail is close to the resolution a model sees. Per image: rotation
up to +-5 degrees, a shift, a lighting gradient, board and metal colour jitter, sensor noise.
Normal image first, then the defect's own random choices, so a defect image is its normal twin
with pixels changed only where the mask is set (changes below 0.03 are dropped, not masked).

Defects: ``bent`` (one leg bent sideways), ``missing`` (one leg gone, its pad bare), ``bridge`` (a
solder blob joining two neighbouring legs), ``scratch`` (a thin, lighter line across the body).
"""

from __future__ import annotations

import math

import numpy as np

from mmae.data.synth.image_hard import _curve_mask, _grid, _smooth_noise

Rng = np.random.Generator

PCB_DEFECTS: dict[str, tuple[str, ...]] = {"pcb": ("bent", "missing", "bridge", "scratch")}
LEGS_PER_SIDE = 8


def _box(u: np.ndarray, v: np.ndarray, u0: float, u1: float, v0: float, v1: float
         ) -> np.ndarray:
    """Anti-aliased coverage of the axis-aligned box [u0, u1] x [v0, v1] in (u, v)."""
    d = np.minimum(np.minimum(u - u0, u1 - u), np.minimum(v - v0, v1 - v))
    return np.clip(d + 0.5, 0.0, 1.0)


def _pcb(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    yy, xx = _grid(s)
    rot = math.radians(rng.uniform(-5, 5))
    cy, cx = s / 2 + rng.uniform(-4, 4, 2) * k
    u = (xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)  # along the rows of legs
    v = -(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)  # across
    pitch, leg_w, leg_len = 6.4 * k, 3.0 * k, 9.0 * k
    body_hu = (LEGS_PER_SIDE / 2) * pitch + 2 * k
    body_hv = (13 + rng.uniform(-0.5, 0.5)) * k
    centres = (np.arange(LEGS_PER_SIDE) - (LEGS_PER_SIDE - 1) / 2) * pitch
    board = np.array((0.12, 0.36, 0.20), np.float32) + rng.uniform(-0.03, 0.03, 3)
    copper = board * np.array((1.35, 1.25, 1.05), np.float32)
    pad_col = np.array((0.62, 0.60, 0.55), np.float32) + rng.uniform(-0.03, 0.03)
    leg_col = np.array((0.74, 0.72, 0.68), np.float32) + rng.uniform(-0.03, 0.03)
    body_col = np.array((0.13, 0.13, 0.14), np.float32) + rng.uniform(-0.02, 0.02)
    grain = _smooth_noise(rng, s, 1.0 * k, 1.0 * k)
    a = rng.uniform(0, 2 * math.pi)
    light = 1.0 + rng.uniform(0.05, 0.12) * 2 * (((yy - s / 2) * math.sin(a)
                                                  + (xx - s / 2) * math.cos(a)) / s)
    noise = rng.normal(0.0, 0.012, (s, s, 3)).astype(np.float32)
    # nearest leg column and its offset
    j = np.clip(np.round(u / pitch + (LEGS_PER_SIDE - 1) / 2), 0, LEGS_PER_SIDE - 1).astype(int)
    du = u - centres[j]
    side = np.where(v >= 0, 1, 0)
    av = np.abs(v)
    pad_v0, pad_v1 = body_hv + leg_len - 4 * k, body_hv + leg_len + 2 * k
    trace = _box(du, av, -0.9 * k, 0.9 * k, pad_v1 - 1, 4 * s)
    pads = _box(du, av, -2.4 * k, 2.4 * k, pad_v0, pad_v1)
    body = _box(u, v, -body_hu, body_hu, -body_hv, body_hv)

    def draw(legs_on: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
        legs = _box(du, av, -leg_w / 2, leg_w / 2, body_hv - 1, body_hv + leg_len)
        legs = legs * legs_on[side, j]
        if extra is not None:
            legs = np.maximum(legs, extra)
        img = board * (1 + 0.05 * grain)[..., None]
        for cover, col in ((trace, copper), (pads, pad_col), (legs, leg_col), (body, body_col)):
            img = img * (1 - cover[..., None]) + col * cover[..., None]
        return (img * light[..., None] + noise).astype(np.float32)

    on = np.ones((2, LEGS_PER_SIDE))
    img = draw(on)
    mask = np.zeros((s, s), bool)
    if defect is None:
        return img, mask
    sd, leg = int(rng.integers(2)), int(rng.integers(LEGS_PER_SIDE))
    if defect in ("bent", "missing"):
        off = on.copy()
        off[sd, leg] = 0
        extra = None
        if defect == "bent":
            sign = 1 if sd == 1 else -1
            ang = rng.choice([-1, 1]) * math.radians(rng.uniform(28, 40))
            # leg coordinates relative to its root, rotated by ang
            lu, lv = u - centres[leg], sign * v - body_hv
            ru = lu * math.cos(ang) - lv * math.sin(ang)
            rv = lu * math.sin(ang) + lv * math.cos(ang)
            extra = _box(ru, rv, -leg_w / 2, leg_w / 2, -1, leg_len) * (sign * v > body_hv)
        bad = draw(off, extra)
    elif defect == "bridge":
        leg = min(leg, LEGS_PER_SIDE - 2)
        mid_u = (centres[leg] + centres[leg + 1]) / 2
        mid_v = (1 if sd == 1 else -1) * (body_hv + rng.uniform(0.45, 0.75) * leg_len)
        blob = ((u - mid_u) / (pitch * 0.62)) ** 2 + ((v - mid_v) / (2.2 * k)) ** 2 <= 1
        bad = img.copy()
        solder = pad_col * 1.05 * (1 + 0.04 * grain)[..., None] * light[..., None] + noise
        bad[blob] = solder[blob]
    else:  # scratch on the body
        t0 = rng.uniform(-0.6, 0.6) * body_hu
        p = (cy + t0 * math.sin(rot), cx + t0 * math.cos(rot))
        inner = body >= 1.0
        scratch = _curve_mask(rng, s, p[0], p[1], rng.uniform(12, 18) * k, 1.8 * k) & inner
        bad = img.copy()
        bad[scratch] = bad[scratch] + np.float32(0.16)
    mask = np.abs(bad - img).max(axis=-1) > 0.03
    img = np.where(mask[..., None], bad, img)
    return img, mask


PCB_RENDER = {"pcb": _pcb}

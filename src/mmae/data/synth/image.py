"""Synthetic MVTec AD-style image data: objects and surfaces with pixel-exact defect masks.

``generate_synthetic_images(out)`` writes ``OUT/<category>/{train/good, test/<defect>,
ground_truth/<defect>/<name>_mask.png}``. Every image is rendered from its own random generator
seeded by ``(seed, category, split, index)``, so the same seed writes byte-identical files.
Defects are painted with hard edges exactly where the mask (0/255 PNG) is set.

Categories (:data:`SYNTH_IMAGE_CATEGORIES`, the first is the demo default):

* ``disc`` - object, RGB: a teal cap with a lighter centre on a grey background, small position,
  size and colour jitter. Defects: ``scratch``, ``stain``, ``missing_part``.
* ``fabric`` - surface, RGB: a woven texture with phase and colour jitter. Defects: ``hole``,
  ``stain``, ``cut``.
* ``grid`` - surface, grayscale: dark grid lines on a light plate. Defects: ``crack``, ``spot``,
  ``missing_part`` (lines erased in a patch).
* ``nut`` - object, RGB: a hexagonal nut with a hole, rotation jitter. Defects: ``scratch``,
  ``rust``, ``missing_part``.
* ``carpet`` (surface) and ``screw`` (object), RGB: harder, with more normal variation and subtle
  defects (:mod:`mmae.data.synth.image_hard`).
* ``tiles`` (a regular periodic surface: bricks), ``gravel`` (a stochastic natural surface:
  stones) (:mod:`mmae.data.synth.image_textures`) and ``pcb`` (a fine-structured object: a chip
  with thin legs on a board, :mod:`mmae.data.synth.image_pcb`), RGB: hard, with pose, phase and
  lighting variation and small defects.
* ``sheet`` (:mod:`mmae.data.synth.image_sheet`), RGB: brushed metal whose defects keep a size
  of a few pixels whatever the image size: a category for large images and tiles.
* ``grass`` (a stochastic surface of thin overlapping blades, :mod:`mmae.data.synth.image_grass`),
  RGB: hard.

:data:`HARD_CATEGORIES` names the hard ones (everything after the four easy categories but
``sheet``, which is made for large images).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mmae.data.synth.image_grass import GRASS_DEFECTS, GRASS_RENDER
from mmae.data.synth.image_hard import HARD_DEFECTS, HARD_RENDER, _grid, _segment_dist
from mmae.data.synth.image_pcb import PCB_DEFECTS, PCB_RENDER
from mmae.data.synth.image_sheet import SHEET_DEFECTS, SHEET_MIN_AREA, SHEET_RENDER
from mmae.data.synth.image_textures import TEXTURE_DEFECTS, TEXTURE_RENDER
from mmae.errors import ConfigError, RunFolderError

# New categories go at the end: a category's position seeds its images.
SYNTH_IMAGE_CATEGORIES: tuple[str, ...] = ("disc", "fabric", "grid", "nut", *HARD_DEFECTS,
                                           *TEXTURE_DEFECTS, *PCB_DEFECTS, *SHEET_DEFECTS,
                                           *GRASS_DEFECTS)
HARD_CATEGORIES: tuple[str, ...] = tuple(c for c in SYNTH_IMAGE_CATEGORIES[4:]
                                         if c not in SHEET_DEFECTS)
SYNTH_IMAGE_DEFECTS: dict[str, tuple[str, ...]] = {
    "disc": ("scratch", "stain", "missing_part"),
    "fabric": ("hole", "stain", "cut"),
    "grid": ("crack", "spot", "missing_part"),
    "nut": ("scratch", "rust", "missing_part"),
    **HARD_DEFECTS,
    **TEXTURE_DEFECTS,
    **PCB_DEFECTS,
    **SHEET_DEFECTS,
    **GRASS_DEFECTS,
}
DEFAULT_IMAGE_SIZE = 128
DEFAULT_N_TRAIN = 160
DEFAULT_N_TEST = 60

Rng = np.random.Generator
Render = Callable[[Rng, int], tuple[np.ndarray, np.ndarray]]


def _soft(inside_dist: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (positive inside, in pixels)."""
    return np.clip(inside_dist + 0.5, 0.0, 1.0)


def _blend(img: np.ndarray, alpha: np.ndarray, color: Sequence[float]) -> np.ndarray:
    return img * (1 - alpha[..., None]) + np.asarray(color, np.float32) * alpha[..., None]


def _paint(img: np.ndarray, mask: np.ndarray, color: Sequence[float]) -> np.ndarray:
    out = img.copy()
    out[mask] = np.asarray(color, np.float32)
    return out


def _line_mask(s: int, p0: tuple[float, float], p1: tuple[float, float], width: float
               ) -> np.ndarray:
    """Pixels within ``width / 2`` of the segment p0-p1 (points as (y, x))."""
    return _segment_dist(s, p0, p1) <= width / 2


def _blob_mask(rng: Rng, s: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """Irregular blob: union of 3-4 discs around (cy, cx)."""
    yy, xx = _grid(s)
    mask = np.zeros((s, s), bool)
    for _ in range(int(rng.integers(3, 5))):
        oy, ox = rng.uniform(-0.6, 0.6, 2) * radius
        r = radius * rng.uniform(0.5, 0.9)
        mask |= np.hypot(yy - cy - oy, xx - cx - ox) <= r
    return mask


def _crack_mask(rng: Rng, s: int, cy: float, cx: float, length: float, width: float
                ) -> np.ndarray:
    """A random-walk polyline (crack) starting near (cy, cx)."""
    mask = np.zeros((s, s), bool)
    angle = rng.uniform(0, 2 * math.pi)
    y, x = cy, cx
    step = length / 6
    for _ in range(6):
        angle += rng.uniform(-0.7, 0.7)
        ny, nx = y + step * math.sin(angle), x + step * math.cos(angle)
        mask |= _line_mask(s, (y, x), (ny, nx), width)
        y, x = ny, nx
    return mask


def _noise(rng: Rng, img: np.ndarray, sigma: float) -> np.ndarray:
    return img + rng.normal(0.0, sigma, img.shape).astype(np.float32)


def _jitter(rng: Rng, color: Sequence[float], amount: float) -> np.ndarray:
    return np.asarray(color, np.float32) + rng.uniform(-amount, amount, len(color))


# -- categories ----------------------------------------------------------------------------
def _disc(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    yy, xx = _grid(s)
    bg = _jitter(rng, (0.55, 0.55, 0.52), 0.02)
    img = np.broadcast_to(bg, (s, s, 3)) + ((yy / s - 0.5) * 0.04)[..., None]
    cy, cx = s / 2 + rng.uniform(-1.5, 1.5, 2) * k
    r = (36 + rng.uniform(-1.5, 1.5)) * k
    dist = np.hypot(yy - cy, xx - cx)
    color = _jitter(rng, (0.12, 0.42, 0.52), 0.03)
    img = _blend(img, _soft(r - dist), color)
    img = _blend(img, _soft(0.45 * r - dist), color + 0.15)
    img = _noise(rng, img, 0.01)
    mask = np.zeros((s, s), bool)
    inside = dist <= r - 2 * k
    if defect == "scratch":
        a = rng.uniform(0, math.pi)
        off = rng.uniform(-0.4, 0.4, 2) * r
        half = rng.uniform(0.5, 0.8) * r
        d = np.array([math.sin(a), math.cos(a)]) * half
        p0 = (cy + off[0] - d[0], cx + off[1] - d[1])
        p1 = (cy + off[0] + d[0], cx + off[1] + d[1])
        mask = _line_mask(s, p0, p1, 4.5 * k) & inside
        img = _paint(img, mask, (0.93, 0.92, 0.88))
    elif defect == "stain":
        a, rr = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.55) * r
        mask = _blob_mask(rng, s, cy + rr * math.sin(a), cx + rr * math.cos(a),
                          rng.uniform(7, 10) * k) & inside
        img = _paint(img, mask, _jitter(rng, (0.85, 0.45, 0.1), 0.05))
    elif defect == "missing_part":
        a = rng.uniform(0, 2 * math.pi)
        bite = np.hypot(yy - cy - r * math.sin(a), xx - cx - r * math.cos(a))
        mask = (bite <= rng.uniform(0.35, 0.5) * r) & (dist <= r + 0.5)
        img = _paint(img, mask, bg)
        img[mask] = _noise(rng, img[mask], 0.01)
    return img, mask


def _fabric(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    yy, xx = _grid(s)
    period = 12 * k
    py, px = rng.uniform(-0.3, 0.3, 2)
    wy = np.sin(2 * math.pi * yy / period + py)
    wx = np.sin(2 * math.pi * xx / period + px)
    weave = 0.5 + 0.5 * np.where(wy * wx > 0, np.abs(wy), -np.abs(wx))
    base = _jitter(rng, (0.42, 0.32, 0.58), 0.02)
    img = base * (0.8 + 0.35 * weave)[..., None]
    img = _noise(rng, img, 0.012)
    mask = np.zeros((s, s), bool)
    cy, cx = rng.uniform(0.2, 0.8, 2) * s
    if defect == "hole":
        mask = _blob_mask(rng, s, cy, cx, rng.uniform(6, 9) * k)
        img = _paint(img, mask, (0.04, 0.03, 0.03))
    elif defect == "stain":
        mask = _blob_mask(rng, s, cy, cx, rng.uniform(7, 10) * k)
        img = _paint(img, mask, _jitter(rng, (0.9, 0.8, 0.2), 0.05))
    elif defect == "cut":
        a, half = rng.uniform(0, math.pi), rng.uniform(14, 24) * k
        d = (half * math.sin(a), half * math.cos(a))
        mask = _line_mask(s, (cy - d[0], cx - d[1]), (cy + d[0], cx + d[1]), 3.5 * k)
        img = _paint(img, mask, (0.95, 0.95, 0.95))
    return img, mask


def _grid_plate(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    yy, xx = _grid(s)
    period, width = 16 * k, 3 * k
    oy, ox = rng.uniform(-1, 1, 2) * k
    dy = np.abs((yy - oy) % period - period / 2)
    dx = np.abs((xx - ox) % period - period / 2)
    lines = np.maximum(_soft(width / 2 - dy), _soft(width / 2 - dx))
    plate = 0.62 + rng.uniform(-0.02, 0.02)
    img = (plate * (1 - lines) + 0.25 * lines)[..., None]
    img = _noise(rng, img, 0.01)
    mask = np.zeros((s, s), bool)
    cy, cx = rng.uniform(0.2, 0.8, 2) * s
    if defect == "crack":
        mask = _crack_mask(rng, s, cy, cx, rng.uniform(30, 45) * k, 2.5 * k)
        img = _paint(img, mask, (0.03,))
    elif defect == "spot":
        mask = _blob_mask(rng, s, cy, cx, rng.uniform(6, 9) * k)
        img = _paint(img, mask, (0.97,))
    elif defect == "missing_part":
        h, w = rng.uniform(18, 26, 2) * k
        mask = (np.abs(yy - cy) <= h / 2) & (np.abs(xx - cx) <= w / 2)
        img = _paint(img, mask, (plate,))
        img[mask] = _noise(rng, img[mask], 0.01)
    return img, mask


def _nut(rng: Rng, s: int, defect: str | None) -> tuple[np.ndarray, np.ndarray]:
    k = s / 128
    yy, xx = _grid(s)
    bg = _jitter(rng, (0.2, 0.2, 0.22), 0.02)
    img = np.broadcast_to(bg, (s, s, 3)).astype(np.float32)
    cy, cx = s / 2 + rng.uniform(-1.5, 1.5, 2) * k
    rot = math.radians(rng.uniform(-5, 5))
    apothem = (38 + rng.uniform(-1, 1)) * k
    ang = np.arctan2(yy - cy, xx - cx) - rot
    rad = np.hypot(yy - cy, xx - cx)
    sector = np.round(ang / (math.pi / 3)) * (math.pi / 3)
    hex_dist = apothem - rad * np.cos(ang - sector)
    metal = _jitter(rng, (0.72, 0.7, 0.62), 0.02)
    img = _blend(img, _soft(hex_dist), metal)
    img = _blend(img, _soft(0.42 * apothem - rad), metal - 0.15)
    img = _blend(img, _soft(0.3 * apothem - rad), bg)
    img = _noise(rng, img, 0.01)
    body = (hex_dist >= 2 * k) & (rad >= 0.45 * apothem)
    mask = np.zeros((s, s), bool)
    if defect == "scratch":
        a = rng.uniform(0, 2 * math.pi)
        r0, r1 = 0.5 * apothem, 0.95 * apothem
        p0 = (cy + r0 * math.sin(a), cx + r0 * math.cos(a))
        b = a + rng.uniform(-0.5, 0.5)
        p1 = (cy + r1 * math.sin(b), cx + r1 * math.cos(b))
        mask = _line_mask(s, p0, p1, 4 * k) & body
        img = _paint(img, mask, (0.15, 0.12, 0.1))
    elif defect == "rust":
        a, rr = rng.uniform(0, 2 * math.pi), rng.uniform(0.55, 0.8) * apothem
        mask = _blob_mask(rng, s, cy + rr * math.sin(a), cx + rr * math.cos(a),
                          rng.uniform(6, 9) * k) & body
        img = _paint(img, mask, _jitter(rng, (0.6, 0.25, 0.08), 0.04))
    elif defect == "missing_part":
        a = rot + math.pi / 6 + (math.pi / 3) * int(rng.integers(0, 6))
        corner = apothem / math.cos(math.pi / 6)
        bite = np.hypot(yy - cy - corner * math.sin(a), xx - cx - corner * math.cos(a))
        mask = (bite <= rng.uniform(0.45, 0.6) * apothem) & (hex_dist >= -0.5)
        img = _paint(img, mask, bg)
        img[mask] = _noise(rng, img[mask], 0.01)
    return img, mask


_RENDER: dict[str, Callable[[Rng, int, str | None], tuple[np.ndarray, np.ndarray]]] = {
    "disc": _disc, "fabric": _fabric, "grid": _grid_plate, "nut": _nut, **HARD_RENDER,
    **TEXTURE_RENDER, **PCB_RENDER, **SHEET_RENDER, **GRASS_RENDER,
}


def render_synthetic_image(category: str, seed: int, index: int, defect: str | None = None,
                           image_size: int = DEFAULT_IMAGE_SIZE
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Render one synthetic image and its mask.

    Args:
        category: one of :data:`SYNTH_IMAGE_CATEGORIES`.
        seed: dataset seed.
        index: image index (each (seed, category, defect, index) is an independent draw).
        defect: ``None`` for a normal image, else one of ``SYNTH_IMAGE_DEFECTS[category]``.
        image_size: side of the square image.

    Returns:
        ``(image, mask)``: uint8 HxW (grayscale categories) or HxWx3, and bool HxW.
    """
    if category not in _RENDER:
        raise ConfigError(f"unknown synthetic category {category!r} "
                          f"(choose from {', '.join(SYNTH_IMAGE_CATEGORIES)})")
    kinds = (None, *SYNTH_IMAGE_DEFECTS[category])
    if defect not in kinds:
        raise ConfigError(f"unknown defect {defect!r} for synthetic category {category!r}")
    cat_id = SYNTH_IMAGE_CATEGORIES.index(category)
    min_area = SHEET_MIN_AREA if category == "sheet" else 24 * (image_size / 128) ** 2
    for attempt in range(100):  # redraw the rare defect that ends up too small
        key = [int(seed) & 0xFFFFFFFF, cat_id, kinds.index(defect), index, attempt]
        img, mask = _RENDER[category](np.random.default_rng(key), image_size, defect)
        if defect is None or mask.sum() >= min_area:
            break
    out = np.clip(np.round(np.asarray(img, np.float32) * 255.0), 0, 255).astype(np.uint8)
    if out.shape[2] == 1:
        out = out[..., 0]
    return out, mask


def parse_synth_categories(text: str | None) -> int | list[str]:
    """Parse a ``--categories`` value: ``None`` (all), a count, ``hard`` or comma-separated names.

    Raises:
        ConfigError: a count out of range or an unknown name.
    """
    if text is None or not str(text).strip():
        return len(SYNTH_IMAGE_CATEGORIES)
    text = str(text).strip()
    if text.isdigit():
        n = int(text)
        if not 1 <= n <= len(SYNTH_IMAGE_CATEGORIES):
            raise ConfigError(f"--categories {n}: choose 1 to {len(SYNTH_IMAGE_CATEGORIES)}")
        return n
    names: list[str] = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        for name in (HARD_CATEGORIES if part == "hard" else (part,)):
            if name not in SYNTH_IMAGE_CATEGORIES:
                raise ConfigError(f"--categories: unknown synthetic category {name!r} (choose "
                                  f"from {', '.join(SYNTH_IMAGE_CATEGORIES)}, or hard)")
            if name not in names:
                names.append(name)
    return names


def _save_png(path: Path, array: np.ndarray) -> None:
    Image.fromarray(array).save(path, format="PNG", compress_level=6)


def generate_synthetic_images(out: str | os.PathLike[str], seed: int = 0,
                              categories: int | Sequence[str] = 2,
                              image_size: int = DEFAULT_IMAGE_SIZE,
                              n_train: int = DEFAULT_N_TRAIN, n_test: int = DEFAULT_N_TEST,
                              overwrite: bool = False) -> list[Path]:
    """Write a synthetic MVTec AD-style root.

    Args:
        out: root folder; ``OUT/<category>/`` is written for each category.
        seed: random seed; the same seed writes byte-identical files.
        categories: how many of :data:`SYNTH_IMAGE_CATEGORIES` (the first N), or their names.
        image_size: side of the square PNG files.
        n_train: normal training images per category.
        n_test: test images per category: half good, the rest spread over the defect types.
        overwrite: replace existing category folders instead of refusing.

    Returns:
        The category folders, in order.

    Raises:
        ConfigError: bad counts, sizes or category names.
        RunFolderError: a category folder exists and ``overwrite`` is False.
    """
    if isinstance(categories, int):
        if not 1 <= categories <= len(SYNTH_IMAGE_CATEGORIES):
            raise ConfigError(f"categories must be between 1 and {len(SYNTH_IMAGE_CATEGORIES)}, "
                              f"not {categories}")
        names = list(SYNTH_IMAGE_CATEGORIES[:categories])
    else:
        names = list(categories)
        bad = [c for c in names if c not in SYNTH_IMAGE_CATEGORIES]
        if bad or not names:
            raise ConfigError(f"unknown synthetic categories {bad} "
                              f"(choose from {', '.join(SYNTH_IMAGE_CATEGORIES)})")
    if image_size < 32 or image_size > 4096:
        raise ConfigError(f"image_size must be between 32 and 4096, not {image_size}")
    if n_train < 1 or n_test < 2:
        raise ConfigError(f"need n_train >= 1 and n_test >= 2 (got {n_train}, {n_test})")
    root = Path(out)
    for name in names:
        folder = root / name
        if folder.exists() and any(folder.iterdir()):
            if not overwrite:
                raise RunFolderError(f"{folder} already exists; choose another folder or "
                                     "overwrite it")
            shutil.rmtree(folder)
    written: list[Path] = []
    for name in names:
        folder = root / name
        train = folder / "train" / "good"
        train.mkdir(parents=True, exist_ok=True)
        for i in range(n_train):
            _save_png(train / f"{i:03d}.png", render_synthetic_image(name, seed, i, None,
                                                                     image_size)[0])
        n_good = n_test // 2
        (folder / "test" / "good").mkdir(parents=True, exist_ok=True)
        for i in range(n_good):
            img = render_synthetic_image(name, seed, n_train + i, None, image_size)[0]
            _save_png(folder / "test" / "good" / f"{i:03d}.png", img)
        defects = SYNTH_IMAGE_DEFECTS[name]
        counts = [0] * len(defects)
        for j in range(n_test - n_good):
            d = j % len(defects)
            defect, idx = defects[d], counts[d]
            counts[d] += 1
            img, mask = render_synthetic_image(name, seed, idx, defect, image_size)
            for sub in ("test", "ground_truth"):
                (folder / sub / defect).mkdir(parents=True, exist_ok=True)
            _save_png(folder / "test" / defect / f"{idx:03d}.png", img)
            _save_png(folder / "ground_truth" / defect / f"{idx:03d}_mask.png",
                      mask.astype(np.uint8) * 255)
        written.append(folder)
    return written

"""Bounded decoding (``decode_for_model``): the same arrays as the full pipeline, the pixel cap
read from the header before decoding, reduced JPEG decoding, bounded temporaries."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import header_only_png
from PIL import Image

from mmae.data import image_decode
from mmae.data.image_decode import EXACT_PIXELS, decode_for_model
from mmae.data.image_io import read_image, resize_image
from mmae.errors import DataError, LimitError


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour field with fine noise: JPEG-typical content."""
    rng = np.random.default_rng(seed)
    small = rng.random((h // 32, w // 32, 3)).astype(np.float32)
    a = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    a += rng.normal(0, 0.03, a.shape).astype(np.float32)
    return (np.clip(a, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def mode_files(tmp_path_factory) -> dict[str, Path]:
    """One small file per Pillow mode and format the decoder handles."""
    d = tmp_path_factory.mktemp("modes")
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (67, 91, 3), np.uint8)
    alpha = np.dstack([rgb, rgb[..., 2]])
    pal = Image.fromarray(rgb).convert("P")
    images = {
        "rgb.png": (Image.fromarray(rgb), {}),
        "l.png": (Image.fromarray(rgb[..., 0]), {}),
        "la.png": (Image.fromarray(alpha[..., 1:3], "LA"), {}),
        "rgba.png": (Image.fromarray(alpha, "RGBA"), {}),
        "p.png": (pal, {}),
        "p_transparent.png": (pal, {"transparency": 5}),
        "i16.png": (Image.fromarray(rgb[..., 0].astype(np.uint16) * 257 + 3), {}),
        "bits.png": (Image.fromarray(rgb[..., 0] > 128), {}),
        "rgb.jpg": (Image.fromarray(rgb), {"quality": 90}),
        "l.jpg": (Image.fromarray(rgb[..., 0]), {"quality": 90}),
        "cmyk.jpg": (Image.fromarray(rgb).convert("CMYK"), {"quality": 90}),
        "rgb.bmp": (Image.fromarray(rgb), {}),
        "rgb.tif": (Image.fromarray(rgb), {}),
        "float.tif": (Image.fromarray(rgb[..., 0].astype(np.float32) / 300), {}),
        "rgba.webp": (Image.fromarray(alpha, "RGBA"), {"quality": 80}),
    }
    out = {}
    for name, (img, kw) in images.items():
        img.save(d / name, **kw)
        out[name] = d / name
    return out


def test_same_array_as_read_image_then_resize_for_every_mode(mode_files, monkeypatch):
    monkeypatch.setattr(image_decode, "_STRIP_PIXELS", 500)  # many strips, a ragged last one
    for (name, f), channels, size in itertools.product(mode_files.items(), (None, 1, 3),
                                                      (24, 160)):
        expected = resize_image(read_image(f, channels), size)
        got = decode_for_model(f, size, channels, view_side=40)
        assert got.image.dtype == np.uint8 and got.image.shape == expected.shape, name
        assert np.array_equal(got.image, expected), (name, channels, size)
        assert got.size == (67, 91) and got.scale == 1
        assert got.view.shape[:2] == (29, 40)  # 91 -> 40 on the long side, aspect kept


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_cap_is_checked_from_the_header_before_decoding(tmp_path):
    f = header_only_png(tmp_path / "huge.png", 12_000, 11_000)  # 132 MP, under Pillow's limit
    with pytest.raises(LimitError, match=r"huge\.png: 12000 x 11000 = 132,000,000 pixels is more "
                                         r"than the limit of 64,000,000 \(--max-pixels\)"):
        decode_for_model(f, 32)  # the default cap
    with pytest.raises(DataError, match="cannot decode") as info:  # no cap: decoded, and fails
        decode_for_model(f, 32, max_pixels=None)
    assert not isinstance(info.value, LimitError)
    small = header_only_png(tmp_path / "small.png", 100, 50)
    with pytest.raises(LimitError, match="5,000 pixels"):
        decode_for_model(small, 32, max_pixels=4_999)
    bomb = header_only_png(tmp_path / "bomb.png", 20_000, 20_000)  # over Pillow's own limit
    with pytest.raises(LimitError, match="too large to decode safely"):
        decode_for_model(bomb, 32, max_pixels=None)


def test_large_jpeg_is_decoded_reduced_within_one_grey_level(tmp_path):
    f = tmp_path / "photo.jpg"
    Image.fromarray(photo(2048, 3072)).save(f, quality=90)
    assert 2048 * 3072 < EXACT_PIXELS  # so the default decodes it exactly
    for size, scale in ((32, 8), (64, 4)):
        exact = decode_for_model(f, size, 3)
        assert exact.scale == 1
        assert np.array_equal(exact.image, resize_image(read_image(f, 3), size))
        reduced = decode_for_model(f, size, 3, reduce_above=0)
        assert reduced.scale == scale and reduced.size == (2048, 3072)
        diff = np.abs(reduced.image.astype(int) - exact.image.astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.2, (size, diff.max(), diff.mean())
    # the margin: at 256 px a 2048-high image keeps full resolution
    assert decode_for_model(f, 256, 3, reduce_above=0).scale == 1
    png = tmp_path / "photo.png"  # no reduced decoder for PNG: always exact
    Image.fromarray(photo(300, 400)).save(png)
    assert decode_for_model(png, 16, reduce_above=0).scale == 1


def test_no_full_size_float_or_copy_while_decoding(tmp_path):
    """numpy's allocations (traced) stay near the one uint8 array of the decoded image; the full
    pipeline makes a float32 copy of an RGBA image (16 bytes a pixel)."""
    h, w = 2000, 1500
    rgba = np.dstack([photo(h, w), np.full((h, w), 200, np.uint8)])
    f = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(f, compress_level=1)
    tracemalloc.start()
    try:
        decode_for_model(f, 32, 3)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read_image(f, 3)
        _, full_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    strip = image_decode._STRIP_PIXELS
    assert peak < 3 * h * w + 48 * strip, peak  # the array + one strip's float temporaries
    assert full_peak > 10 * h * w  # what it replaces

"""Fuzz: random bytes and random folder layouts fed to the image loaders.

Only :class:`mmae.errors.DataError` may escape (plus UserWarnings naming skipped files).
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mmae.data.describe_image import describe_image_dataset
from mmae.data.image import open_image_dataset
from mmae.data.image_io import read_image, read_image_info, read_mask
from mmae.errors import DataError

FUZZ = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _png(h: int, w: int, kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if kind == "16":
        img = Image.fromarray(rng.integers(0, 65535, (h, w)).astype(np.uint16))
    elif kind == "rgba":
        img = Image.fromarray(rng.integers(0, 255, (h, w, 4), dtype=np.uint8), "RGBA")
    elif kind == "P":
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert("P")
    elif kind == "L":
        img = Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8))
    else:
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, a PNG header plus junk, or a (possibly damaged) real PNG."""
    choice = draw(st.sampled_from(["random", "png_header", "valid", "truncated", "flipped"]))
    if choice == "random":
        return draw(st.binary(max_size=300))
    if choice == "png_header":
        return b"\x89PNG\r\n\x1a\n" + draw(st.binary(max_size=200))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    data = _png(h, w, draw(st.sampled_from(["L", "RGB", "16", "rgba", "P"])),
                draw(st.integers(0, 9)))
    if choice == "truncated":
        return data[: draw(st.integers(0, len(data) - 1))]
    if choice == "flipped":
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        return bytes(buf)
    return data


DIRS = ["", "train", "train/good", "test", "test/good", "test/crack", "ground_truth",
        "ground_truth/crack", "good", "anomalous", "anomalous/x", "masks", "cat/train/good",
        "cat/test/good", "cat/test/hole", "cat/ground_truth/hole", ".hidden", "validation/good",
        "test_public/bad", "test_public/ground_truth/bad", "test_private", "Data/Images/Anomaly",
        "Data/Masks/Anomaly", "v/Data/Images/Normal"]
NAMES = ["000.png", "001.png", "000_mask.png", "a.jpg", "b.tif", "c.bmp", "d.webp", "e.pgm",
         "._000.png", ".DS_Store", "notes.txt", "x.PNG"]


def _check(root: Path) -> None:
    for split in ("train", "test"):
        try:
            ds = open_image_dataset(root, split, 8, progress=False, num_workers=1)
        except DataError:
            continue
        assert ds.images.shape[1:] == (ds.channels, 8, 8) and len(ds) == len(ds.records)
        for i in range(len(ds)):
            assert ds[i]["image"].shape == (ds.channels, 8, 8)
            try:
                ds.load_mask(i)
            except DataError:
                pass
    try:
        describe_image_dataset(root)
    except DataError:
        pass


@FUZZ
@given(data=file_bytes(), ext=st.sampled_from([".png", ".jpg", ".tif", ".bmp", ".webp"]))
def test_random_bytes_only_raise_data_error(data: bytes, ext: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{ext}"
        path.write_bytes(data)
        for fn in (read_image, read_mask, read_image_info):
            try:
                out = fn(path)
            except DataError as exc:
                assert path.name in str(exc)
                continue
            if fn is read_image:
                assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] in (1, 3)
            elif fn is read_mask:
                assert out.dtype == bool and out.ndim == 2


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(DIRS), st.sampled_from(NAMES), file_bytes()),
                      max_size=8))
def test_random_layouts_only_raise_data_error(files: list[tuple[str, str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        root = Path(tmp) / "data"
        root.mkdir()
        for folder, name, data in files:
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / name).write_bytes(data)
        _check(root)
        _check(root / "cat")

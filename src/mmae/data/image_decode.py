"""Bounded decoding of one image for a model: header check, reduced decoding, model-size output.

:func:`decode_for_model` is how ``mmae predict``, ``mmae serve`` and the image datasets turn a
file into the model's input. Memory per image no longer follows the upload's pixel count:

* the size is read from the header (Pillow opens lazily) and checked against ``max_pixels``
  before anything is decoded: :class:`~mmae.errors.LimitError` above it (``mmae serve`` answers
  413, ``mmae predict`` skips the file with an error line);
* an image of up to :data:`EXACT_PIXELS` (4096 x 4096) is decoded at full resolution and
  area-resized: bit for bit ``resize_image(read_image(path, channels), size)``, so scores are
  those of the training pipeline;
* a larger JPEG is decoded straight to 1/2, 1/4 or 1/8 of its size by the JPEG decoder (Pillow's
  draft mode, the reduction of OpenCV's ``IMREAD_REDUCED_*``), keeping at least
  :data:`REDUCE_MARGIN` decoded pixels per model pixel along each side, then area-resized.
  Against full decoding, the model input of a 3072 x 2048 photo-like JPEG decoded at 1/8
  (32 px) or 1/4 (64 px) differs by at most 1 grey level in 9 % to 13 % of its values
  (``tests/test_image_decode.py`` checks the bound on every run; a 32 px model's score moved
  by 0.25 %);
* other formats have no reduced decoder (OpenCV's ``IMREAD_REDUCED_*`` decodes a PNG at full
  size and then resizes), so they are decoded at full size and converted to uint8 in strips of
  rows, with no full-size float or byte-string copy: about 7 bytes per RGB pixel at the peak
  (Pillow's 4 and the array's 3) instead of about 10. The full-size arrays are freed before
  the function returns; only model-size arrays (and an optional bounded view) leave it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mmae.data.image_io import (
    _describe_failure,
    _open,
    _to_uint8,
    is_grayscale_mode,
    resize_image,
    to_channels,
)
from mmae.errors import DataError, LimitError

#: Default cap on width x height (``--max-pixels``): 64 megapixels, e.g. 8000 x 8000; above
#: the 61 MP of the largest common camera sensors, below Pillow's own bomb warning (89 MP).
DEFAULT_MAX_PIXELS = 64_000_000
#: Images with at most this many pixels are always decoded at full resolution.
EXACT_PIXELS = 4096 * 4096
#: A reduced JPEG decode keeps at least this many decoded pixels per model pixel on each side.
REDUCE_MARGIN = 8
#: Pixels converted per strip when a decoded image becomes a uint8 array.
_STRIP_PIXELS = 1 << 18
#: Modes whose conversion needs the whole image (float images are scaled by their maximum).
_WHOLE_MODES = frozenset({"F"})


@dataclass(frozen=True)
class DecodedImage:
    """One image decoded for a model.

    Attributes:
        image: uint8 ``(S, S, C)``, the model's input size and channels.
        size: ``(height, width)`` of the file, from its header.
        view: uint8 ``(h, w, C)``: the image shrunk (area) to at most ``view_side`` on its long
            side, or at its own size if it fits; None unless ``view_side`` was given.
        scale: The decoder's reduction (1: full resolution; 2, 4 or 8: JPEG draft).
    """

    image: np.ndarray
    size: tuple[int, int]
    view: np.ndarray | None = None
    scale: int = 1


def check_pixels(name: str | os.PathLike[str], height: int, width: int,
                 max_pixels: int | None) -> None:
    """Raise :class:`LimitError` naming ``name`` if ``height * width > max_pixels``."""
    if max_pixels is not None and height * width > max_pixels:
        raise LimitError(f"{name}: {width} x {height} = {width * height:,} pixels is more than "
                         f"the limit of {max_pixels:,} (--max-pixels)")


def decode_for_model(path: str | os.PathLike[str], size: int, channels: int | None = None,
                     max_pixels: int | None = DEFAULT_MAX_PIXELS, view_side: int | None = None,
                     reduce_above: int = EXACT_PIXELS) -> DecodedImage:
    """Decode an image to the model's size in bounded memory (see the module docstring).

    Args:
        path: Image file.
        size: Side of the model's square input.
        channels: 1 or 3, converted before resizing as ``read_image`` does; None: the file's.
        max_pixels: Largest width x height accepted (None: no limit but Pillow's own).
        view_side: Also return a view of at most this side (for heatmap overlays).
        reduce_above: JPEGs with more pixels than this may be decoded reduced.

    Raises:
        LimitError: the header announces more than ``max_pixels`` pixels.
        DataError: the file cannot be read or decoded.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3, not {channels!r}")
    p, img = _open(path)
    with img:
        w, h = img.size
        check_pixels(p, h, w, max_pixels)
        scale = 1
        try:
            if img.format == "JPEG" and h * w > reduce_above:
                side = REDUCE_MARGIN * size
                img.draft(img.mode, (side, side))
                scale = max(1, round(w / img.size[0]))
            full = _decode_strips(img, channels)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on bad input
            raise DataError(f"{p}: {_describe_failure(p, exc)}") from None
    if full.shape[0] == 0 or full.shape[1] == 0:
        raise DataError(f"{p}: decoded to an unusable array of shape {full.shape}")
    image = resize_image(full, size)
    view = None
    if view_side is not None:
        fh, fw = full.shape[:2]
        k = view_side / max(fh, fw)
        view = full if k >= 1 else resize_image(full, (max(1, round(fh * k)),
                                                       max(1, round(fw * k))))
    del full
    return DecodedImage(np.ascontiguousarray(image), (h, w), view, scale)


def _decode_strips(img: Image.Image, channels: int | None) -> np.ndarray:
    """Decode a Pillow image to uint8 ``(H, W, C)`` as ``read_image`` does, converting strips
    of rows at a time (the same per-pixel arithmetic, bounded temporaries)."""
    img.load()
    w, h = img.size
    if img.mode in _WHOLE_MODES:
        arr = _to_uint8(img)
        return to_channels(arr, channels or (1 if arr.ndim == 2 else 3))
    c = channels or (1 if is_grayscale_mode(img.mode) else 3)
    rows = max(1, _STRIP_PIXELS // w)
    out = np.empty((h, w, c), np.uint8)
    for y in range(0, h, rows):
        strip = to_channels(_to_uint8(img.crop((0, y, w, min(h, y + rows)))), c)
        out[y : y + strip.shape[0]] = strip
    return out

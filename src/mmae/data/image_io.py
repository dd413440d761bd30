"""Robust image and mask decoding (Pillow) and resizing (OpenCV).

Every failure a user's file can cause (empty, truncated, not an image, unsupported mode) raises
:class:`mmae.errors.DataError` with one line naming the file and what is wrong.

Conversions:
* grayscale (``1``, ``L``) stays one channel; 16-bit / 32-bit integer images are scaled to 8 bit
  (``v * 255 / 65535``, rounded), float images are taken as [0, 1] (or clipped to [0, 255]);
* palette images are expanded through their palette; CMYK / YCbCr / LAB are converted to RGB;
* an alpha channel (``LA``, ``RGBA``, palette transparency) is composited over black, so fully
  transparent pixels are black whatever colour they hide;
* multi-frame files (TIFF, WebP) use their first frame; EXIF orientation is ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mmae.data.files import is_junk
from mmae.errors import DataError, LimitError

#: File extensions (lower case) treated as images; anything else in a data folder is ignored.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
)
#: Pillow decoders tried on a file, whatever its extension says (misnamed files are common).
_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM")
_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether a file name looks like an image mmae should read.

    Hidden files (``.x``), macOS AppleDouble files (``._x.png``), ``.DS_Store`` / ``Thumbs.db``
    and extensions outside :data:`IMAGE_EXTENSIONS` are not images.
    """
    name = os.path.basename(os.fspath(path))
    if is_junk(name):
        return False
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def list_image_files(folder: str | os.PathLike[str], recursive: bool = False) -> list[Path]:
    """Image files of a folder, sorted by relative path (deterministic).

    Args:
        folder: folder to list.
        recursive: also list sub-folders (hidden sub-folders are skipped; links are not followed).

    Returns:
        Sorted paths accepted by :func:`is_image_file`; empty if ``folder`` is not a folder.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        for name in filenames:
            full = Path(dirpath) / name
            if is_image_file(name) and full.is_file():
                found.append((full.relative_to(root).as_posix(), full))
    return [p for _, p in sorted(found, key=lambda item: item[0])]


def _describe_failure(path: Path, exc: BaseException) -> str:
    """A short human reason for a decoding failure."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "truncated" in text.lower():
        return "image data is truncated"
    if isinstance(exc, Image.UnidentifiedImageError) or "cannot identify" in text.lower():
        try:
            with open(path, "rb") as fh:
                head = fh.read(512)
        except OSError:
            head = b""
        if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
            return "not an image: the file contains text"
        return "not an image (unrecognised or unsupported format)"
    if isinstance(exc, Image.DecompressionBombError):
        return f"image is too large to decode safely ({text})"
    return f"cannot decode image ({type(exc).__name__}: {text})"


def _open(path: str | os.PathLike[str]) -> tuple[Path, Image.Image]:
    """Open (lazily) an image file, raising DataError for missing, empty or unknown files."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise DataError(f"{p}: cannot read image ({exc.strerror or exc})") from None
    if not p.is_file():
        raise DataError(f"{p}: is not a file")
    if size == 0:
        raise DataError(f"{p}: file is empty (0 bytes)")
    try:
        img = Image.open(p, formats=_FORMATS)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on bad input
        error = LimitError if isinstance(exc, Image.DecompressionBombError) else DataError
        raise error(f"{p}: {_describe_failure(p, exc)}") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        img.close()
        raise DataError(f"{p}: image has no pixels ({w}x{h})")
    return p, img


def read_image_info(path: str | os.PathLike[str]) -> tuple[int, int, str]:
    """Height, width and Pillow mode of an image from its header only (no full decode).

    Raises:
        DataError: the file is missing, empty or not a recognised image.
    """
    _, img = _open(path)
    with img:
        w, h = img.size
        return h, w, img.mode


def is_grayscale_mode(mode: str) -> bool:
    """Whether a Pillow mode decodes to one channel (``1``, ``L``, ``LA``, 16-bit, float)."""
    return mode in _GRAY_MODES or mode.startswith("I;16")


def _to_uint8(img: Image.Image) -> np.ndarray:
    """Decode a Pillow image to uint8 HxW (grayscale) or HxWx3 (colour), compositing alpha."""
    mode = img.mode
    if mode == "1":
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode == "L":
        return np.asarray(img, dtype=np.uint8)
    if mode in ("LA", "La"):
        arr = np.asarray(img.convert("LA"), dtype=np.float32)
        return np.round(arr[..., 0] * arr[..., 1] / 255.0).astype(np.uint8)
    if mode == "I" or mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.float64)
        if arr.ndim != 2:
            raise ValueError(f"unexpected array shape {arr.shape} for mode {mode}")
        return np.clip(np.round(arr * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    if mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if arr.size and float(arr.max()) <= 1.0:
            arr = arr * 255.0
        return np.clip(np.round(arr), 0, 255).astype(np.uint8)
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(img.convert("RGBA"), dtype=np.float32)
        return np.round(arr[..., :3] * (arr[..., 3:4] / 255.0)).astype(np.uint8)
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert uint8 HxW / HxWx1 / HxWx3 to HxWx``channels`` (1: ITU-R 601 luma, 3: replicate)."""
    if image.ndim == 2:
        image = image[..., None]
    c = image.shape[2]
    if channels == c:
        return np.ascontiguousarray(image)
    if channels == 3 and c == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    if channels == 1 and c == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[..., None]
    raise ValueError(f"cannot convert {c} channels to {channels}")


def decode_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image at its native channel count: uint8 HxW (grayscale) or HxWx3 (colour).

    Raises:
        DataError: the file is missing, empty, truncated, not an image or cannot be decoded.
    """
    p, img = _open(path)
    with img:
        try:
            img.load()
            arr = _to_uint8(img)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on bad input
            raise DataError(f"{p}: {_describe_failure(p, exc)}") from None
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{p}: decoded to an unusable array of shape {arr.shape}")
    return arr


def read_image(path: str | os.PathLike[str], channels: int | None = None) -> np.ndarray:
    """Read an image as uint8 HxWxC.

    Args:
        path: image file (PNG, JPEG, BMP, TIFF, WebP, PPM/PGM).
        channels: 1 or 3 to force; ``None`` keeps the file's own (1 for grayscale modes, else 3).

    Raises:
        DataError: the file cannot be read or decoded.
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3, not {channels!r}")
    arr = decode_image(path)
    native = 1 if arr.ndim == 2 else 3
    return to_channels(arr, channels or native)


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ground-truth mask as bool HxW: any non-zero pixel (in any channel) is anomalous.

    Raises:
        DataError: the file cannot be read or decoded.
    """
    p, img = _open(path)
    with img:
        try:
            img.load()
            if img.mode in ("P", "PA"):
                img = img.convert("RGB")
            arr = np.asarray(img)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types on bad input
            raise DataError(f"{p}: {_describe_failure(p, exc)}") from None
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):  # drop alpha: a mask is its colour/gray channels
            arr = arr[..., :-1]
        arr = arr.any(axis=2)
    return np.ascontiguousarray(arr != 0)


def resize_image(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize uint8 HxWxC to ``size`` (S or (H, W)); area interpolation when shrinking, bilinear
    when enlarging. Keeps the channel axis."""
    h, w = (size, size) if isinstance(size, int) else size
    if image.shape[0] == h and image.shape[1] == w:
        return image
    shrinking = h * w < image.shape[0] * image.shape[1]
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(image, (w, h), interpolation=interp)
    if out.ndim == 2:
        out = out[..., None]
    return out

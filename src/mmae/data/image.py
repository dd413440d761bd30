"""Image datasets (MVTec AD, MVTec AD 2 and VisA categories, generic folders) decoded and resized
once, then cached.

Layouts are described in :mod:`mmae.data.layouts`; decoding rules in
:mod:`mmae.data.image_io`. Every image is decoded with a thread pool, resized to
``image_size`` x ``image_size`` (aspect ratio not kept; area interpolation when shrinking,
bilinear when enlarging) and stored in one uint8 tensor ``(N, C, S, S)``; items are converted to
float in [0, 1] on access. ``cache_dir`` saves that tensor as ``.npy`` keyed by the file list,
their sizes and modification times, the image size and the channel choice, so a later run skips
decoding.

Bad files: with ``on_error="skip"`` (the default for ``train``) an undecodable image is left out
with a warning naming it; with ``"raise"`` (the default for ``test``, so evaluations are never
silently incomplete) it raises :class:`~mmae.errors.DataError`. A mask whose size differs from its
image is a DataError; a mask file that matches no image, and an anomalous image without a mask,
are warnings (``ImageDataset.masks_complete`` is then False and ``load_mask`` returns None for it).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from mmae.data.describe_image import describe_image_dataset
from mmae.data.files import atomic_write_text, load_npy, save_npy
from mmae.data.image_decode import decode_for_model
from mmae.data.image_io import read_image_info, read_mask, to_channels
from mmae.data.layouts import ImageRecord, ImageScan, image_layout, scan_image_split
from mmae.errors import DataError

__all__ = ["ImageDataset", "ImageRecord", "describe_image_dataset", "image_layout",
           "open_image_dataset"]

_CACHE_VERSION = 2  # 2: JPEGs over EXACT_PIXELS decoded reduced (image_decode)


def _decode_one(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    dec = decode_for_model(path, size, max_pixels=None)  # as `mmae predict` and `mmae serve`
    return dec.image, dec.size


def _cache_key(records: list[ImageRecord], image_size: int, channels: int | None) -> str:
    h = hashlib.sha256()
    h.update(f"v{_CACHE_VERSION}|{image_size}|{channels}".encode())
    for r in records:
        try:
            st = r.path.stat()
            stamp = f"{st.st_size}|{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"|{os.path.abspath(r.path)}|{stamp}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:24]


class ImageDataset(Dataset):
    """Images of one split, decoded and resized once at construction.

    Items: ``{"image": FloatTensor (C, S, S) in [0, 1], "label": int, "index": int}``.

    Attributes:
        records: the :class:`ImageRecord` of each item (bad files skipped are not included).
        channels: 1 or 3.
        image_size: side S of the square images.
        images: uint8 tensor ``(N, C, S, S)`` of all images.
        labels: int64 tensor ``(N,)``.
        layout: ``"mvtec"``, ``"mvtec_ad2"``, ``"visa"`` or ``"folder"``.
        validation_indices: items that form the dataset's own validation split (MVTec AD 2's
            ``validation/good`` in its training data), or None: the validation split is drawn
            at random (``val_fraction``).
        masks_complete: every anomalous record has a mask file.
        skipped: files left out because they could not be decoded.
    """

    def __init__(self, records: list[ImageRecord], image_size: int, channels: int | None = None,
                 *, cache_dir: str | os.PathLike[str] | None = None, num_workers: int | None = None,
                 progress: bool = True, on_error: str = "skip", layout: str = "folder",
                 check_masks: bool = True, validation: Collection[Path] | None = None) -> None:
        """Decode, resize and cache ``records``.

        Args:
            records: images to load.
            image_size: side of the square output images (>= 1).
            channels: 1 or 3 to force, ``None`` for auto (1 if every image is grayscale, else 3).
            cache_dir: folder for the decoded ``.npy`` cache (created if needed); None: no cache.
            num_workers: decoding threads (default: min(8, CPU count)).
            progress: show a tqdm bar.
            on_error: ``"skip"`` (warn and leave the file out) or ``"raise"``.
            layout: layout name reported by ``.layout``.
            check_masks: check each mask's size against its image (reads mask headers only).
            validation: paths of records that are the dataset's own validation split.

        Raises:
            DataError: no records, every image unreadable, a bad mask, or a bad file with
                ``on_error="raise"``.
        """
        if channels not in (None, 1, 3):
            raise DataError(f"channels must be 1, 3 or None (auto), not {channels!r}")
        if not isinstance(image_size, int) or image_size < 1:
            raise DataError(f"image_size must be a positive integer, not {image_size!r}")
        if on_error not in ("skip", "raise"):
            raise ValueError(f"on_error must be 'skip' or 'raise', not {on_error!r}")
        if not records:
            raise DataError("no images to load")
        self.image_size = image_size
        self.layout = layout
        self.skipped: list[Path] = []
        loaded = self._load_cache(cache_dir, records, image_size, channels)
        if loaded is None:
            loaded = self._decode(records, image_size, channels, num_workers, progress, on_error)
            self._save_cache(cache_dir, records, image_size, channels, loaded)
        keep, images, sizes, self.channels = loaded
        kept = set(keep)
        self.skipped = [r.path for i, r in enumerate(records) if i not in kept]
        self.records: list[ImageRecord] = [records[i] for i in keep]
        self.images: torch.Tensor = torch.from_numpy(images)
        self._sizes: list[tuple[int, int]] = sizes
        self.labels = torch.tensor([r.label for r in self.records], dtype=torch.int64)
        self.validation_indices: list[int] | None = None
        if validation:
            held = set(validation)
            self.validation_indices = [i for i, r in enumerate(self.records) if r.path in held]
        self.masks_complete = all(r.mask_path is not None for r in self.records if r.label == 1)
        if check_masks:
            self._check_masks()

    # -- loading ---------------------------------------------------------------------------
    @staticmethod
    def _decode(records: list[ImageRecord], size: int, channels: int | None,
                num_workers: int | None, progress: bool, on_error: str
                ) -> tuple[list[int], np.ndarray, list[tuple[int, int]], int]:
        workers = num_workers or min(8, os.cpu_count() or 1)
        results: list[Any] = [None] * len(records)

        def work(i: int) -> None:
            try:
                results[i] = _decode_one(records[i].path, size)
            except DataError as exc:
                results[i] = exc

        with tqdm(total=len(records), desc="decoding images", unit="img", disable=not progress,
                  leave=False) as bar, ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(work, range(len(records))):
                bar.update(1)
        keep: list[int] = []
        for i, res in enumerate(results):
            if isinstance(res, DataError):
                if on_error == "raise":
                    raise res
                warnings.warn(f"skipping unreadable image {res}", stacklevel=3)
            else:
                keep.append(i)
        if not keep:
            raise DataError(f"none of the {len(records)} images could be decoded "
                            f"(first: {records[0].path})")
        if channels is None:
            channels = 1 if all(results[i][0].shape[2] == 1 for i in keep) else 3
        images = np.stack([to_channels(results[i][0], channels).transpose(2, 0, 1)
                           for i in keep])
        return keep, np.ascontiguousarray(images), [results[i][1] for i in keep], channels

    @staticmethod
    def _cache_paths(cache_dir: str | os.PathLike[str], records: list[ImageRecord], size: int,
                     channels: int | None) -> tuple[Path, Path]:
        key = _cache_key(records, size, channels)
        base = Path(cache_dir) / f"images-{size}px-{key}"
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def _load_cache(self, cache_dir: str | os.PathLike[str] | None, records: list[ImageRecord],
                    size: int, channels: int | None) -> Any:
        if cache_dir is None:
            return None
        npy, meta = self._cache_paths(cache_dir, records, size, channels)
        if not (npy.is_file() and meta.is_file()):
            return None
        try:
            info = json.loads(meta.read_text())
            images = load_npy(npy)
            if images is None:
                raise ValueError("unreadable .npy")
            keep = [int(i) for i in info["keep"]]
            sizes = [(int(h), int(w)) for h, w in info["sizes"]]
            ch = int(info["channels"])
            if images.shape != (len(keep), ch, size, size) or images.dtype != np.uint8:
                raise ValueError(f"shape {images.shape}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"ignoring unreadable image cache {npy} ({exc})", stacklevel=3)
            return None
        kept = set(keep)
        for i in range(len(records)):
            if i not in kept:
                warnings.warn(f"skipping unreadable image {records[i].path} (cached)", stacklevel=3)
        return keep, images, sizes, ch

    def _save_cache(self, cache_dir: str | os.PathLike[str] | None, records: list[ImageRecord],
                    size: int, channels: int | None, loaded: Any) -> None:
        if cache_dir is None:
            return
        keep, images, sizes, ch = loaded
        npy, meta = self._cache_paths(cache_dir, records, size, channels)
        try:
            save_npy(npy, images)
            atomic_write_text(meta, json.dumps({"keep": keep, "sizes": sizes, "channels": ch,
                                                "files": [str(r.path) for r in records]}))
        except OSError as exc:
            warnings.warn(f"could not write image cache in {cache_dir} ({exc})", stacklevel=3)

    def _check_masks(self) -> None:
        for i, r in enumerate(self.records):
            if r.mask_path is None:
                continue
            mh, mw, _ = read_image_info(r.mask_path)
            if (mh, mw) != self._sizes[i]:
                h, w = self._sizes[i]
                raise DataError(f"mask {r.mask_path} is {mw}x{mh} but its image {r.path} is "
                                f"{w}x{h}")

    # -- access ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = self.images[index].to(torch.float32).div_(255.0)
        return {"image": image, "label": int(self.records[index].label), "index": int(index)}

    def get_batch(self, indices: list[int]) -> dict[str, Any]:
        """Items ``indices`` collated (what a DataLoader would yield), indexed in one go."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        images = self.images[idx].to(torch.float32).div_(255.0)
        return {"image": images, "label": self.labels[idx], "index": idx}

    def original_size(self, index: int) -> tuple[int, int]:
        """(H, W) of image ``index`` before resizing."""
        return self._sizes[index]

    def load_mask(self, index: int) -> np.ndarray | None:
        """Ground-truth mask of item ``index``: bool (H0, W0) at the mask file's resolution.

        Good images get an empty mask of the image's original size; an anomalous image without a
        mask file gets ``None``.
        """
        r = self.records[index]
        if r.mask_path is None:
            return np.zeros(self._sizes[index], dtype=bool) if r.label == 0 else None
        return read_mask(r.mask_path)


def _warn_scan(scan: ImageScan) -> None:
    for note in scan.warnings:
        warnings.warn(note, stacklevel=3)
    if scan.split != "test":
        return
    for m in scan.orphan_masks[:20]:
        warnings.warn(f"mask {m} matches no image; ignored", stacklevel=3)
    if len(scan.orphan_masks) > 20:
        warnings.warn(f"{len(scan.orphan_masks) - 20} more masks match no image", stacklevel=3)
    for p in scan.missing_masks[:20]:
        warnings.warn(f"anomalous image {p} has no mask; pixel metrics will skip it",
                      stacklevel=3)
    if len(scan.missing_masks) > 20:
        warnings.warn(f"{len(scan.missing_masks) - 20} more anomalous images have no mask",
                      stacklevel=3)


def open_image_dataset(root: str | os.PathLike[str], split: str, image_size: int,
                       channels: int | None = None, *, category: str | None = None,
                       abnormal_dir: str | os.PathLike[str] | None = None,
                       mask_dir: str | os.PathLike[str] | None = None,
                       normal_test_dir: str | os.PathLike[str] | None = None,
                       cache_dir: str | os.PathLike[str] | None = None,
                       num_workers: int | None = None, progress: bool = True,
                       on_error: str | None = None) -> ImageDataset:
    """Open one split of an image dataset folder.

    The training split of an MVTec AD 2 category also holds its ``validation/good`` images, named
    by ``validation_indices`` (the validation split; never trained on).

    Args:
        root: a category of a known layout (MVTec AD, MVTec AD 2, VisA), a folder of categories
            (with ``category``) or a generic folder.
        split: ``"train"`` or ``"test"``.
        image_size: side of the square images the dataset yields.
        channels: 1 or 3 to force; ``None``: 1 if every image is grayscale, else 3.
        category: category inside a folder of categories.
        abnormal_dir: anomalous images (generic folder; sub-folders are defect types).
        mask_dir: masks matched to anomalous images by stem (``x.png`` or ``x_mask.png``).
        normal_test_dir: normal test images (generic folder); else 1 in 5 normals is held out.
        cache_dir: where to save / load the decoded images (``.npy``).
        num_workers: decoding threads.
        progress: show a progress bar while decoding.
        on_error: ``"skip"`` or ``"raise"`` for undecodable images; default skip for train,
            raise for test.

    Raises:
        DataError: any problem with the folder or its files (one line naming the file).
    """
    scan = scan_image_split(root, split, category=category, abnormal_dir=abnormal_dir,
                            mask_dir=mask_dir, normal_test_dir=normal_test_dir)
    _warn_scan(scan)
    policy = on_error or ("skip" if split == "train" else "raise")
    return ImageDataset(scan.records + scan.validation, image_size, channels, cache_dir=cache_dir,
                        num_workers=num_workers, progress=progress, on_error=policy,
                        layout=scan.layout, check_masks=split == "test",
                        validation=[r.path for r in scan.validation])

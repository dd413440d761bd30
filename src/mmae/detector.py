"""A scikit-learn / pyod style estimator around the engine: ``fit``, ``decision_function``,
``predict``, ``threshold_``.

    det = mmae.Detector("mmae", epochs=20).fit(normal_images)   # array, list or folder
    det.decision_function(images)   # image scores, higher = more anomalous
    det.predict(images)             # 0 normal / 1 anomalous (score >= threshold_)
    det.anomaly_maps(images)        # per-pixel maps at each image's own size

Images are uint8 arrays (H, W) / (H, W, C) or floats in [0, 1], a stacked array (N, H, W[, C]), a
list of such arrays (sizes may differ), or a path to a folder / MVTec AD category (its training
split for ``fit``, all its images otherwise). Training and scoring are exactly those of
``mmae train`` / ``mmae predict``: a run folder (``run_dir``, a temporary one by default) holds the
checkpoint, config and thresholds, so ``Detector.load(run)`` reopens any CLI run too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mmae.data.image_io import read_image, resize_image, to_channels
from mmae.engine.checkpoint import load_thresholds, output_folder
from mmae.engine.config import RunConfig, resolve_config
from mmae.engine.runs import load_run
from mmae.engine.scoring import map_images, reduce_score
from mmae.engine.train import train
from mmae.errors import ConfigError, DataError
from mmae.metrics import resize_map_to_mask

Images = np.ndarray | Sequence[np.ndarray] | str | Path


def _as_uint8(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating):
            raise DataError(f"images must be uint8 or float in [0, 1], got dtype {a.dtype}")
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise DataError(f"an image must be (H, W), (H, W, 1) or (H, W, 3), got {a.shape}")
    return a


def _image_list(images: Images) -> list[np.ndarray]:
    """uint8 HxWxC arrays from any accepted input."""
    if isinstance(images, (str, Path)):
        from mmae.data.image_io import list_image_files

        files = list_image_files(images, recursive=True)
        if not files:
            raise DataError(f"no images found in {images}")
        return [read_image(f) for f in files]
    if isinstance(images, np.ndarray) and images.ndim in (3, 4) and images.dtype != object:
        if images.ndim == 3 and images.shape[-1] not in (1, 3):
            return [_as_uint8(x) for x in images]  # (N, H, W) grayscale stack
        if images.ndim == 4:
            return [_as_uint8(x) for x in images]
    if isinstance(images, np.ndarray) and images.ndim == 2:
        return [_as_uint8(images)]
    out = [_as_uint8(x) for x in images]
    if not out:
        raise DataError("no images given")
    return out


class _ArrayImages(Dataset):
    """In-memory images resized once, as the training loop expects them."""

    def __init__(self, images: list[np.ndarray], size: int, channels: int) -> None:
        arr = np.stack([resize_image(to_channels(im, channels), size) for im in images])
        self.images = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
        self.channels = channels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i].float().div(255.0), "label": 0, "index": i}


class Detector:
    """Anomaly detector with the scikit-learn estimator habits.

    Args:
        model: registered model name (``mmae.list_models()``).
        preset: settings preset (``cpu`` by default, ``paper``, or a YAML file).
        run_dir: folder for the run (checkpoint, config, thresholds); a temporary folder if None.
        **settings: any ``--set`` key, run or model (``epochs=20``, ``num_scales=3``, ...).

    Attributes (after ``fit``):
        threshold_: image-score threshold (percentile ``threshold_percentile`` of the training
            scores; 99 by default).
        config_: the resolved :class:`~mmae.engine.config.RunConfig`.
        model_: the trained ``torch.nn.Module`` (eval mode).
    """

    def __init__(self, model: str = "mmae", preset: str = "cpu", run_dir: str | Path | None = None,
                 **settings: Any) -> None:
        self.model = model
        self.preset = preset
        self.run_dir = run_dir
        self.settings = settings
        self._tmp: tempfile.TemporaryDirectory | None = None

    def fit(self, images: Images, overwrite: bool = False) -> Detector:
        """Train on normal images; returns ``self``."""
        cfg = resolve_config(self.model, self.preset, dict(self.settings))
        if cfg.kind != "image":
            raise ConfigError(f"Detector handles image models; {self.model!r} is a video model")
        if isinstance(images, (str, Path)) and Path(images).is_dir():
            from mmae.engine.datasets import build_dataset

            cfg.data = str(Path(images).resolve())
            data = build_dataset(cfg, "train", progress=False)
        else:
            imgs = _image_list(images)
            channels = cfg.channels or (1 if all(i.shape[2] == 1 for i in imgs) else 3)
            data = _ArrayImages(imgs, cfg.image_size, channels)
        cfg.channels = data.channels
        if self.run_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mmae-detector-")
            run = Path(self._tmp.name)
            train(cfg, run, progress=False, dataset=data)
        else:
            with output_folder(Path(self.run_dir), overwrite) as run:
                train(cfg, run, progress=False, dataset=data)
        return self._open(run)

    @classmethod
    def load(cls, run: str | Path) -> Detector:
        """A fitted detector from a run folder (written by ``fit`` or ``mmae train``)."""
        cfg, _, _ = load_run(Path(run), device="cpu")
        det = cls(cfg.model, cfg.preset, run_dir=run)
        return det._open(Path(run))

    def _open(self, run: Path) -> Detector:
        cfg, model, device = load_run(run)
        self.config_: RunConfig = cfg
        self.model_ = model
        self._device = device
        th = load_thresholds(run).get("image_normal")
        self.threshold_: float | None = None if th is None else float(th["value"])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ConfigError("this Detector is not fitted yet: call fit() first")

    def _maps(self, images: Images) -> tuple[list[np.ndarray], list[np.ndarray]]:
        self._check_fitted()
        imgs = _image_list(images)
        return imgs, map_images(self.model_, imgs, self.config_, self._device)

    def anomaly_maps(self, images: Images) -> list[np.ndarray]:
        """Per-pixel anomaly maps (post-processed as in ``mmae test``), each at its image's size."""
        imgs, maps = self._maps(images)
        return [resize_map_to_mask(m, im.shape[:2]) for m, im in zip(maps, imgs)]

    def decision_function(self, images: Images) -> np.ndarray:
        """Image anomaly scores (higher = more anomalous), as ``mmae predict`` computes them."""
        _, maps = self._maps(images)
        cfg = self.config_
        return np.asarray([reduce_score(m, cfg.score_reduce, cfg.score_topk) for m in maps],
                          dtype=np.float64)

    def predict(self, images: Images) -> np.ndarray:
        """0 (normal) / 1 (anomalous): ``decision_function(images) >= threshold_``."""
        self._check_fitted()
        if self.threshold_ is None:
            raise ConfigError("this run has no stored threshold; set detector.threshold_")
        return (self.decision_function(images) >= self.threshold_).astype(np.int64)

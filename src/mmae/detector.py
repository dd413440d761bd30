"""A scikit-learn / pyod style estimator around training and inference.

    det = mmae.Detector("mmae", settings={"epochs": 20}).fit(normal_images)
    det.decision_function(images)   # image scores, higher = more anomalous
    det.predict(images)             # 0 normal / 1 anomalous (score >= threshold_)
    det.anomaly_maps(images)        # per-pixel maps at each image's own size

Images are uint8 arrays (H, W) / (H, W, C) or floats in [0, 1]: one array, a stacked array
(N, H, W[, C]), a list of arrays (sizes may differ), a list of image paths, or a folder / dataset
category (its training split for ``fit``; otherwise all its images, or an MVTec AD 2 category's
unlabelled ``test_private`` and ``test_private_mixed``, as ``mmae predict``). Training is
``mmae train``'s; scores, maps and the threshold come from
:class:`~mmae.inference.Inferencer`, exactly as in ``mmae predict``. A run folder (``run_dir``,
a temporary one by default) holds the checkpoint, config and thresholds, so
``Detector.load(run)`` reopens any CLI run too. The constructor only stores its parameters, so
``sklearn.base.clone`` works.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from mmae.config import RunConfig, resolve_config
from mmae.data.image_io import (
    is_image_file,
    list_image_files,
    read_image,
)
from mmae.data.image_tiles import FullImages
from mmae.data.in_memory import InMemoryImages
from mmae.data.layouts import predict_folders
from mmae.errors import ConfigError, DataError
from mmae.inference.inferencer import Inferencer, as_uint8_image
from mmae.runs.checkpoint import output_folder
from mmae.training.train import train

Images = np.ndarray | Sequence[np.ndarray] | Sequence[str | os.PathLike[str]] | str | Path


def image_list(images: Images) -> list[np.ndarray]:
    """uint8 ``(H, W, C)`` arrays from any accepted input (see the module docstring).

    Raises:
        DataError: nothing usable, a missing path, or a wrong dtype / shape.
    """
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if path.is_dir():
            unlabelled = predict_folders(path)  # an MVTec AD 2 category: its private test sets
            folders = [path] if unlabelled is None else unlabelled
            files = [f for d in folders for f in list_image_files(d, recursive=True)]
            if not files:
                raise DataError(f"no images found in {path}")
            return [read_image(f) for f in files]
        if path.is_file():
            return [read_image(path)]
        raise DataError(f"{path} does not exist")
    if isinstance(images, np.ndarray) and images.dtype != object:
        if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3)):
            return [as_uint8_image(images)]  # one image
        if images.ndim in (3, 4):
            return [as_uint8_image(x) for x in images]  # a stack
    out = []
    for x in images:
        if isinstance(x, (str, os.PathLike)):
            if not Path(x).is_file() or not is_image_file(x):
                raise DataError(f"{x}: not an image file")
            out.append(read_image(Path(x)))
        else:
            out.append(as_uint8_image(x))
    if not out:
        raise DataError("no images given")
    return out


class Detector(BaseEstimator):
    """Image anomaly detector with the scikit-learn estimator habits.

    Args:
        model: Registered image model name (``mmae.list_models("image")``).
        preset: Settings preset (``cpu`` by default, ``paper``, or a YAML file).
        settings: ``--set`` values, run or model (``{"epochs": 20, "num_scales": 3}``).
        run_dir: Folder for the run; a temporary folder if None.
        threshold: A fixed threshold instead of the run's.
        threshold_rule: ``normal`` (default: a stated false-positive rate on held-out normal
            images) or ``f1`` (needs ``mmae test`` on the run).
        device: ``cpu``, ``cuda``, ... for scoring; default: the run's.

    Attributes (after ``fit`` or ``load``):
        threshold_: The image-score threshold ``predict`` uses (None if the run has none).
        decision_scores_: Scores of the training images (only after ``fit``).
        config_: The run's :class:`~mmae.config.RunConfig`.
        model_: The trained ``torch.nn.Module`` (eval mode).
        inferencer_: The :class:`~mmae.inference.Inferencer` behind the scores.
    """

    def __init__(self, model: str = "mmae", preset: str = "cpu",
                 settings: dict[str, Any] | None = None, run_dir: str | Path | None = None,
                 threshold: float | None = None, threshold_rule: str | None = None,
                 device: str | None = None) -> None:
        self.model = model
        self.preset = preset
        self.settings = settings
        self.run_dir = run_dir
        self.threshold = threshold
        self.threshold_rule = threshold_rule
        self.device = device

    def fit(self, X: Images, y: Any = None, overwrite: bool = False) -> Detector:
        """Train on normal images (``y`` is ignored); returns ``self``."""
        cfg = resolve_config(self.model, self.preset, dict(self.settings or {}))
        if cfg.kind != "image":
            raise ConfigError(f"Detector handles image models; {self.model!r} is a video model")
        if isinstance(X, (str, os.PathLike)) and Path(X).is_dir():
            from mmae.tasks import get_task

            cfg.data = str(Path(X).resolve())
            data = get_task(cfg).open("train", progress=False)
        else:
            imgs = image_list(X)
            channels = cfg.channels or (1 if all(i.shape[2] == 1 for i in imgs) else 3)
            data = (FullImages(arrays=imgs, channels=channels) if cfg.tile_size
                    else InMemoryImages.resized(imgs, cfg.image_size, channels))
        if self.run_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mmae-detector-")
            run = Path(self._tmp.name)
            train(cfg, run, progress=False, dataset=data)
        else:
            with output_folder(Path(self.run_dir), overwrite) as run:
                train(cfg, run, progress=False, dataset=data)
        self._open(run)
        self.decision_scores_ = self.inferencer_.task.score_all(
            self.model_, data, self.inferencer_.device)[1]
        return self

    @classmethod
    def load(cls, run: str | Path, threshold: float | None = None,
             threshold_rule: str | None = None, device: str | None = None) -> Detector:
        """A fitted detector from a run folder (written by ``fit`` or ``mmae train``)."""
        inf = Inferencer.load(run, device=device, threshold=threshold,
                              threshold_rule=threshold_rule)
        det = cls(inf.config.model, inf.config.preset, run_dir=run, threshold=threshold,
                  threshold_rule=threshold_rule, device=device)
        det._adopt(inf)
        return det

    def _open(self, run: Path) -> None:
        self._adopt(Inferencer.load(run, device=self.device, threshold=self.threshold,
                                    threshold_rule=self.threshold_rule))

    def _adopt(self, inf: Inferencer) -> None:
        inf.require_kind("image", "the Detector")
        self.inferencer_ = inf
        self.config_: RunConfig = inf.config
        self.model_ = inf.model
        self.threshold_: float | None = inf.threshold

    def _predict(self, X: Images):
        if not hasattr(self, "inferencer_"):
            raise ConfigError("this Detector is not fitted yet: call fit() first")
        imgs = image_list(X)
        return imgs, self.inferencer_.predict_images(imgs)

    def anomaly_maps(self, X: Images) -> list[np.ndarray]:
        """Per-pixel anomaly maps (post-processed as in ``mmae test``), each at its image's size."""
        imgs, pred = self._predict(X)
        post = self.inferencer_.post
        return [post.resize(torch.from_numpy(m)[None], im.shape[:2])[0].numpy()
                for m, im in zip(pred.maps, imgs)]

    def decision_function(self, X: Images) -> np.ndarray:
        """Image anomaly scores (higher = more anomalous), as ``mmae predict`` computes them."""
        return self._predict(X)[1].scores

    def score_samples(self, X: Images) -> np.ndarray:
        """The same raw image scores as :meth:`decision_function` (higher = more anomalous;
        unlike scikit-learn's outlier detectors, no offset and no sign change)."""
        return self.decision_function(X)

    def predict(self, X: Images) -> np.ndarray:
        """0 (normal) / 1 (anomalous): ``decision_function(X) >= threshold_``."""
        scores = self.decision_function(X)
        if self.threshold_ is None:
            raise ConfigError("this run has no threshold; pass Detector(threshold=...)")
        return (scores >= self.threshold_).astype(np.int64)

    def fit_predict(self, X: Images, y: Any = None) -> np.ndarray:
        """``fit(X)`` then the labels of the training images (from ``decision_scores_``)."""
        self.fit(X)
        if self.threshold_ is None:
            raise ConfigError("this run has no threshold; pass Detector(threshold=...)")
        return (self.decision_scores_ >= self.threshold_).astype(np.int64)

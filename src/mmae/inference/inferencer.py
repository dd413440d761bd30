"""``Inferencer``: a trained run ready to score new data, with its default threshold.

The one object behind ``mmae predict``, the :class:`~mmae.detector.Detector`, serving and video
prediction: the run's model, its post-processing module (:mod:`mmae.scoring.postprocess`) and the
threshold chosen by the run's policy (:mod:`mmae.scoring.thresholds`)::

    inf = Inferencer.load("runs/x")
    pred = inf.predict_images([img1, img2])     # scores, maps, anomalous
    for t, score in Inferencer.load("runs/v").predict_frames(frames):   # one video, streamed
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from mmae.config import RunConfig
from mmae.data.image_decode import DecodedImage, decode_for_model
from mmae.data.image_io import resize_image, to_channels
from mmae.data.image_tiles import decode_full
from mmae.device import evaluation_precision
from mmae.errors import ConfigError, DataError
from mmae.runs.run import Run
from mmae.scoring.postprocess import PostProcess
from mmae.scoring.tiled import TiledScorer, tiling
from mmae.tasks import Task, get_task


@dataclass
class ImagePrediction:
    """Scores and maps of a list of images.

    Attributes:
        scores: ``(N,)`` float64 image scores (higher = more anomalous).
        maps: ``(N, S, S)`` float32 post-processed anomaly maps at model resolution; for a
            tiled run (``tile_size``) a list of stitched ``(H, W)`` maps, each at its image's
            resolution.
        anomalous: ``(N,)`` bool ``scores >= threshold``, or None when there is no threshold.
    """

    scores: np.ndarray
    maps: np.ndarray
    anomalous: np.ndarray | None


def as_uint8_image(img: np.ndarray) -> np.ndarray:
    """An image as uint8 ``(H, W, C)``; floats are read as [0, 1].

    Raises:
        DataError: another dtype or shape.
    """
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


class Inferencer:
    """A loaded run: config, task, model, post-processing and threshold.

    Build it with :meth:`load`. Attributes: ``run`` (:class:`Run`), ``config``, ``task``,
    ``model`` (eval mode), ``post`` (:class:`PostProcess`), ``device``, ``threshold``
    (float or None), ``threshold_source`` (``normal``, ``f1``, ``--threshold`` or ``none``),
    ``kind`` (``image`` or ``video``), ``tiles`` (``(tile_size, tile_overlap)`` or None).
    """

    def __init__(self, run: Run, config: RunConfig, task: Task, model: torch.nn.Module,
                 device: torch.device, threshold: float | None, threshold_source: str) -> None:
        self.run = run
        self.config = config
        self.task = task
        self.model = model
        self.device = device
        self.post: PostProcess = task.post().to(device)
        self.threshold = threshold
        self.threshold_source = threshold_source
        self.tiles = tiling(config)

    @classmethod
    def load(cls, run: str | os.PathLike[str] | Run, device: str | None = None,
             threshold: float | None = None, threshold_rule: str | None = None) -> Inferencer:
        """Open a run folder.

        Args:
            run: The run folder (or a :class:`Run`).
            device: ``cpu``, ``cuda``, ...; default: the run's device setting.
            threshold: An explicit threshold (wins over ``threshold_rule``).
            threshold_rule: ``normal`` or ``f1``; default: the run's default (``normal``).

        Raises:
            RunFolderError, CheckpointError: not a usable run. ConfigError: unknown rule.
        """
        run = run if isinstance(run, Run) else Run(run)
        cfg = run.config()
        model, dev = run.load_model(device, cfg)
        value, source = run.threshold(threshold_rule, threshold)
        return cls(run, cfg, get_task(cfg).attach(run), model, dev, value, source)

    @property
    def kind(self) -> str:
        """``"image"`` or ``"video"``."""
        return self.task.kind

    def require_kind(self, kind: str, what: str) -> None:
        """Raise ConfigError naming ``what`` unless the run is of ``kind``."""
        if self.kind != kind:
            raise ConfigError(f"run {self.run.path} holds a {self.kind} model; {what} works "
                              f"with {kind} models only")

    def image_batch(self, images: list[np.ndarray]) -> torch.Tensor:
        """Images converted to the run's channels and resized as the training data was."""
        c = self.config
        arrays = [resize_image(to_channels(as_uint8_image(im), c.channels), c.image_size)
                  for im in images]
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255)

    def decode(self, path: str | os.PathLike[str], max_pixels: int | None,
               view_side: int | None = None) -> DecodedImage:
        """Decode an image file as this run scores it: at the model's size, or at its own
        resolution for a tiled run (``image`` then holds the full image)."""
        c = self.config
        if self.tiles is None:
            return decode_for_model(path, c.image_size, c.channels, max_pixels, view_side)
        full = decode_full(path, c.channels, max_pixels)
        view = None
        if view_side is not None:
            h, w = full.shape[:2]
            k = min(1.0, view_side / max(h, w))
            view = resize_image(full, (max(1, round(h * k)), max(1, round(w * k))))
        return DecodedImage(full, (full.shape[0], full.shape[1]), view)

    def predict_images(self, images: list[np.ndarray], batch_size: int = 32) -> ImagePrediction:
        """Scores, maps and decisions of uint8 (or [0, 1] float) images of any size."""
        self.require_kind("image", "predict_images")
        if len(images) == 0:
            raise DataError("no images given")
        if self.tiles is not None:
            return self._predict_tiled(images)
        maps, scores = [], []
        with torch.no_grad(), evaluation_precision():  # IEEE float32: scores equal the CPU's
            for i in range(0, len(images), batch_size):
                x = self.image_batch(list(images[i : i + batch_size])).to(self.device)
                _, m, s = self.post.run(self.model, x)
                maps.append(m.cpu().numpy().astype(np.float32))
                scores.append(s.double().cpu().numpy())
        sc = np.concatenate(scores)
        flags = None if self.threshold is None else sc >= self.threshold
        return ImagePrediction(sc, np.concatenate(maps), flags)

    def _predict_tiled(self, images: list[np.ndarray]) -> ImagePrediction:
        """Each image scored tile by tile at its own resolution (:mod:`mmae.scoring.tiled`)."""
        tile, overlap = self.tiles or (0, 0)
        scorer = TiledScorer(self.model, self.post, tile, overlap, self.config.image_size,
                             self.device, self.config.eval_batch_size)
        maps, scores = [], []
        for im in images:
            m, s = scorer.score(to_channels(as_uint8_image(im), self.config.channels))
            maps.append(m)
            scores.append(s)
        sc = np.array(scores, np.float64)
        flags = None if self.threshold is None else sc >= self.threshold
        return ImagePrediction(sc, maps, flags)  # type: ignore[arg-type]

    def predict_frames(self, frames: Iterable[np.ndarray],
                       batch_size: int = 8) -> Iterator[tuple[int, float]]:
        """Stream the frames of ONE video; yield ``(frame index, score)`` in frame order.

        Frames are uint8 ``(H, W)`` or RGB ``(H, W, 3)`` of any size. Memory stays bounded (a
        ring buffer of ``clip_length`` frames, clips run ``batch_size`` at a time). Scores are
        those ``mmae test`` computes for the same video (clip error, frame rule); a frame the
        rule gives no score (clip edges under ``frame_rule=center``, or a video shorter than
        one clip) gets NaN.
        """
        self.require_kind("video", "predict_frames")
        return self.task.stream(self.model, self.device, frames, batch_size)

"""``Inferencer``: a trained run ready to score new images or the frames of a video.

The one object behind ``mmae predict``, ``mmae serve`` and video prediction: it loads a run
folder once and applies exactly the scoring of ``mmae test`` (same resizing, smoothing, reduction,
clip scores and frame rule) to new inputs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from mmae.data.video.files import resize_gray
from mmae.engine.checkpoint import load_thresholds
from mmae.engine.config import RunConfig
from mmae.engine.device import eval_mode
from mmae.engine.runs import load_run
from mmae.engine.scoring import map_images, reduce_score
from mmae.engine.thresholds import image_threshold
from mmae.errors import ConfigError, DataError

_RULE_KEYS = {"image": {"normal": "image_normal", "f1": "image_validation"},
              "video": {"normal": "clip_normal"}}


@dataclass
class ImagePrediction:
    """Scores, post-processed maps (model resolution) and decisions of a batch of images."""

    scores: np.ndarray  # (N,) float64
    maps: np.ndarray  # (N, S, S) float32
    anomalous: np.ndarray | None  # (N,) bool, None without a threshold


def _pick_threshold(kind: str, stored: dict, threshold: float | None,
                    rule: str | None) -> tuple[float | None, str]:
    if threshold is not None:
        return float(threshold), "--threshold"
    if rule is not None:
        key = _RULE_KEYS[kind].get(rule)
        if key is None:
            raise ConfigError(f"--threshold-rule {rule!r}: expected one of "
                              f"{sorted(_RULE_KEYS[kind])} for a {kind} run")
        if key not in stored:
            raise ConfigError(f"--threshold-rule {rule}: the run has no {key} threshold")
        return float(stored[key]["value"]), key
    if kind == "video":
        if "clip_normal" in stored:
            return float(stored["clip_normal"]["value"]), "clip_normal"
        return None, "none"
    return image_threshold(stored)


class Inferencer:
    """A loaded run: config, model (eval mode), threshold and kind (``image`` / ``video``)."""

    def __init__(self, config: RunConfig, model: torch.nn.Module, device: torch.device,
                 threshold: float | None, threshold_source: str) -> None:
        self.config = config
        self.model = model
        self.device = device
        self.threshold = threshold
        self.threshold_source = threshold_source
        self.kind = config.kind

    @classmethod
    def load(cls, run: str | Path, device: str | None = None, threshold: float | None = None,
             threshold_rule: str | None = None) -> Inferencer:
        """Open a run folder; ``threshold`` overrides the stored one, ``threshold_rule``
        (``normal`` | ``f1``) picks which stored one."""
        cfg, model, dev = load_run(Path(run), device)
        th, source = _pick_threshold(cfg.kind, load_thresholds(Path(run)), threshold,
                                     threshold_rule)
        return cls(cfg, model, dev, th, source)

    def _decide(self, scores: np.ndarray) -> np.ndarray | None:
        return None if self.threshold is None else scores >= self.threshold

    def predict_images(self, images: list[np.ndarray]) -> ImagePrediction:
        """Score uint8 HxW / HxWxC images of any size (image runs)."""
        if self.kind != "image":
            raise ConfigError("this run is a video model; score frames with predict_frames")
        cfg = self.config
        maps = map_images(self.model, list(images), cfg, self.device, cfg.eval_batch_size)
        scores = np.asarray([reduce_score(m, cfg.score_reduce, cfg.score_topk) for m in maps],
                            dtype=np.float64)
        stacked = np.stack(maps).astype(np.float32) if maps else np.zeros((0, 0, 0), np.float32)
        return ImagePrediction(scores, stacked, self._decide(scores))

    def _prepare_frame(self, frame: np.ndarray) -> np.ndarray:
        f = np.asarray(frame)
        if f.dtype != np.uint8:
            raise DataError(f"frames must be uint8, got dtype {f.dtype}")
        if f.ndim == 3 and f.shape[2] == 1:
            f = f[..., 0]
        if f.ndim == 3 and f.shape[2] == 3:
            f = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)
        if f.ndim != 2:
            raise DataError(f"a frame must be (H, W) or (H, W, 3), got {np.shape(frame)}")
        s = self.config.image_size
        small = resize_gray(np.ascontiguousarray(f), (s, s))
        return (np.asarray(small, dtype=np.float32) - 127.5) / 127.5

    def _clip_scores(self, clips: list[np.ndarray]) -> list[float]:
        x = torch.from_numpy(np.stack(clips)).unsqueeze(1).to(self.device)
        with eval_mode(self.model):
            err = self.model(x).anomaly_map.float().flatten(1).mean(1).cpu().numpy()
        return [float(e) for e in err]

    def predict_frames(self, frames: Iterable[np.ndarray],
                       batch_size: int = 8) -> Iterator[tuple[int, float]]:
        """Stream the frames of one video; yield ``(frame index, score)`` in frame order.

        Clips of ``clip_length`` consecutive frames with stride 1 are scored as in ``mmae test``
        (mean of the clip's anomaly map) and assigned to frames under the run's ``frame_rule``
        (``mean``: mean of the clips covering a frame; ``center``: the clip's frame
        ``start + clip_length // 2``). Frames the rule cannot score get NaN. Memory holds one
        clip window and one batch of clips, whatever the video's length.
        """
        if self.kind != "video":
            raise ConfigError("this run is an image model; score images with predict_images")
        length = self.config.clip_length
        center = self.config.frame_rule == "center"
        window: deque[np.ndarray] = deque(maxlen=length)
        pending: list[tuple[int, np.ndarray]] = []
        scores: dict[int, float] = {}  # clip start -> clip score (recent clips only)
        emitted = 0
        n = 0

        def frame_score(t: int, last_start: int) -> float:
            if center:
                s = t - length // 2
                return scores[s] if 0 <= s <= last_start else float("nan")
            total, count = 0.0, 0
            for s in range(t, t - length, -1):  # the summation order of clip_scores_to_frames
                if 0 <= s <= last_start:
                    total += scores[s]
                    count += 1
            return total / count if count else float("nan")

        def flush() -> Iterator[tuple[int, float]]:
            nonlocal emitted
            starts = [s for s, _ in pending]
            scores.update(zip(starts, self._clip_scores([c for _, c in pending])))
            pending.clear()
            last = starts[-1]
            while emitted <= last:
                # frame t is final once the clip starting at t is scored
                yield emitted, frame_score(emitted, last_start=10**18)
                emitted += 1
            for s in [s for s in scores if s < emitted - length]:
                del scores[s]

        for frame in frames:
            window.append(self._prepare_frame(frame))
            n += 1
            if len(window) == length:
                pending.append((n - length, np.stack(window)))
                if len(pending) == batch_size:
                    yield from flush()
        if pending:
            yield from flush()
        last_start = n - length
        while emitted < n:
            yield emitted, frame_score(emitted, last_start)
            emitted += 1

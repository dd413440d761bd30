"""Thresholds stored in a run: from normal training data after training (a percentile of normal
scores) and from labelled test/validation data by ``mmae test`` (F1-max)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmae import metrics as M
from mmae.engine.checkpoint import save_thresholds
from mmae.engine.config import RunConfig
from mmae.engine.scoring import score_images


def calibrate_normal(run: Path, cfg: RunConfig, model: torch.nn.Module, data: Any,
                     device: torch.device) -> dict[str, Any]:
    """Score the normal training data and store percentile thresholds (image and pixel)."""
    pct = cfg.threshold_percentile
    if cfg.kind == "video":
        from mmae.engine.video_scoring import clip_errors

        errs = np.concatenate([e for _, e in clip_errors(model, data, cfg, device)])
        th = {"clip_normal": {"value": float(M.threshold_from_normal(errs, pct)),
                              "method": "normal_percentile", "percentile": pct}}
    else:
        scored = score_images(model, data, cfg, device)
        # Pixel threshold from a bounded sample of normal pixels (deterministic stride).
        flat = scored.maps.reshape(-1)
        step = max(1, flat.size // 2_000_000)
        th = {
            "image_normal": {"value": float(M.threshold_from_normal(scored.scores, pct)),
                             "method": "normal_percentile", "percentile": pct},
            "pixel_normal": {"value": float(M.threshold_from_normal(flat[::step], pct)),
                             "method": "normal_percentile", "percentile": pct},
        }
    save_thresholds(run, th)
    return th


def image_threshold(thresholds: dict[str, Any]) -> tuple[float | None, str]:
    """The image threshold ``predict`` uses: the one `mmae test` chose on labelled data (F1-max,
    or its documented percentile fallback) if present, else the percentile of normal training
    scores; with the name of its source."""
    for key in ("image_validation", "image_normal"):
        if key in thresholds:
            return float(thresholds[key]["value"]), key
    return None, "none"

"""Per-frame scores of test videos from clip reconstruction errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mmae import metrics as M
from mmae.engine.config import RunConfig
from mmae.engine.datasets import clips
from mmae.engine.scoring import iter_outputs


def clip_errors(model: torch.nn.Module, vds: Any, cfg: RunConfig,
                device: torch.device) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per video: clip start frames and clip scores (mean squared error over the clip)."""
    cds = clips(vds, cfg, train=False)
    per: list[tuple[list[int], list[float]]] = [([], []) for _ in vds.videos]
    for batch, out in iter_outputs(model, cds, cfg.eval_batch_size, device):
        err = out.anomaly_map.float().flatten(1).mean(1).cpu().numpy()
        for v, s, e in zip(batch["video"].tolist(), batch["start"].tolist(), err):
            per[v][0].append(s)
            per[v][1].append(float(e))
    return [(np.asarray(s, dtype=np.int64), np.asarray(e)) for s, e in per]


def score_videos(model: torch.nn.Module, vds: Any, cfg: RunConfig,
                 device: torch.device) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per video: per-frame error (NaN where not scored) and the boolean mask of scored frames,
    under the run's alignment rule (``mean``: every frame, ``center``: MemAE's 9th-frame rule)."""
    frames, kept = [], []
    for (starts, errs), video in zip(clip_errors(model, vds, cfg, device), vds.videos):
        s, k = M.clip_scores_to_frames(errs, video.num_frames, clip_length=cfg.clip_length,
                                       starts=starts, rule=cfg.frame_rule)
        frames.append(s)
        kept.append(k)
    return frames, kept

"""``mmae predict``: score new inputs with a trained run.

Image runs: ``scores.csv`` and heatmap overlays. Video runs: ``frames.csv``, score plots and
optional overlay videos (``mmae.engine.video_predict``).
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmae.data.image_io import is_image_file, list_image_files, read_image
from mmae.engine import plots
from mmae.engine.checkpoint import load_thresholds
from mmae.engine.inference import Inferencer
from mmae.errors import DataError


def collect_inputs(inputs: list[Path]) -> list[Path]:
    """Image files named directly or found (recursively) in the given folders, in order."""
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            files.extend(list_image_files(p, recursive=True))
        elif p.is_file():
            if not is_image_file(p):
                warnings.warn(f"{p}: not an image file name, skipped", stacklevel=2)
                continue
            files.append(p)
        else:
            raise DataError(f"input {p} does not exist")
    if not files:
        raise DataError(f"no image files found in {', '.join(map(str, inputs))}")
    return files


@dataclass(frozen=True)
class PredictResult:
    """What ``mmae predict`` wrote: the CSV, how many items (images or frames) it scored and
    how many of them are anomalous."""

    csv: Path
    count: int
    anomalous: int
    unit: str


def run_predict(run: Path, inputs: list[Path], out: Path, threshold: float | None = None,
                progress: bool = True, batch_size: int = 16,
                overlay: bool = False) -> PredictResult:
    """Score images (image run) or the frames of videos (video run) into ``out``.

    ``overlay`` writes heatmap overlay videos for a video run (image runs always write heatmap
    PNGs).
    """
    inferencer = Inferencer.load(run, threshold=threshold)
    predictor = _PREDICTORS[inferencer.kind]
    return predictor(inferencer, Path(run), inputs, out, progress, batch_size, overlay)


def _predict_videos(inferencer: Inferencer, run: Path, inputs: list[Path], out: Path,
                    progress: bool, batch_size: int, overlay: bool) -> PredictResult:
    from mmae.engine.video_predict import FRAMES_CSV, predict_video_inputs

    count, flagged = predict_video_inputs(inferencer, inputs, out, overlay=overlay,
                                          progress=progress, batch_size=batch_size)
    return PredictResult(out / FRAMES_CSV, count, flagged, "frames")


def _predict_images(inferencer: Inferencer, run: Path, inputs: list[Path], out: Path,
                    progress: bool, batch_size: int, overlay: bool) -> PredictResult:
    """Score images; writes ``out/scores.csv`` and ``out/heatmaps/<n>_<stem>.png``.

    Corrupt or unreadable images are skipped with a warning naming them.
    """
    cfg = inferencer.config
    files = collect_inputs(inputs)
    threshold, source = inferencer.threshold, inferencer.threshold_source
    pix = load_thresholds(run).get("pixel_normal", {}).get("value")
    heat_dir = out / "heatmaps"
    heat_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    pending: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        pred = inferencer.predict_images([img for _, img in pending])
        for (path, img), m, score in zip(pending, pred.maps, pred.scores):
            n = len(rows)
            vmax = pix * 2 if pix else float(m.max()) or 1.0
            pic = plots.overlay(img.astype(np.float32) / 255, m, 0.0, vmax)
            name = f"{n:05d}_{path.stem}.png"
            plots.save_png(heat_dir / name, pic)
            flag = "" if threshold is None else int(score >= threshold)
            rows.append({"path": str(path), "score": float(score), "threshold": threshold,
                         "threshold_source": source, "anomalous": flag,
                         "heatmap": f"heatmaps/{name}"})
        pending.clear()

    for path in tqdm(files, desc="predict", disable=not progress, unit="img"):
        try:
            img = read_image(path, cfg.channels)
        except DataError as exc:
            warnings.warn(f"{exc}; skipped", stacklevel=3)
            continue
        pending.append((path, img))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    if not rows:
        raise DataError("none of the inputs could be read as an image")
    with open(out / "scores.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow(r)
    flagged = sum(1 for r in rows if r["anomalous"] == 1)
    return PredictResult(out / "scores.csv", len(rows), flagged, "images")


_PREDICTORS = {"image": _predict_images, "video": _predict_videos}

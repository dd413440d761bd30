"""``mmae predict``: score new inputs with a trained run.

Image runs: ``scores.csv`` and heatmap overlays. Video runs: ``frames.csv``, score plots and
optional overlay videos (:mod:`mmae.inference.video_predict`). Scores, maps and the threshold come
from :class:`~mmae.inference.Inferencer`: the same numbers as the Detector, ``mmae serve``
and the exported ONNX model.
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
from mmae.errors import DataError
from mmae.inference.inferencer import Inferencer
from mmae.report import plots


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
    """What ``mmae predict`` wrote.

    Attributes:
        csv: The CSV written (``scores.csv`` or ``frames.csv``).
        count: Items scored (images, or frames of all videos).
        anomalous: Items at or above the threshold.
        unit: ``"images"`` or ``"frames"``.
        threshold: The threshold used (None when the run has none).
        threshold_source: Where it comes from (``normal``, ``f1``, ``--threshold``, ``none``).
    """

    csv: Path
    count: int
    anomalous: int
    unit: str
    threshold: float | None
    threshold_source: str


def run_predict(run: Path, inputs: list[Path], out: Path, threshold: float | None = None,
                progress: bool = True, batch_size: int = 16, threshold_rule: str | None = None,
                overlay: bool = False) -> PredictResult:
    """Score images (image run) or the frames of videos (video run) into ``out``.

    The threshold is ``threshold`` if given, else the run's ``threshold_rule`` (``normal`` by
    default, see :mod:`mmae.scoring.thresholds`). ``overlay`` also writes heatmap overlay videos
    for a video run (image runs always write heatmap PNGs).
    """
    inf = Inferencer.load(run, threshold=threshold, threshold_rule=threshold_rule)
    return _PREDICTORS[inf.kind](inf, inputs, out, progress, batch_size, overlay)


def _predict_videos(inf: Inferencer, inputs: list[Path], out: Path, progress: bool,
                    batch_size: int, overlay: bool) -> PredictResult:
    from mmae.inference.video_predict import FRAMES_CSV, predict_video_inputs

    count, flagged = predict_video_inputs(inf, inputs, out, overlay=overlay, progress=progress,
                                          batch_size=batch_size)
    return PredictResult(out / FRAMES_CSV, count, flagged, "frames", inf.threshold,
                         inf.threshold_source)


def _predict_images(inf: Inferencer, inputs: list[Path], out: Path, progress: bool,
                    batch_size: int, overlay: bool) -> PredictResult:
    """Score images; writes ``out/scores.csv`` and ``out/heatmaps/<n>_<stem>.png``.

    Corrupt or unreadable images are skipped with a warning naming them.
    """
    files = collect_inputs(inputs)
    pix = inf.run.thresholds().get("pixel_normal", {}).get("value")
    heat_dir = out / "heatmaps"
    heat_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    pending: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        pred = inf.predict_images([img for _, img in pending], batch_size)
        for k, (path, img) in enumerate(pending):
            m, score = pred.maps[k], float(pred.scores[k])
            vmax = pix * 2 if pix else float(m.max()) or 1.0
            name = f"{len(rows):05d}_{path.stem}.png"
            plots.save_png(heat_dir / name, plots.overlay(img.astype(np.float32) / 255, m, 0.0,
                                                          vmax))
            flag = "" if pred.anomalous is None else int(pred.anomalous[k])
            rows.append({"path": str(path), "score": score, "threshold": inf.threshold,
                         "threshold_source": inf.threshold_source, "anomalous": flag,
                         "heatmap": f"heatmaps/{name}"})
        pending.clear()

    for path in tqdm(files, desc="predict", disable=not progress, unit="img"):
        try:
            img = read_image(path, inf.config.channels)
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
    return PredictResult(out / "scores.csv", len(rows), flagged, "images", inf.threshold,
                         inf.threshold_source)


_PREDICTORS = {"image": _predict_images, "video": _predict_videos}

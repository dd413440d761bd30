"""``mmae predict``: score new inputs with a trained run.

Image runs: ``scores.csv`` and heatmap overlays. Video runs: ``frames.csv``, score plots and
optional overlay videos (:mod:`mmae.inference.video_predict`). Scores, maps and the threshold come
from :class:`~mmae.inference.Inferencer`: the same numbers as the Detector, ``mmae serve``
and the exported ONNX model.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmae.data.image_decode import DEFAULT_MAX_PIXELS
from mmae.data.image_io import is_image_file, list_image_files
from mmae.data.layouts import predict_folders
from mmae.errors import DataError, LimitError
from mmae.inference.inferencer import Inferencer
from mmae.report import plots

#: Heatmap overlays are drawn at the image's size, shrunk to at most this on the long side.
HEATMAP_MAX_SIDE = 2048


def collect_inputs(inputs: list[Path]) -> list[Path]:
    """Image files named directly or found (recursively) in the given folders, in order.

    A category folder of a layout with unlabelled test folders (MVTec AD 2: ``test_private``,
    ``test_private_mixed``) gives the images of those folders, never its training or labelled
    images.
    """
    files: list[Path] = []
    for p in inputs:
        unlabelled = predict_folders(p) if p.is_dir() else None
        if unlabelled is not None:
            if not unlabelled:
                raise DataError(f"{p}: an MVTec AD 2 category without test_private or "
                                f"test_private_mixed folder to score")
            for folder in unlabelled:
                files.extend(list_image_files(folder, recursive=True))
        elif p.is_dir():
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
        refused: One line per input not scored because it is over a size limit.
    """

    csv: Path
    count: int
    anomalous: int
    unit: str
    threshold: float | None
    threshold_source: str
    refused: tuple[str, ...] = ()


def run_predict(run: Path, inputs: list[Path], out: Path, threshold: float | None = None,
                progress: bool = True, batch_size: int = 16, threshold_rule: str | None = None,
                overlay: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                on_refused: Callable[[str], None] | None = None) -> PredictResult:
    """Score images (image run) or the frames of videos (video run) into ``out``.

    The threshold is ``threshold`` if given, else the run's ``threshold_rule`` (``normal`` by
    default, see :mod:`mmae.scoring.thresholds`). ``overlay`` also writes heatmap overlay videos
    for a video run (image runs always write heatmap PNGs). An image (or a video's frame) over
    ``max_pixels`` is not decoded: ``on_refused`` gets one line naming it, the other inputs are
    still scored, and the result lists it in ``refused`` (LimitError if none is left).
    """
    inf = Inferencer.load(run, threshold=threshold, threshold_rule=threshold_rule)
    refused: list[str] = []

    def refuse(message: str) -> None:
        refused.append(message)
        if on_refused is not None:
            on_refused(message)

    res = _PREDICTORS[inf.kind](inf, inputs, out, progress, batch_size, overlay, max_pixels,
                                refuse)
    return PredictResult(res.csv, res.count, res.anomalous, res.unit, res.threshold,
                         res.threshold_source, tuple(refused))


def _predict_videos(inf: Inferencer, inputs: list[Path], out: Path, progress: bool,
                    batch_size: int, overlay: bool, max_pixels: int | None,
                    refuse: Callable[[str], None]) -> PredictResult:
    from mmae.inference.video_predict import FRAMES_CSV, predict_video_inputs

    count, flagged = predict_video_inputs(inf, inputs, out, overlay=overlay, progress=progress,
                                          batch_size=batch_size, max_pixels=max_pixels,
                                          on_refused=refuse)
    return PredictResult(out / FRAMES_CSV, count, flagged, "frames", inf.threshold,
                         inf.threshold_source)


def _predict_images(inf: Inferencer, inputs: list[Path], out: Path, progress: bool,
                    batch_size: int, overlay: bool, max_pixels: int | None,
                    refuse: Callable[[str], None]) -> PredictResult:
    """Score images; writes ``out/scores.csv`` and ``out/heatmaps/<n>_<stem>.png``.

    Corrupt or unreadable images are skipped with a warning naming them; images over
    ``max_pixels`` are skipped and passed to ``refuse``. Each image is decoded straight to the
    model's size (:func:`~mmae.data.image_decode.decode_for_model`) plus a view of at most
    :data:`HEATMAP_MAX_SIDE` for its heatmap.
    """
    files = collect_inputs(inputs)
    pix = inf.run.thresholds().get("pixel_normal", {}).get("value")
    heat_dir = out / "heatmaps"
    heat_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    pending: list[tuple[Path, np.ndarray, np.ndarray]] = []
    refused = 0

    def flush() -> None:
        pred = inf.predict_images([img for _, img, _ in pending], batch_size)
        for k, (path, _, img) in enumerate(pending):
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
            dec = inf.decode(path, max_pixels, view_side=HEATMAP_MAX_SIDE)
        except LimitError as exc:
            refused += 1
            refuse(str(exc))
            continue
        except DataError as exc:
            warnings.warn(f"{exc}; skipped", stacklevel=3)
            continue
        assert dec.view is not None
        pending.append((path, dec.image, dec.view))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    if not rows:
        if refused:
            raise LimitError(f"no image was scored: {refused} over the size limit (--max-pixels)")
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

"""``mmae predict``: score new images with a trained run -> scores.csv and heatmap overlays.

Scores, maps and the threshold come from :class:`~mmae.engine.inference.Inferencer`: the same
numbers as the Detector and the exported ONNX model.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmae.data.image_io import is_image_file, list_image_files, read_image
from mmae.engine import plots
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


def run_predict(run: Path, inputs: list[Path], out: Path, threshold: float | None = None,
                progress: bool = True, batch_size: int = 16,
                threshold_rule: str | None = None) -> list[dict[str, Any]]:
    """Score images; writes ``out/scores.csv`` and ``out/heatmaps/<n>_<stem>.png``.

    The threshold is ``threshold`` if given, else the run's ``threshold_rule`` (``normal`` by
    default, see :mod:`mmae.engine.thresholds`). Corrupt or unreadable images are skipped with a
    warning naming them.
    """
    inf = Inferencer.load(run, threshold=threshold, threshold_rule=threshold_rule)
    inf.require_kind("image", "`mmae predict`")
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
            warnings.warn(f"{exc}; skipped", stacklevel=2)
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
    return rows

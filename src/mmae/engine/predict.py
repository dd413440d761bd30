"""``mmae predict``: score new images with a trained run -> scores.csv and heatmap overlays."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmae.data.image_io import is_image_file, list_image_files, read_image
from mmae.engine import plots
from mmae.engine.checkpoint import load_thresholds
from mmae.engine.runs import load_run
from mmae.engine.scoring import map_images, reduce_score
from mmae.engine.thresholds import image_threshold
from mmae.errors import ConfigError, DataError


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
                progress: bool = True, batch_size: int = 16) -> list[dict[str, Any]]:
    """Score images; writes ``out/scores.csv`` and ``out/heatmaps/<n>_<stem>.png``.

    Corrupt or unreadable images are skipped with a warning naming them.
    """
    cfg, model, device = load_run(run)
    if cfg.kind != "image":
        raise ConfigError(f"run {run} is a {cfg.kind} model; `mmae predict` scores images")
    files = collect_inputs(inputs)
    stored = load_thresholds(run)
    if threshold is None:
        threshold, source = image_threshold(stored)
    else:
        source = "--threshold"
    pix = stored.get("pixel_normal", {}).get("value")
    heat_dir = out / "heatmaps"
    heat_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    pending: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        maps = map_images(model, [img for _, img in pending], cfg, device, batch_size)
        for (path, img), m in zip(pending, maps):
            score = reduce_score(m, cfg.score_reduce, cfg.score_topk)
            n = len(rows)
            vmax = pix * 2 if pix else float(m.max()) or 1.0
            pic = plots.overlay(img.astype(np.float32) / 255, m, 0.0, vmax)
            name = f"{n:05d}_{path.stem}.png"
            plots.save_png(heat_dir / name, pic)
            flag = "" if threshold is None else int(score >= threshold)
            rows.append({"path": str(path), "score": score, "threshold": threshold,
                         "threshold_source": source, "anomalous": flag,
                         "heatmap": f"heatmaps/{name}"})
        pending.clear()

    for path in tqdm(files, desc="predict", disable=not progress, unit="img"):
        try:
            img = read_image(path, cfg.channels)
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

"""The picture ``mmae test`` writes for an image run: input, reconstruction, truth, heatmap."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmae.report import plots
from mmae.report.data import Reconstruct


def save_test_grid(reconstruct: Reconstruct, maps: np.ndarray, masks: list[np.ndarray] | None,
                   labels: np.ndarray, defects: list[str], out: Path, rows: int = 6) -> None:
    """``out/grid.png``: a few images, round-robin over defect types, then one good image.

    Args:
        reconstruct: The task's reconstruction of test images by index.
        maps, masks, labels, defects: Per test image (masks None without ground truth).
    """
    by_type: dict[str, list[int]] = {}
    for i in range(len(labels)):
        if labels[i] == 1:
            by_type.setdefault(defects[i], []).append(i)
    order: list[int] = []
    while len(order) < rows - 1 and any(by_type.values()):
        for queue in by_type.values():
            if queue and len(order) < rows - 1:
                order.append(queue.pop(0))
    order += [i for i in range(len(labels)) if labels[i] == 0][:1]
    if not order:
        return
    vmax = float(np.percentile(maps, 99.9)) or 1.0
    grid = []
    images, rec = reconstruct(order)
    for k, i in enumerate(order):
        img = images[k]
        gt = img if masks is None else plots.mask_outline(img, masks[i])
        grid.append([img, rec[k], gt, plots.overlay(img, maps[i], 0.0, vmax)])
    plots.save_grid(out / "grid.png", grid, ["input", "reconstruction", "ground truth", "heatmap"],
                    row_labels=[defects[i] for i in order])

"""The picture ``mmae test`` writes for an image run: input, reconstruction, truth, heatmap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmae.engine import plots
from mmae.engine.device import eval_mode


def save_test_grid(model: torch.nn.Module, ds: Any, device: torch.device, maps: np.ndarray,
                   masks: list[np.ndarray] | None, labels: np.ndarray, defects: list[str],
                   out: Path, rows: int = 6) -> None:
    """``out/grid.png``: a few images, round-robin over defect types, then one good image."""
    by_type: dict[str, list[int]] = {}
    for i in range(len(ds)):
        if labels[i] == 1:
            by_type.setdefault(defects[i], []).append(i)
    order: list[int] = []
    while len(order) < rows - 1 and any(by_type.values()):
        for queue in by_type.values():
            if queue and len(order) < rows - 1:
                order.append(queue.pop(0))
    order += [i for i in range(len(ds)) if labels[i] == 0][:1]
    if not order:
        return
    vmax = float(np.percentile(maps, 99.9)) or 1.0
    grid = []
    with eval_mode(model):
        x = torch.stack([ds[i]["image"] for i in order]).to(device)
        rec = model(x).recon.float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1)
    for k, i in enumerate(order):
        img = x[k].cpu().numpy().transpose(1, 2, 0)
        gt = img if masks is None else plots.mask_outline(img, masks[i])
        grid.append([img, rec[k], gt, plots.overlay(img, maps[i], 0.0, vmax)])
    plots.save_grid(out / "grid.png", grid, ["input", "reconstruction", "ground truth", "heatmap"],
                    row_labels=[defects[i] for i in order])

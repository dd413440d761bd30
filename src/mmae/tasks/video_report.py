"""The per-video curves ``mmae test`` writes for a video run (CSV and PNG)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mmae import metrics as M
from mmae.report import plots


def write_curves(out: Path, model: str, names: list[str], scores: list[np.ndarray],
                 labels: list[np.ndarray], kept: list[np.ndarray]) -> list[np.ndarray]:
    """``out/curves/<video>.csv|png`` (error, anomaly score, label per frame), ``curves.png``.

    Returns:
        Per video, the per-frame anomaly score (1 - regularity; NaN where not scored).
    """
    curves = out / "curves"
    curves.mkdir(exist_ok=True)
    panels = []
    for name, s, lab, k in zip(names, scores, labels, kept):
        reg = M.regularity(s[k]) if k.any() else np.zeros(0)
        with open(curves / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["frame", "error", "anomaly_score", "label", "scored"])
            j = 0
            for t in range(len(s)):
                a = ""
                if k[t]:
                    a = f"{1 - reg[j]:.6g}"
                    j += 1
                e = "" if not np.isfinite(s[t]) else repr(float(s[t]))
                w.writerow([t, e, a, int(lab[t]), int(k[t])])
        full = np.full(len(s), np.nan)
        full[k] = 1 - reg
        plots.save_video_curve(curves / f"{name}.png", full, lab, f"{model}: {name}")
        panels.append((full, lab, f"{model}: {name}"))
    plots.save_video_curves(out / "curves.png", panels[:8])
    return [full for full, _, _ in panels]

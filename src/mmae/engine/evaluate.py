"""``mmae test``: score a test split, compute metrics, write ``metrics.json``, CSVs and pictures."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from mmae import metrics as M
from mmae.engine import plots
from mmae.engine.checkpoint import atomic_write_text, save_thresholds
from mmae.engine.config import RunConfig, override_eval_settings
from mmae.engine.datasets import build_dataset
from mmae.engine.runs import load_run
from mmae.engine.scoring import score_images
from mmae.errors import DataError


def image_metrics(labels: np.ndarray, scores: np.ndarray, masks: list[np.ndarray] | None,
                  maps: list[np.ndarray] | None, fpr_limit: float) -> dict[str, Any]:
    """``mmae.metrics.image_metrics`` without its definitions (recorded once per file): a metric
    the data cannot give is None with the reason in ``notes``."""
    m = M.image_metrics(labels, scores, masks, maps, fpr_limit=fpr_limit)
    m.pop("definitions")
    return m


def test_images(cfg: RunConfig, model, device, data: Path, out: Path, run: Path,
                progress: bool = True, grid_rows: int = 6) -> dict[str, Any]:
    """Evaluate an image run on the test split of ``data``; returns the metrics dict."""
    ds = build_dataset(cfg, "test", data, progress=progress)
    n = len(ds)
    if n == 0:
        raise DataError(f"no test images found in {data}")
    scored = score_images(model, ds, cfg, device)
    if not np.isfinite(scored.maps).all():
        raise DataError(f"run {run}: the model gives non-finite anomaly maps (diverged weights?)")
    labels = np.array([r.label for r in ds.records], dtype=np.int64)
    defects = [r.defect for r in ds.records]
    masks: list[np.ndarray] | None = [ds.load_mask(i) for i in range(n)]
    if any(m is None for m in masks):  # anomalous images without masks: no pixel metrics
        masks = None
    eval_maps = None if masks is None else [
        M.resize_map_to_mask(scored.maps[i], masks[i].shape) for i in range(n)]

    result: dict[str, Any] = {"model": cfg.model, "run": str(run), "data": str(data),
                              "num_images": n, "num_anomalous": int(labels.sum())}
    result.update(image_metrics(labels, scored.scores, masks, eval_maps, cfg.fpr_limit))
    if masks is None:
        result["notes"].append("some anomalous images have no mask file")
    thr = None
    if labels.sum() < n:  # F1-max with labels; a set without anomalies falls back to a percentile
        t = M.threshold_from_validation(labels, scored.scores, cfg.threshold_percentile)
        thr = float(t)
        result["image_threshold"] = t.as_dict()
        save_thresholds(run, {"image_validation": {**result["image_threshold"],
                                                   "data": str(data)}})
    per: dict[str, Any] = {}
    good = [i for i in range(n) if labels[i] == 0]
    for d in sorted(set(defects) - {"good"}):
        idx = good + [i for i in range(n) if defects[i] == d]
        per[d] = {"num_images": len(idx) - len(good)}
        per[d].update(image_metrics(
            labels[idx], scored.scores[idx], None if masks is None else [masks[i] for i in idx],
            None if eval_maps is None else [eval_maps[i] for i in idx], cfg.fpr_limit))
    result["per_defect"] = per
    result["definitions"] = {**M.definitions(fpr_limit=cfg.fpr_limit,
                                             threshold_percentile=cfg.threshold_percentile),
                             "image_score": cfg.score_reduce,
                             "smoothing_sigma": cfg.smoothing_sigma,
                             "evaluation_resolution": "each ground-truth mask's own resolution "
                                                      "(maps resized bilinearly to the mask)"}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
    with open(out / "scores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "defect", "label", "score", "predicted"])
        for i, r in enumerate(ds.records):
            pred = "" if thr is None else int(scored.scores[i] >= thr)
            w.writerow([str(r.path), r.defect, int(r.label), f"{scored.scores[i]:.6g}", pred])
    _save_test_grid(model, ds, cfg, device, scored, masks, labels, defects, out, grid_rows)
    return result


def _save_test_grid(model, ds, cfg, device, scored, masks, labels, defects, out: Path,
                    rows: int) -> None:
    """Grid of input / reconstruction / ground truth / heatmap overlay for a few images."""
    import torch

    from mmae.engine.device import eval_mode

    # round-robin over defect types, then one good image
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
    vmax = float(np.percentile(scored.maps, 99.9)) or 1.0
    grid = []
    with eval_mode(model):
        x = torch.stack([ds[i]["image"] for i in order]).to(device)
        rec = model(x).recon.float().clamp(0, 1).cpu().numpy().transpose(0, 2, 3, 1)
    for k, i in enumerate(order):
        img = x[k].cpu().numpy().transpose(1, 2, 0)
        gt = img if masks is None else plots.mask_outline(img, masks[i])
        grid.append([img, rec[k], gt,
                     plots.overlay(img, scored.maps[i], 0.0, vmax)])
    plots.save_grid(out / "grid.png", grid, ["input", "reconstruction", "ground truth", "heatmap"],
                    row_labels=[defects[i] for i in order])


def test_video(cfg: RunConfig, model, device, data: Path, out: Path, run: Path,
               progress: bool = True) -> dict[str, Any]:
    """Evaluate a video run: every test frame scored, micro and macro frame AUC."""
    from mmae.engine.video_scoring import score_videos

    # Decoded test frames go to the run's cache as memory-mapped .npy: bounded memory on large
    # test sets (ShanghaiTech), and a second `mmae test` does not decode again.
    vds = build_dataset(cfg, "test", data, cache_dir=run / "cache", progress=progress)
    frame_scores, kept = score_videos(model, vds, cfg, device)
    if any(np.isinf(s).any() for s in frame_scores):
        raise DataError(f"run {run}: the model gives non-finite clip errors (diverged weights?)")
    labels = [np.asarray(v.labels, dtype=np.int64) for v in vds.videos]
    names = [v.name for v in vds.videos]
    sc = [s[k] for s, k in zip(frame_scores, kept)]
    lb = [lab[k] for lab, k in zip(labels, kept)]
    result: dict[str, Any] = {"model": cfg.model, "run": str(run), "data": str(data),
                              "layout": vds.layout, "label_source": vds.label_source,
                              "num_videos": len(names),
                              "num_frames_scored": int(sum(len(s) for s in sc))}
    vm = M.video_metrics(sc, lb, alignment=cfg.frame_rule, clip_length=cfg.clip_length,
                         stride=cfg.test_clip_stride)
    result["frame_auc_micro"] = vm["frame_auc"]
    result["frame_auc_macro"] = vm["frame_auc_macro"]
    if vm["per_video_auc"] is not None:
        result["macro_skipped_videos"] = [names[i] for i in vm["skipped_videos"]]
        result["per_video_auc"] = dict(zip(names, vm["per_video_auc"]))
    result["notes"] = vm["notes"]
    result["alignment_rule"] = cfg.frame_rule
    result["definitions"] = {**vm["definitions"], "clip_score": "mean squared error over the clip"}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
    curves = out / "curves"
    curves.mkdir(exist_ok=True)
    panels = []
    for name, s, lab, k in zip(names, frame_scores, labels, kept):
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
        plots.save_video_curve(curves / f"{name}.png", full, lab, f"{cfg.model}: {name}")
        panels.append((full, lab, f"{cfg.model}: {name}"))
    plots.save_video_curves(out / "curves.png", panels[:8])
    return result


def run_test(run: Path, data: Path | None = None, out: Path | None = None,
             progress: bool = True, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``mmae test``: evaluate a trained run; writes into ``out`` (default ``run/test``).

    ``overrides`` may change evaluation settings only (``config.EVAL_SETTINGS``).
    """
    run = Path(run)
    cfg, model, device = load_run(run)
    cfg = override_eval_settings(cfg, overrides or {})
    data = Path(data) if data is not None else Path(cfg.data)
    out = Path(out) if out is not None else run / "test"
    if cfg.kind == "video":
        return test_video(cfg, model, device, data, out, run, progress)
    return test_images(cfg, model, device, data, out, run, progress)

"""The image task: image datasets, image scores, pixel maps, image/pixel metrics."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from mmae import metrics as M
from mmae.data.files import atomic_write_text
from mmae.device import eval_mode
from mmae.errors import DataError
from mmae.report.write import write_image_report
from mmae.runs.run import Run
from mmae.tasks.base import Task, fmt
from mmae.tasks.image_report import save_test_grid


def _metrics(labels: np.ndarray, scores: np.ndarray, masks: list[np.ndarray] | None,
             maps: list[np.ndarray] | None, fpr_limit: float
             ) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    """``mmae.metrics.image_metrics`` without its definitions (recorded once per file), and the
    PRO curve of its AU-PRO (None without one)."""
    m = M.image_metrics(labels, scores, masks, maps, fpr_limit=fpr_limit, return_curve=True)
    m.pop("definitions")
    return m, m.pop("pro_curve")


class ImageTask(Task):
    """Images ``(B, C, S, S)`` in [0, 1]; one score and one map per image."""

    kind = "image"
    input_name = "image"
    metric_keys = ("au_pro", "image_auroc", "pixel_auroc")
    picture = "grid.png"

    def channels(self, dataset: Any) -> int:
        return int(dataset.channels)

    def subset(self, dataset: Any, indices: list[int]) -> Dataset:
        return Subset(dataset, indices)

    def training_set(self, part: Any) -> Dataset:
        return part

    def score_all(self, model: torch.nn.Module, dataset: Dataset,
                  device: torch.device) -> tuple[np.ndarray, np.ndarray]:
        """Post-processed maps ``(N, S, S)`` float32 and scores ``(N,)`` float64 of a dataset."""
        maps, scores = [], []
        for _, m, s in self.scored(model, dataset, device):
            maps.append(m.cpu().numpy().astype(np.float32))
            scores.append(s.double().cpu().numpy())
        return np.concatenate(maps), np.concatenate(scores)

    def normal_scores(self, model: torch.nn.Module, data: Any,
                      device: torch.device) -> tuple[np.ndarray, dict[str, Any]]:
        maps, scores = self.score_all(model, data, device)
        flat = maps.reshape(-1)  # a bounded, deterministic sample of normal pixels
        pixels = flat[:: max(1, flat.size // 2_000_000)]
        pct = self.cfg.threshold_percentile
        pixel = {"value": float(M.threshold_from_normal(pixels, pct)),
                 "method": "normal_percentile", "percentile": pct}
        return scores, {"pixel_normal": pixel}

    def reconstruct(self, model: torch.nn.Module, ds: Any, device: torch.device,
                    indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and reconstructions ``(N, S, S, C)`` in [0, 1] of a few test images."""
        with eval_mode(model), torch.no_grad():
            x = torch.stack([ds[i]["image"] for i in indices]).to(device)
            rec = model(x).recon.float().clamp(0, 1).cpu().numpy()
        return x.float().cpu().numpy().transpose(0, 2, 3, 1), rec.transpose(0, 2, 3, 1)

    def format_metrics(self, metrics: dict[str, Any]) -> str:
        m = metrics
        head = f"{'defect':<16}{'n':>5}{'image AUROC':>13}{'pixel AUROC':>13}{'AU-PRO@0.3':>12}"
        lines = [f"model {m['model']}  test images {m['num_images']} "
                 f"({m['num_anomalous']} anomalous)", head, "-" * len(head)]

        def row(name: str, r: dict[str, Any]) -> str:
            return (f"{name:<16}{r['num_images']:>5}{fmt(r['image_auroc']):>13}"
                    f"{fmt(r['pixel_auroc']):>13}{fmt(r['au_pro']):>12}")

        lines += [row(d, r) for d, r in m.get("per_defect", {}).items()]
        return "\n".join([*lines, "-" * len(head), row("all", m)])

    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        s = self.cfg.image_size
        return torch.rand(batch, self.cfg.channels or 3, s, s, generator=g)

    def evaluate(self, run: Run, model: torch.nn.Module, device: torch.device, data: Path,
                 out: Path, progress: bool = True) -> dict[str, Any]:
        cfg = self.cfg
        ds = self.open("test", data, progress=progress)
        n = len(ds)
        if n == 0:
            raise DataError(f"no test images found in {data}")
        maps, scores = self.score_all(model, ds, device)
        if not np.isfinite(maps).all():
            raise DataError(f"run {run.path}: the model gives non-finite anomaly maps "
                            f"(diverged weights?)")
        labels = np.array([r.label for r in ds.records], dtype=np.int64)
        defects = [r.defect for r in ds.records]
        masks: list[np.ndarray] | None = [ds.load_mask(i) for i in range(n)]
        if any(m is None for m in masks):  # anomalous images without masks: no pixel metrics
            masks = None
        eval_maps = None if masks is None else [
            M.resize_map_to_mask(maps[i], masks[i].shape) for i in range(n)]
        result: dict[str, Any] = {"model": cfg.model, "run": str(run.path), "data": str(data),
                                  "layout": ds.layout, "num_images": n,
                                  "num_anomalous": int(labels.sum())}
        overall, pro = _metrics(labels, scores, masks, eval_maps, cfg.fpr_limit)
        result.update(overall)
        if masks is None:
            result["notes"].append("some anomalous images have no mask file")
        default, source = run.threshold()
        result["default_threshold"] = {"value": default, "rule": source}
        f1 = self.store_f1_threshold(run, labels, scores, data)
        if f1 is not None:
            result["image_threshold"] = f1
        per: dict[str, Any] = {}
        good = [i for i in range(n) if labels[i] == 0]
        for d in sorted(set(defects) - {"good"}):
            idx = good + [i for i in range(n) if defects[i] == d]
            per[d] = {"num_images": len(idx) - len(good)}
            per[d].update(_metrics(
                labels[idx], scores[idx], None if masks is None else [masks[i] for i in idx],
                None if eval_maps is None else [eval_maps[i] for i in idx], cfg.fpr_limit)[0])
        result["per_defect"] = per
        result["definitions"] = {
            **M.definitions(fpr_limit=cfg.fpr_limit,
                            threshold_percentile=cfg.threshold_percentile),
            "image_score": cfg.score_reduce, "smoothing_sigma": cfg.smoothing_sigma,
            "evaluation_resolution": "each ground-truth mask's own resolution "
                                     "(maps resized bilinearly to the mask)"}
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
        with open(out / "scores.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "defect", "label", "score", "predicted"])
            for i, r in enumerate(ds.records):
                pred = "" if default is None else int(scores[i] >= default)
                w.writerow([str(r.path), r.defect, int(r.label), f"{scores[i]:.6g}", pred])
        def reconstruct(idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
            return self.reconstruct(model, ds, device, idx)

        save_test_grid(reconstruct, maps, masks, labels, defects, out)
        write_image_report(out, run, cfg, result, ds.records, scores, maps, masks, eval_maps, pro,
                           reconstruct)
        return result

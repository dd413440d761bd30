"""The video task: clips of grayscale frames, clip errors, per-frame scores, frame AUC."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mmae import metrics as M
from mmae.data.files import atomic_write_text
from mmae.data.video import ClipDataset, VideoDataset
from mmae.data.video.files import resize_gray
from mmae.device import eval_mode
from mmae.errors import DataError
from mmae.report.write import write_video_report
from mmae.runs.run import Run
from mmae.tasks.base import Task, fmt
from mmae.tasks.video_report import write_curves


def to_gray_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """A uint8 frame ``(H, W)`` or RGB ``(H, W, 3)`` as the data layer stores it: gray, S x S."""
    import cv2

    f = np.asarray(frame)
    if f.dtype != np.uint8:
        raise DataError(f"video frames must be uint8, got dtype {f.dtype}")
    if f.ndim == 3 and f.shape[2] == 3:
        f = cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY)
    elif f.ndim == 3 and f.shape[2] == 1:
        f = f[..., 0]
    if f.ndim != 2:
        raise DataError(f"a video frame must be (H, W) or (H, W, 3), got {f.shape}")
    return resize_gray(np.ascontiguousarray(f), (size, size))


def clip_input(clips: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 clips ``(T, S, S)`` of :func:`to_gray_frame` frames as the model input
    ``(B, 1, T, S, S)`` in [-1, 1] on ``device``."""
    x = torch.from_numpy(np.stack(clips))
    return ((x.float() - 127.5) / 127.5).unsqueeze(1).to(device)


class VideoTask(Task):
    """Clips ``(B, 1, T, S, S)`` in [-1, 1]; one error per clip, spread to frames by the rule."""

    kind = "video"
    input_name = "clip"
    metric_keys = ("frame_auc_micro", "frame_auc_macro")
    holdout_minimum = 2  # whole videos are held out
    picture = "curves.png"

    def channels(self, dataset: Any) -> int:
        return 1

    def subset(self, dataset: Any, indices: list[int]) -> VideoDataset:
        return VideoDataset(dataset.root, dataset.split, dataset.layout, dataset.label_source,
                            [dataset.videos[i] for i in indices], dataset.frame_size,
                            dataset.cache_dir)

    def clips(self, vds: VideoDataset, train: bool) -> ClipDataset:
        """Clip view of a video split (training: ``clip_stride``; scoring: every frame covered)."""
        c = self.cfg
        return ClipDataset(vds, clip_length=c.clip_length,
                           stride=c.clip_stride if train else c.test_clip_stride,
                           cover_end=not train)

    def training_set(self, part: Any) -> Dataset:
        return self.clips(part, train=True)

    def frame_scores(self, model: torch.nn.Module, vds: VideoDataset,
                     device: torch.device) -> list[M.FrameScores]:
        """Per video: frame scores (NaN where the frame rule gives none) and the kept mask."""
        per: list[tuple[list[int], list[float]]] = [([], []) for _ in vds.videos]
        for batch, _, scores in self.scored(model, self.clips(vds, train=False), device):
            for v, s, e in zip(batch["video"].tolist(), batch["start"].tolist(), scores.tolist()):
                per[v][0].append(s)
                per[v][1].append(e)
        return [M.clip_scores_to_frames(np.asarray(e), video.num_frames,
                                        clip_length=self.cfg.clip_length,
                                        starts=np.asarray(s, dtype=np.int64),
                                        rule=self.cfg.frame_rule)
                for (s, e), video in zip(per, vds.videos)]

    def normal_scores(self, model: torch.nn.Module, data: Any,
                      device: torch.device) -> tuple[np.ndarray, dict[str, Any]]:
        return np.concatenate([f.scores for f in self.frame_scores(model, data, device)]), {}

    def format_metrics(self, metrics: dict[str, Any]) -> str:
        m = metrics
        return "\n".join([
            f"model {m['model']}  videos {m['num_videos']}  frames {m['num_frames_scored']}"
            f"  labels {m.get('label_source')}  rule {m.get('alignment_rule')}",
            f"frame AUC (micro) {fmt(m['frame_auc_micro'])}",
            f"frame AUC (macro) {fmt(m['frame_auc_macro'])}"])

    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        s = self.cfg.image_size
        return torch.rand(batch, 1, self.cfg.clip_length, s, s, generator=g) * 2 - 1

    def stream(self, model: torch.nn.Module, device: torch.device, frames: Iterable[np.ndarray],
               batch_size: int = 8) -> Iterator[tuple[int, float]]:
        """Frame scores of one video from a stream of frames, in order, in bounded memory.

        The same clips (``test_clip_stride``, plus the clip ending on the last frame) and the
        same frame rule as :meth:`frame_scores`; a frame the rule gives no score is NaN.
        """
        c = self.cfg
        length, stride = c.clip_length, c.test_clip_stride
        offsets = range(length) if c.frame_rule == "mean" else (length // 2,)
        post = self.post().to(device)
        ring: deque[np.ndarray] = deque(maxlen=length)
        total: dict[int, float] = {}
        count: dict[int, int] = {}
        pending: list[tuple[int, np.ndarray]] = []
        state = {"seen": 0, "next_start": 0, "emitted": 0, "last_start": -1}

        def run_clips() -> None:
            if not pending:
                return
            x = clip_input([clip for _, clip in pending], device)
            with eval_mode(model):
                _, _, errs = post.run(model, x)
            for (start, _), e in zip(pending, errs.double().cpu().tolist()):
                for off in offsets:
                    total[start + off] = total.get(start + off, 0.0) + e
                    count[start + off] = count.get(start + off, 0) + 1
            pending.clear()

        def ready(upto: int) -> Iterator[tuple[int, float]]:
            while state["emitted"] < upto:
                t = state["emitted"]
                n = count.pop(t, 0)
                s = total.pop(t, 0.0)
                yield t, (s / n if n else float("nan"))
                state["emitted"] += 1

        for frame in frames:
            ring.append(to_gray_frame(frame, c.image_size))
            state["seen"] += 1
            start = state["seen"] - length
            if start >= 0 and start == state["next_start"]:
                pending.append((start, np.stack(ring)))
                state["last_start"] = start
                state["next_start"] += stride
                if len(pending) >= batch_size:
                    run_clips()
                    yield from ready(min(state["next_start"], state["seen"] - length))
        seen = state["seen"]
        if seen >= length and state["last_start"] != seen - length:
            pending.append((seen - length, np.stack(ring)))  # the clip ending on the last frame
        run_clips()
        yield from ready(seen)

    def evaluate(self, run: Run, model: torch.nn.Module, device: torch.device, data: Path,
                 out: Path, progress: bool = True) -> dict[str, Any]:
        cfg = self.cfg
        # Decoded test frames go to the run's cache as memory-mapped .npy: bounded memory on
        # large test sets, and a second `mmae test` does not decode again.
        vds = self.open("test", data, cache_dir=run.path / "cache", progress=progress)
        scored = self.frame_scores(model, vds, device)
        if any(np.isinf(f.scores).any() for f in scored):
            raise DataError(f"run {run.path}: the model gives non-finite clip errors "
                            f"(diverged weights?)")
        labels = [np.asarray(v.labels, dtype=np.int64) for v in vds.videos]
        names = [v.name for v in vds.videos]
        sc = [f.scores[f.kept] for f in scored]
        lb = [lab[f.kept] for lab, f in zip(labels, scored)]
        result: dict[str, Any] = {"model": cfg.model, "run": str(run.path), "data": str(data),
                                  "layout": vds.layout, "label_source": vds.label_source,
                                  "num_videos": len(names),
                                  "num_frames_scored": int(sum(len(s) for s in sc))}
        vm = M.video_metrics(lb, sc, alignment=cfg.frame_rule, clip_length=cfg.clip_length,
                             stride=cfg.test_clip_stride)
        result["frame_auc_micro"] = vm["frame_auc"]
        result["frame_auc_macro"] = vm["frame_auc_macro"]
        if vm["per_video_auc"] is not None:
            result["macro_skipped_videos"] = [names[i] for i in vm["skipped_videos"]]
            result["per_video_auc"] = dict(zip(names, vm["per_video_auc"]))
        result["notes"] = vm["notes"]
        result["alignment_rule"] = cfg.frame_rule
        default, source = run.threshold()
        result["default_threshold"] = {"value": default, "rule": source}
        f1 = self.store_f1_threshold(run, np.concatenate([np.zeros(0), *lb]),
                                     np.concatenate([np.zeros(0), *sc]), data)
        if f1 is not None:
            result["frame_threshold"] = f1
        clip_score = {"squared": "mean squared error over the clip",
                      "l2norm": "mean over T*H*W of the per-pixel l2 norm of the residual"}
        result["definitions"] = {**vm["definitions"], "clip_score": clip_score[cfg.clip_error]}
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
        anomaly = write_curves(out, cfg.model, names, [f.scores for f in scored], labels,
                               [f.kept for f in scored])
        write_video_report(out, run, cfg, result, names, anomaly, labels)
        return result

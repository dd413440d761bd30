"""What every modality shares: the :class:`Task` interface and the scoring loop."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mmae import metrics as M
from mmae.config import RunConfig
from mmae.data import open_dataset
from mmae.device import eval_mode
from mmae.errors import ConfigError
from mmae.runs.run import Run
from mmae.scoring.fit import check_model, fit_postprocess
from mmae.scoring.postprocess import FIT_DEFAULTS, PostProcess
from mmae.scoring.thresholds import DEFAULT_RULE, normal_threshold

INPUT_KEYS = ("image", "clip")


def batch_input(batch: dict[str, Any]) -> torch.Tensor:
    """The model input of a collated batch (its ``image`` or ``clip`` entry)."""
    return next(batch[k] for k in INPUT_KEYS if k in batch)


def fmt(value: Any) -> str:
    """A metric for a text table: 3 decimals, ``n/a`` for None."""
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def holdout(n: int, fraction: float, seed: int, minimum: int = 4) -> np.ndarray:
    """Indices of a held-out validation split of ``n`` items (empty: calibrate on training).

    ``ceil(fraction * n)`` items, at least 1, always leaving one for training; no split when
    ``fraction`` is 0 or there are fewer than ``minimum`` items (tiny folders keep every one).
    """
    if fraction <= 0 or n < minimum:
        return np.zeros(0, dtype=np.int64)
    k = min(max(1, math.ceil(fraction * n)), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:k])


class Task(ABC):
    """One modality (image or video): data, training set, scoring, calibration, evaluation.

    Args:
        cfg: The run's resolved config.
    """

    kind: ClassVar[str]
    input_name: ClassVar[str]  # the input's name in batches and in the ONNX graph
    metric_keys: ClassVar[tuple[str, ...]]  # headline metrics of ``mmae test``
    holdout_minimum: ClassVar[int] = 4  # fewer training items than this: no validation split
    picture: ClassVar[str]  # the overview picture ``mmae test`` writes into its folder

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.post_record: dict[str, Any] | None = None  # the run's fitted post-processing

    def attach(self, run: Run) -> Task:
        """Read the run's fitted post-processing statistics (``postprocess.pt``); returns self."""
        self.post_record = run.postprocess_record()
        return self

    def post(self) -> PostProcess:
        """The run's post-processing module, with its fitted statistics.

        Raises:
            ConfigError: the settings need statistics the run was not fitted with (they are
                fitted when training ends and cannot change afterwards).
        """
        post = PostProcess.from_config(self.cfg)
        if post.needs_fit:
            rec = self.post_record
            want = post.fit_settings()
            # records written before a setting existed were fitted with its default
            if rec is None or {**FIT_DEFAULTS, **rec.get("settings", {})} != want:
                have = "none" if rec is None else ", ".join(
                    f"{k}={v}" for k, v in rec.get("settings", {}).items())
                raise ConfigError(
                    f"map_terms={want['map_terms']}, standardize={want['standardize']}: these "
                    f"settings need post-processing statistics fitted when training ends, and "
                    f"this run's are for: {have} (train a run with the settings you want)")
            post.load_fitted(rec["state"])
        return post

    def check_post(self, model: torch.nn.Module) -> None:
        """Raise ConfigError early when the post-processing settings do not fit the model."""
        check_model(PostProcess.from_config(self.cfg), model, self.cfg.model)

    def fit_post(self, run: Run, model: torch.nn.Module, train: Any,
                 device: torch.device) -> dict[str, Any] | None:
        """Fit the post-processing statistics on the training part (normal images) and save
        them with the run (``postprocess.pt``; ``thresholds.json`` says which split); nothing
        when the settings need none."""
        post = PostProcess.from_config(self.cfg)
        if not post.needs_fit:
            return None
        samples = self.training_set(train)
        rec = fit_postprocess(post, model,
                              lambda: self.fit_batches(samples, self.cfg.eval_batch_size),
                              device, self.cfg.seed, self.cfg.model)
        run.save_postprocess(rec)
        run.save_thresholds({"postprocess": {"fit_split": rec["fit_split"],
                                             "num_inputs": rec["num_inputs"],
                                             **rec["settings"]}})
        self.post_record = rec
        return rec

    def open(self, split: str, data: str | Path | None = None, cache_dir: Path | None = None,
             progress: bool = True) -> Any:
        """One split of the run's dataset (or of ``data``)."""
        c = self.cfg
        source = None if c.label_source == "auto" else c.label_source
        return open_dataset(data if data is not None else c.data, split, self.kind, c.image_size,
                            c.channels, c.video_layout, source, cache_dir, progress)

    @abstractmethod
    def channels(self, dataset: Any) -> int:
        """Input channels the dataset yields."""

    def split(self, dataset: Any) -> tuple[Any, Any | None]:
        """``(training part, validation part or None)`` of the training data: the dataset's own
        validation split when it has one (``validation_indices``: MVTec AD 2's
        ``validation/good``), else :func:`holdout` over its items (images, or whole videos)."""
        fixed = getattr(dataset, "validation_indices", None)
        if fixed:
            val = np.asarray(sorted(fixed), dtype=np.int64)
        else:
            val = holdout(len(dataset), self.cfg.val_fraction, self.cfg.seed,
                          self.holdout_minimum)
        if val.size == 0:
            return dataset, None
        keep = np.setdiff1d(np.arange(len(dataset)), val)
        return self.subset(dataset, keep.tolist()), self.subset(dataset, val.tolist())

    @abstractmethod
    def subset(self, dataset: Any, indices: list[int]) -> Any:
        """The items ``indices`` of a training dataset, as a dataset."""

    @abstractmethod
    def training_set(self, part: Any) -> Dataset:
        """The samples the training loop iterates (images or clips)."""

    @abstractmethod
    def normal_scores(self, model: torch.nn.Module, data: Any,
                      device: torch.device) -> tuple[np.ndarray, dict[str, Any]]:
        """Scores (image or frame) of normal data for the threshold, and any further
        ``thresholds.json`` entries the task derives from the same pass."""

    @abstractmethod
    def evaluate(self, run: Run, model: torch.nn.Module, device: torch.device, data: Path,
                 out: Path, progress: bool = True) -> dict[str, Any]:
        """``mmae test``: metrics of the test split of ``data``; writes into ``out``."""

    @abstractmethod
    def format_metrics(self, metrics: dict[str, Any]) -> str:
        """A plain-text table of this task's ``metrics.json`` (printed by ``mmae test``)."""

    @abstractmethod
    def example_input(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        """A deterministic model input of the run's shape and range."""

    def scored(self, model: torch.nn.Module, dataset: Dataset, device: torch.device,
               batch_size: int | None = None
               ) -> Iterator[tuple[dict[str, Any], torch.Tensor, torch.Tensor]]:
        """Yield ``(batch, maps, scores)`` over a dataset in order: model + post-processing."""
        post = self.post().to(device)
        loader = DataLoader(dataset, batch_size=batch_size or self.cfg.eval_batch_size,
                            shuffle=False, num_workers=0)
        with eval_mode(model):
            for batch in loader:
                _, maps, scores = post.run(model, batch_input(batch).to(device))
                yield batch, maps, scores

    def calibrate(self, run: Run, model: torch.nn.Module, val: Any | None, train: Any,
                  device: torch.device) -> dict[str, Any]:
        """Store the ``normal`` threshold (the run's default) from held-out normal data.

        Scores the validation part, or the training part when there is none (recorded).
        """
        data, split = (val, "validation") if val is not None else (train, "train")
        scores, extra = self.normal_scores(model, data, device)
        entry = {DEFAULT_RULE: normal_threshold(scores, self.cfg.threshold_percentile, split),
                 "default": DEFAULT_RULE, **extra}
        run.save_thresholds(entry)
        return entry

    def store_f1_threshold(self, run: Run, labels: np.ndarray, scores: np.ndarray,
                           data: Path) -> dict[str, Any] | None:
        """Store the ``f1`` threshold (F1-max on labelled test scores) for reference.

        It is never the run's default; ``mmae predict --threshold-rule f1`` uses it. Nothing is
        stored when the labels hold only one class (no F1-max).

        Returns:
            The threshold entry, or None when none was stored.
        """
        y = np.asarray(labels, dtype=np.int64)
        if not 0 < y.sum() < y.size:
            return None
        t = M.threshold_from_validation(y, scores, self.cfg.threshold_percentile).as_dict()
        run.save_thresholds({"f1": {**t, "data": str(data)}})
        return t

    def fit_batches(self, dataset: Dataset, batch_size: int) -> Iterator[torch.Tensor]:
        """The training inputs in order, batched (for models fitted without an optimiser)."""
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
        for batch in loader:
            yield batch_input(batch)

"""TensorBoard event files in the run folder (``RUN/tensorboard/``), under ``logger=tensorboard``.

``train_log.jsonl`` stays the record of a run; this is a view for people who watch runs in
TensorBoard. While a run trains, each epoch's log record goes in as scalars: the loss terms
(``loss/<term>``), the memory diagnostics per scale (``memory/zero_row_fraction/scale<k>``), the
fuser weights (``fuser/weight/scale<k>``), the gradient norms per module group
(``grad_norm/<group>``) and the throughput (``speed/samples_per_s``). ``mmae test`` adds its
metrics (``test/<metric>``, ``test/<defect>/<metric>``) and its pictures (heatmaps) at the step
of the run's last epoch. Needs the ``tensorboard`` extra (``pip install 'mmae[tensorboard]'``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from mmae.errors import ConfigError

TB_DIR = "tensorboard"
LOGGERS = ("none", "jsonl", "tensorboard")
_PREFIX = {"zero_row_fraction": "memory/zero_row_fraction", "fuser_weight": "fuser/weight",
           "grad_norm": "grad_norm", "samples_per_s": "speed/samples_per_s",
           "fit_seconds": "speed/fit_seconds"}


def require_tensorboard() -> None:
    """Raise ConfigError (one line naming the extra) unless TensorBoard can be written.

    Raises:
        ConfigError: the ``tensorboard`` package is not installed.
    """
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("logger=tensorboard needs the tensorboard package: "
                          "pip install 'mmae[tensorboard]'")


def epoch_scalars(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one ``train_log.jsonl`` record, by TensorBoard tag (``epoch`` left out)."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if key == "epoch":
            continue
        tag = _PREFIX.get(key, f"loss/{key}")
        if isinstance(value, (list, tuple)):
            out.update({f"{tag}/scale{k}": float(v) for k, v in enumerate(value)})
        elif isinstance(value, dict):
            out.update({f"{tag}/{g}": float(v) for g, v in value.items()})
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[tag] = float(value)
    return out


def metric_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics of a ``metrics.json``, by tag (``test/...``); None values left out."""
    out: dict[str, float] = {}

    def walk(prefix: str, d: dict[str, Any]) -> None:
        for key, value in d.items():
            if key in ("definitions", "notes", "default_threshold", "image_threshold"):
                continue
            if isinstance(value, dict):
                walk(f"{prefix}/{key}", value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{prefix}/{key}"] = float(value)

    walk("test", metrics)
    return out


class RunLogger:
    """Writes a run's scalars and pictures to ``RUN/tensorboard`` (a SummaryWriter).

    Args:
        run: The run folder.
        writer: A writer with ``add_scalar``, ``add_image``, ``flush`` and ``close`` (default:
            ``torch.utils.tensorboard.SummaryWriter`` on ``run/tensorboard``).

    Raises:
        ConfigError: TensorBoard is not installed (and no writer is given).
    """

    def __init__(self, run: Path, writer: Any = None) -> None:
        if writer is None:
            require_tensorboard()
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(Path(run) / TB_DIR))
        self.writer = writer

    @classmethod
    def open(cls, logger: str, run: Path) -> RunLogger | None:
        """A logger for setting ``logger`` (None unless it is ``tensorboard``)."""
        return cls(run) if logger == "tensorboard" else None

    def log_epoch(self, record: dict[str, Any]) -> None:
        """One training epoch's log record, at step ``record["epoch"]``."""
        step = int(record["epoch"])
        for tag, value in epoch_scalars(record).items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def log_test(self, metrics: dict[str, Any], pictures: dict[str, np.ndarray],
                 step: int) -> None:
        """``mmae test``'s metrics and pictures (``(H, W, C)`` uint8 or float in [0, 1])."""
        for tag, value in metric_scalars(metrics).items():
            self.writer.add_scalar(tag, value, step)
        for tag, img in pictures.items():
            self.writer.add_image(f"test/{tag}", np.asarray(img), step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()

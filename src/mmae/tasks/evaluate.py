"""``mmae test``: score a test split with the run's task; write ``metrics.json``, CSVs, pictures.

``mmae test`` records an F1-max threshold for reference (``thresholds.json`` entry ``f1``) but
never changes the run's default threshold, which ``mmae predict`` uses. Under
``logger=tensorboard`` the metrics and the overview picture (heatmaps) also go to the run's
TensorBoard folder (:mod:`mmae.runs.tensorboard`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmae.config import override_eval_settings
from mmae.runs.run import Run
from mmae.runs.tensorboard import RunLogger, require_tensorboard
from mmae.tasks import get_task


def run_test(run: Path, data: Path | None = None, out: Path | None = None,
             progress: bool = True, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate a trained run; writes into ``out`` (default ``run/test``); returns the metrics.

    ``overrides`` may change evaluation settings only (the ``eval`` section, the device and how
    test data is read).

    Raises:
        RunFolderError: not a run folder, or another process is writing it.
    """
    r = Run(run)
    cfg = override_eval_settings(r.config(), overrides or {})
    model, device = r.load_model(cfg=cfg)
    data = Path(data) if data is not None else Path(cfg.data)
    out = Path(out) if out is not None else r.path / "test"
    if cfg.logger == "tensorboard":
        require_tensorboard()
    task = get_task(cfg).attach(r)
    with r.lock():
        result = task.evaluate(r, model, device, data, out, progress)
        tb = RunLogger.open(cfg.logger, r.path)
        if tb is not None:
            picture = out / task.picture
            pictures = {picture.stem: np.asarray(Image.open(picture).convert("RGB"))
                        } if picture.is_file() else {}
            tb.log_test(result, pictures, cfg.epochs)
            tb.close()
    return result

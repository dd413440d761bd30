"""``mmae test``: score a test split with the run's task; write ``metrics.json``, CSVs, pictures.

``mmae test`` records an F1-max threshold for reference (``thresholds.json`` entry ``f1``) but
never changes the run's default threshold, which ``mmae predict`` uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmae.config import override_eval_settings
from mmae.runs.run import Run
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
    with r.lock():
        return get_task(cfg).attach(r).evaluate(r, model, device, data, out, progress)

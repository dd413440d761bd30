"""``mmae demo``: synthetic data -> train (cpu preset) -> test -> metrics table and a PNG grid."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mmae.config import resolve_config
from mmae.runs import checkpoint as ck
from mmae.tasks import get_task
from mmae.tasks.evaluate import run_test
from mmae.training.train import train


def run_demo(out: Path, video: bool = False, model: str | None = None, seed: int = 0,
             sets: dict[str, Any] | None = None, overwrite: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """Run the whole pipeline on generated data inside ``out``; returns the test metrics."""
    t0 = time.perf_counter()
    out = ck.prepare_out_dir(out, overwrite, what="demo folder")
    if video:
        from mmae.data.synth.video import generate_synthetic_video

        data = Path(generate_synthetic_video(out / "data", seed=seed))
        model = model or "mmae3d"
    else:
        from mmae.data.synth.image import generate_synthetic_images

        data = Path(generate_synthetic_images(out / "data", seed=seed, categories=1)[0])
        model = model or "mmae"
    print(f"[demo] data: {data}")
    cfg = resolve_config(model, "cpu", {"seed": seed, **(sets or {})}, data=str(data))
    run = out / "run"
    run.mkdir()
    train(cfg, run, progress=progress)
    metrics = run_test(run, data, run / "test", progress=progress)
    task = get_task(cfg)
    print(task.format_metrics(metrics))
    pic = run / "test" / task.picture
    print(f"[demo] metrics: {run / 'test' / 'metrics.json'}")
    print(f"[demo] picture: {pic}")
    print(f"[demo] done in {time.perf_counter() - t0:.0f} s")
    return metrics

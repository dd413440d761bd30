"""One benchmark cell: a (model, category, seed) trained and tested in its own folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from mmae.benchmark.plan import BenchmarkPlan
from mmae.benchmark.tables import category_group
from mmae.benchmark.variants import parse_variant
from mmae.config import resolve_config
from mmae.device import pick_device
from mmae.runs import checkpoint as ck
from mmae.tasks import get_task

CELL_DONE = "cell.json"
Key = tuple[str, str, int]  # a cell: (model or variant, category, seed)


def cell_folder(out: Path, model: str, category: str, seed: int) -> Path:
    """``OUT/cells/<category>/<model>/seed<k>``."""
    return Path(out) / "cells" / category / model / f"seed{seed}"


def _cuda_device(setting: str) -> torch.device | None:
    """The CUDA device a ``device`` setting trains on, or None (CPU)."""
    dev = pick_device(setting)
    if dev.type != "cuda":
        return None
    return torch.device("cuda", dev.index if dev.index is not None else torch.cuda.current_device())


def run_cell(plan: BenchmarkPlan, model: str, category: str, cell: Path,
             seed: int | None = None, device: str | None = None) -> dict[str, Any]:
    """Train and test one (model, category, seed) cell in a fresh folder; returns its record
    (metrics, timings, and ``peak_gpu_memory_mb``: the peak of this process's CUDA allocations
    while the cell trained and tested; None on the CPU).

    Args:
        plan: The benchmark.
        model: A model or variant name of ``plan.models``.
        category: A category of ``plan.categories``.
        cell: The cell folder (created; must not exist).
        seed: The ``seed`` run setting; ``None``: the config's.
        device: The ``device`` run setting; ``None``: the config's.
    """
    from mmae.tasks.evaluate import run_test
    from mmae.training.train import train

    folder = plan.categories[category]
    overrides = dict(plan.overrides.get(model, {}))
    if seed is not None:
        overrides["seed"] = seed
    if device is not None:
        overrides["device"] = device
    cfg = resolve_config(parse_variant(model)[0], plan.preset, overrides, data=str(folder))
    run = cell / "run"
    run.mkdir(parents=True)
    gpu = _cuda_device(cfg.device)
    if gpu is not None:
        torch.cuda.reset_peak_memory_stats(gpu)
    t0 = time.perf_counter()
    train(cfg, run, progress=False)
    t1 = time.perf_counter()
    metrics = run_test(run, folder, cell / "test", progress=False)
    t2 = time.perf_counter()
    keys = get_task(cfg).metric_keys
    record = {"model": model, "category": category, "group": category_group(category),
              "data": str(folder), **{k: metrics.get(k) for k in keys},
              "train_seconds": round(t1 - t0, 2), "test_seconds": round(t2 - t1, 2),
              "epochs": cfg.epochs, "seed": cfg.seed,
              "peak_gpu_memory_mb": (None if gpu is None else
                                     round(torch.cuda.max_memory_allocated(gpu) / 2**20, 1))}
    ck.atomic_write_text(cell / CELL_DONE, json.dumps(record, indent=2))
    return record


